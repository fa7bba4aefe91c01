"""SQL of invitation records: one row per email, from ``pending`` to its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..events import DomainEvent
from ._database import Database
from ._records import InvitationRecord

__all__ = ["InvitationStore"]


class InvitationStore:
    """Invitation records of every tenant."""

    def __init__(self, db: Database) -> None:
        self.db = db
        inv = db.tables.invitations
        # Run on every invitation: built once, with bind parameters.
        self._insert_invitation = sa.insert(inv).returning(inv.c.id)
        self._finish_invitation = {
            sent: sa.update(inv)
            .where(inv.c.id == sa.bindparam("invitation_id"))
            .values(
                status=sa.bindparam("new_status"),
                error=sa.bindparam("new_error"),
                updated_at=sa.bindparam("at"),
                attempts=inv.c.attempts + 1,
                **({"sent_at": sa.bindparam("at")} if sent else {}),
            )
            .returning(*inv.c)
            for sent in (True, False)
        }

    @staticmethod
    def _invitation_from_row(row: sa.Row[Any]) -> InvitationRecord:
        m = row._mapping
        return InvitationRecord(**{name: m[name] for name in InvitationRecord.__slots__})

    def add_invitation(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        email: str,
        portal_token_id: int,
        custom_message: str | None,
        at: datetime,
        locale: str | None = None,
        *,
        kind: str = "invitation",
        previous_expires_at: datetime | None = None,
    ) -> InvitationRecord:
        """Record an invitation (or a ``renewal``) as ``pending`` before the mail is
        sent (``locale``: the language asked for, ``None`` for the tenant's)."""
        values = {
            "tenant_id": tenant_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "email": email,
            "portal_token_id": portal_token_id,
            "custom_message": custom_message,
            "status": "pending",
            "error": None,
            "attempts": 0,
            "created_at": at,
            "updated_at": at,
            "sent_at": None,
            "locale": locale,
            "kind": kind,
            "previous_expires_at": previous_expires_at,
        }
        with self.db.write() as conn:
            new_id = conn.execute(self._insert_invitation, values).scalar_one()
        return InvitationRecord(id=new_id, **values)  # type: ignore[arg-type]

    def finish_invitation(
        self,
        invitation_id: int,
        *,
        at: datetime,
        error: str | None,
        events: Sequence[DomainEvent] = (),
        uncertain: bool = False,
    ) -> InvitationRecord:
        """Mark an invitation sent (``error`` None), failed, or ``unknown``
        (``uncertain``: it may have been delivered), with ``events``."""
        failed = "unknown" if uncertain else "failed"
        params = {
            "invitation_id": invitation_id,
            "new_status": "sent" if error is None else failed,
            "new_error": error,
            "at": at,
        }
        with self.db.write() as conn:
            row = conn.execute(self._finish_invitation[error is None], params).one()
            self.db.write_events(conn, events)
        return self._invitation_from_row(row)

    def get_invitation(self, tenant_id: str, invitation_id: int) -> InvitationRecord | None:
        """One of the tenant's invitations."""
        t = self.db.tables.invitations
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.id == invitation_id, t.c.tenant_id == tenant_id)
            ).first()
        return None if row is None else self._invitation_from_row(row)

    def list_invitations(
        self,
        tenant_id: str,
        status: str | None = None,
        limit: int = 100,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        before_id: int | None = None,
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first, optionally of one status or
        subject, and only ids below ``before_id`` (the previous page's cursor)."""
        t = self.db.tables.invitations
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        if subject_type is not None:
            query = query.where(t.c.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(t.c.subject_id == subject_id)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
        return [self._invitation_from_row(row) for row in rows]
