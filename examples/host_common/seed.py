"""Demo data: tenants with contacts and companies, and API tokens to call the portal.

The seed document (printed by ``seed`` and used by ``serve --demo``) is::

    {"tenants": [{"id", "api_token",
                  "contacts": [{"id", "email", "portal_items"}],
                  "companies": [{"id", "email", "portal_items"}]}]}

Each tenant has a contact and a company with an email, and a contact and a
company whose email is null (to show the 400 answer). Every contact and
company has invoices, proposals and tasks; ``portal_items`` is
``{"invoices": [title, ...], "proposals": [...], "tasks": [...]}``: exactly
the titles its portal pages show, and no other subject's (each title names
its subject's id). The first tenant of a run is branded (name, colours, logo).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from client_portal_core import ClientPortal

from .db import companies, contacts, invoices, proposals, tasks, tenants
from .pages import LOGO_PATH

__all__ = [
    "DEMO_BRANDING",
    "DEMO_TENANTS",
    "PORTAL_MODULES",
    "describe_tenants",
    "has_tenants",
    "seed_demo_data",
]

#: What one seed run inserts: per tenant, its contacts and companies (name, email).
DEMO_TENANTS: tuple[dict[str, Any], ...] = (
    {
        "name": "Acme Accounting",
        "contacts": [("Alice Archer", "alice@acme.example.com"), ("Carl Cash", None)],
        "companies": [("Initech Ltd", "billing@initech.example.com"), ("Paper Co", None)],
    },
    {
        "name": "Globex Legal",
        "contacts": [("Grace Gold", "grace@globex.example.com"), ("Hank Hill", None)],
        "companies": [("Umbrella plc", "office@umbrella.example.com"), ("Vandelay", None)],
    },
)

_API_TOKEN_NAME = "demo"

#: The modules whose items the seed inserts (the portal's default modules).
PORTAL_MODULES = ("invoices", "proposals", "tasks")

#: The portal configuration of the first tenant of each seed run.
DEMO_BRANDING: dict[str, Any] = {
    "portal_name": "Acme Accounting Portal",
    "portal_logo": LOGO_PATH,
    "primary_color": "#0F766E",
    "secondary_color": "#115E59",
    "welcome_message": "Here are your invoices, proposals and open tasks with Acme Accounting.",
}

_INVOICES = (("Bookkeeping", "1250.00", "Open"), ("Annual accounts", "3400.50", "Paid"))
_PROPOSALS = (("Payroll service", "980.00", "Awaiting your answer"),)
_TASKS = (("Send your bank statements", "Open"), ("Sign the engagement letter", "Done"))
_START = date(2030, 1, 15)


def has_tenants(engine: Engine) -> bool:
    """True when the host database already holds at least one tenant."""
    with engine.connect() as conn:
        return conn.execute(sa.select(tenants.c.id).limit(1)).first() is not None


def seed_demo_data(engine: Engine, portal: ClientPortal) -> dict[str, Any]:
    """Insert :data:`DEMO_TENANTS` as new tenants and return the seed document.

    Every call adds new tenants (with new ids), so it is safe to run again.
    """
    tenant_ids: list[int] = []
    with engine.begin() as conn:
        for spec in DEMO_TENANTS:
            key = conn.execute(tenants.insert().values(name=spec["name"])).inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its key
            tenant_id = int(key[0])
            tenant_ids.append(tenant_id)
            for kind, table, people in (
                ("contact", contacts, spec["contacts"]),
                ("company", companies, spec["companies"]),
            ):
                for name, email in people:
                    inserted = conn.execute(
                        table.insert().values(tenant_id=tenant_id, name=name, email=email)
                    ).inserted_primary_key
                    assert inserted is not None
                    _seed_items(conn, tenant_id, kind, int(inserted[0]))
    portal.update_config(str(tenant_ids[0]), **DEMO_BRANDING)
    return describe_tenants(engine, portal, tenant_ids)


def _seed_items(conn: Connection, tenant_id: int, kind: str, subject_id: int) -> None:
    """A few invoices, proposals and tasks of one subject; titles name the subject."""
    tag = f"{'C' if kind == 'contact' else 'K'}{subject_id}"
    owner = {"tenant_id": tenant_id, "subject_type": kind, "subject_id": subject_id}
    for n, (what, amount, status) in enumerate(_INVOICES, start=1):
        conn.execute(
            invoices.insert().values(
                **owner,
                number=f"INV-{tag}-{n}",
                title=f"{what} (INV-{tag}-{n})",
                amount=Decimal(amount),
                currency="EUR",
                status=status,
                due_date=_START + timedelta(days=30 * n),
            )
        )
    for n, (what, amount, status) in enumerate(_PROPOSALS, start=1):
        conn.execute(
            proposals.insert().values(
                **owner,
                title=f"{what} (PRO-{tag}-{n})",
                amount=Decimal(amount),
                currency="EUR",
                status=status,
                sent_on=_START,
            )
        )
    for n, (what, status) in enumerate(_TASKS, start=1):
        conn.execute(
            tasks.insert().values(
                **owner,
                title=f"{what} (TSK-{tag}-{n})",
                status=status,
                due_date=_START + timedelta(days=7 * n),
            )
        )


def describe_tenants(
    engine: Engine, portal: ClientPortal, tenant_ids: Sequence[int] | None = None
) -> dict[str, Any]:
    """The seed document for existing tenants, with a NEW API token for each.

    API tokens are stored hashed and cannot be shown twice, so describing
    tenants always mints fresh ones. ``tenant_ids=None`` means the first
    two tenants of the database.
    """
    with engine.connect() as conn:
        if tenant_ids is None:
            query = sa.select(tenants.c.id).order_by(tenants.c.id).limit(len(DEMO_TENANTS))
            tenant_ids = list(conn.execute(query).scalars())
        subjects = {
            tenant_id: (_subjects(conn, contacts, tenant_id), _subjects(conn, companies, tenant_id))
            for tenant_id in tenant_ids
        }
    documents = [
        {
            "id": tenant_id,
            "api_token": portal.create_api_token(str(tenant_id), _API_TOKEN_NAME).token,
            "contacts": tenant_contacts,
            "companies": tenant_companies,
        }
        for tenant_id, (tenant_contacts, tenant_companies) in subjects.items()
    ]
    return {"tenants": documents}


def _subjects(conn: sa.Connection, table: sa.Table, tenant_id: int) -> list[dict[str, Any]]:
    kind = "contact" if table is contacts else "company"
    rows = conn.execute(
        sa.select(table.c.id, table.c.email).where(table.c.tenant_id == tenant_id).order_by("id")
    )
    return [
        {"id": row.id, "email": row.email, "portal_items": _titles(conn, tenant_id, kind, row.id)}
        for row in rows
    ]


def _titles(conn: sa.Connection, tenant_id: int, kind: str, subject_id: int) -> dict[str, Any]:
    """The titles of the subject's items per module, in the order its pages list them."""
    found: dict[str, Any] = {}
    for module, table in zip(PORTAL_MODULES, (invoices, proposals, tasks), strict=True):
        query = (
            sa.select(table.c.title)
            .where(
                table.c.tenant_id == tenant_id,
                table.c.subject_type == kind,
                table.c.subject_id == subject_id,
            )
            .order_by(table.c.id)
        )
        found[module] = list(conn.execute(query).scalars())
    return found
