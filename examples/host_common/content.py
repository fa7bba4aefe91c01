"""The host's ``client_portal_portal_items`` plugin: its invoices, proposals and tasks.

The library shows what this returns on each module page of the portal, for
the signed-in client only: every query is scoped to the session's tenant
and subject. Invoices link to the host's own invoice page (see
:mod:`.pages`), which sits under the portal path so the session cookie
reaches it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from client_portal_core import PortalItem, SubjectType, hookimpl

from .db import invoices, proposals, tasks
from .directory import parse_host_id

__all__ = ["HostContent", "invoice_path"]

_TABLES = {"invoices": invoices, "proposals": proposals, "tasks": tasks}


def invoice_path(portal_path: str, invoice_id: int) -> str:
    """Where the host's own page of one invoice is served."""
    return f"{portal_path}/invoices/{invoice_id}"


class HostContent:
    """Implements ``client_portal_portal_items`` over the host's own tables.

    :param engine: the host's database.
    :param portal_path: ``Settings.portal_path`` (the invoice pages live under it).
    """

    def __init__(self, engine: Engine, portal_path: str) -> None:
        self._engine = engine
        self._portal_path = portal_path

    def rows(self, module: str, tenant_id: str, subject_type: str, subject_id: str) -> list[Any]:
        """The subject's rows of one module's table, in the order they are shown."""
        table = _TABLES.get(module)
        tenant, subject = parse_host_id(tenant_id), parse_host_id(subject_id)
        if table is None or tenant is None or subject is None:
            return []
        query = (
            sa.select(table)
            .where(
                table.c.tenant_id == tenant,
                table.c.subject_type == subject_type,
                table.c.subject_id == subject,
            )
            .order_by(table.c.id)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query))

    @hookimpl
    def client_portal_portal_items(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str, module: str
    ) -> list[PortalItem] | None:
        """The signed-in subject's invoices, proposals or tasks; None for other modules."""
        if module not in _TABLES:
            return None
        rows = self.rows(module, tenant_id, subject_type.value, subject_id)
        if module == "invoices":
            return [
                PortalItem(
                    title=row.title,
                    status=row.status,
                    amount=row.amount,
                    currency=row.currency,
                    date=row.due_date,
                    url=invoice_path(self._portal_path, row.id),
                )
                for row in rows
            ]
        if module == "proposals":
            return [
                PortalItem(
                    title=row.title,
                    status=row.status,
                    amount=row.amount,
                    currency=row.currency,
                    date=row.sent_on,
                )
                for row in rows
            ]
        return [PortalItem(title=row.title, status=row.status, date=row.due_date) for row in rows]
