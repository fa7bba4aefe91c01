"""Demo data: tenants with contacts and companies, and API tokens to call the portal.

The seed document (printed by ``seed`` and used by ``serve --demo``) is::

    {"tenants": [{"id", "api_token",
                  "contacts": [{"id", "email"}], "companies": [{"id", "email"}]}]}

Each tenant has a contact and a company with an email, and a contact and a
company whose email is null (to show the 400 answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from client_portal_core import ClientPortal

from .db import companies, contacts, tenants

__all__ = ["DEMO_TENANTS", "describe_tenants", "has_tenants", "seed_demo_data"]

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
            for table, people in ((contacts, spec["contacts"]), (companies, spec["companies"])):
                conn.execute(
                    table.insert(),
                    [{"tenant_id": tenant_id, "name": n, "email": e} for n, e in people],
                )
    return describe_tenants(engine, portal, tenant_ids)


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
    rows = conn.execute(
        sa.select(table.c.id, table.c.email).where(table.c.tenant_id == tenant_id).order_by("id")
    )
    return [{"id": row.id, "email": row.email} for row in rows]
