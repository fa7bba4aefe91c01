"""The host's own page behind the portal: one invoice of the signed-in client.

Both example hosts serve it at ``{portal_path}/invoices/{id}`` through their
framework's host-side API (a FastAPI dependency, a Flask decorator), which
gives them the signed-in :class:`~client_portal_core.PortalClient` or answers
the portal's own 401 page.
"""

from __future__ import annotations

from html import escape
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from client_portal_core import PortalClient, PortalConfig

from .db import invoices
from .directory import parse_host_id

__all__ = ["LOGO_PATH", "LOGO_SVG", "find_invoice", "invoice_page", "not_found_page"]

#: Where both hosts serve the demo tenant's logo (a portal_logo may be a path).
LOGO_PATH = "/assets/logo.svg"
#: The demo tenant's logo.
LOGO_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="40" height="40">'
    b'<rect width="40" height="40" rx="8" fill="#fff"/>'
    b'<path d="M10 28 20 10l10 18M14 22h12" stroke="#0F766E" stroke-width="4" fill="none"/>'
    b"</svg>"
)


def find_invoice(engine: Engine, client: PortalClient, invoice_id: int) -> Any | None:
    """The invoice if it belongs to the signed-in client (its tenant and subject), else None."""
    tenant, subject = parse_host_id(client.tenant_id), parse_host_id(client.subject_id)
    if tenant is None or subject is None:
        return None
    query = sa.select(invoices).where(
        invoices.c.id == invoice_id,
        invoices.c.tenant_id == tenant,
        invoices.c.subject_type == client.subject_type.value,
        invoices.c.subject_id == subject,
    )
    with engine.connect() as conn:
        return conn.execute(query).first()


#: Shown on the host's pages in a staff preview (PortalClient.preview), as the
#: portal's own pages do: the staff member sees the page read-only.
_PREVIEW_BANNER = (
    '<p class="preview" role="status" data-preview-banner><strong>Staff preview</strong> · '
    "you see this page as your client sees it; nothing can be changed here.</p>"
)


def _page(
    config: PortalConfig, portal_path: str, title: str, body: str, preview: bool = False
) -> str:
    banner = _PREVIEW_BANNER if preview else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} · {escape(config.portal_name)}</title>
<style>
body {{ margin: 0; font-family: system-ui, Arial, sans-serif; background: #f3f5f9; }}
header {{ background: {config.primary_color}; color: #fff; padding: 14px 20px; font-weight: 700; }}
main {{ max-width: 720px; margin: 24px auto; padding: 0 16px; }}
.card {{ background: #fff; border-radius: 10px; padding: 20px;
  border-top: 4px solid {config.secondary_color}; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; }}
dt {{ color: #6b7280; }} dd {{ margin: 0; overflow-wrap: anywhere; }}
.preview {{ background: #fef3c7; color: #78350f; padding: 10px 20px; }}
a {{ color: {config.secondary_color}; }}
</style></head>
<body><header>{escape(config.portal_name)}</header>{banner}
<main><div class="card">{body}</div>
<p><a href="{escape(portal_path)}/invoices">Back to your invoices</a></p></main></body></html>
"""


def invoice_page(config: PortalConfig, portal_path: str, client: PortalClient, invoice: Any) -> str:
    """The invoice's detail page (every value escaped)."""
    body = f"""<h1>{escape(invoice.title)}</h1>
<dl>
<dt>Invoice</dt><dd data-field="number">{escape(invoice.number)}</dd>
<dt>Billed to</dt><dd>{escape(client.recipient.name)}</dd>
<dt>Amount</dt><dd data-field="amount">{invoice.amount:,.2f} {escape(invoice.currency)}</dd>
<dt>Status</dt><dd>{escape(invoice.status)}</dd>
<dt>Due</dt><dd>{invoice.due_date:%d %B %Y}</dd>
</dl>"""
    return _page(config, portal_path, invoice.title, body, preview=client.preview)


def not_found_page(config: PortalConfig, portal_path: str) -> str:
    """The page of an invoice the signed-in client does not have."""
    return _page(config, portal_path, "Not found", "<h1>Invoice not found</h1>")
