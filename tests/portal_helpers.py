"""Helpers of the portal tests: a host items plugin, signing a browser in, forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from client_portal_core import ClientPortal, IssuedPortalToken, PortalItem, SubjectType, hookimpl
from conftest import PORTAL, TENANT_A, TENANT_B, PortalClient

#: The host's items: (tenant, type, id, module) -> items.
ITEMS: dict[tuple[str, str, str, str], list[PortalItem]] = {
    (TENANT_A, "contact", "1", "invoices"): [
        PortalItem(
            "Invoice A-1001",
            status="Open",
            amount=Decimal("1200.50"),
            currency="EUR",
            date=date(2030, 1, 31),
            detail="Website redesign",
            url="https://host.example/invoices/1001",
        ),
        PortalItem("Invoice A-1002", status="Paid", amount="99", currency="EUR"),
    ],
    (TENANT_A, "contact", "1", "proposals"): [PortalItem("Proposal A-P1")],
    (TENANT_A, "contact", "1", "files"): [PortalItem("Contract A.pdf", url="/files/a.pdf")],
    (TENANT_A, "contact", "1", "activity"): [
        PortalItem("Your order shipped", date=date(2029, 12, 30))
    ],
    (TENANT_A, "contact", "c-7f3e", "invoices"): [PortalItem("Invoice of Carol")],
    (TENANT_B, "contact", "3", "invoices"): [PortalItem("Invoice B-3001 secret of B")],
    (TENANT_B, "contact", "shared-1", "invoices"): [PortalItem("Invoice of Sam B")],
    (TENANT_A, "contact", "shared-1", "invoices"): [PortalItem("Invoice of Sam A")],
}


class HostItems:
    """The test host's ``client_portal_portal_items`` plugin over :data:`ITEMS`.

    Set :attr:`broken` to make it raise, :attr:`calls` records every call.
    """

    def __init__(self, items: dict[tuple[str, str, str, str], list[PortalItem]] | None = None):
        self.items = ITEMS if items is None else items
        self.broken = False
        self.calls: list[tuple[str, str, str, str]] = []

    @hookimpl
    def client_portal_portal_items(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str, module: str
    ) -> list[PortalItem] | None:
        self.calls.append((tenant_id, str(subject_type), subject_id, module))
        if self.broken:
            raise RuntimeError("items database password=hunter2")
        return list(self.items.get((tenant_id, str(subject_type), subject_id, module), []))


def sign_in(
    client: PortalClient,
    tenant_id: str = TENANT_A,
    kind: str = "contact",
    subject_id: str = "1",
) -> tuple[PortalClient, IssuedPortalToken]:
    """A browser signed in with a fresh link of the subject (the link opened once)."""
    issued = client.portal.get_or_create_token(tenant_id, kind, subject_id)
    browser = client.browser()
    reply = browser.visit(f"{PORTAL}/{issued.token}")
    assert (reply.status, reply.path) == (200, f"{PORTAL}/"), reply.text
    return browser, issued


def csrf_of(html: str) -> str:
    """The ``csrf_token`` field of the page's sign-out form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no sign-out form on the page"
    return match.group(1)


def form(**fields: str) -> dict[str, Any]:
    """Request options posting ``fields`` as an HTML form."""
    from urllib.parse import urlencode

    return {"body": urlencode(fields), "content_type": "application/x-www-form-urlencoded"}


def sign_out(browser: PortalClient, csrf: str | None) -> Any:
    """POST the sign-out form (``csrf=None``: without its field)."""
    fields = {} if csrf is None else {"csrf_token": csrf}
    return browser.post(f"{PORTAL}/logout", **form(**fields))


def session_rows(portal: ClientPortal) -> list[Any]:
    """Every row of the portal_sessions table."""
    import sqlalchemy as sa

    with portal.engine.connect() as conn:
        return list(conn.execute(sa.select(portal.tables.portal_sessions)).all())


def titles_in(html: str, titles: Iterable[str]) -> set[str]:
    """Which of ``titles`` appear in ``html``."""
    return {title for title in titles if title in html}
