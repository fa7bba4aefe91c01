"""SQL of the access log (one row per counted visit of a portal link) and of the
activity a client sees of itself (its invitations and visits)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..events import new_event_id
from ._access_log import insert_access
from ._database import Database
from ._records import AccessRecord
from ._tables import UTCDateTime

__all__ = ["AccessStore"]


class AccessStore:
    """The tenants' access logs, and the invitations of one subject."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_access(
        self,
        *,
        tenant_id: str,
        token_id: int | None,
        subject_type: str,
        subject_id: str,
        accessed_at: datetime,
        ip: str | None,
        user_agent: str | None,
        preview: bool,
    ) -> None:
        """Log one access in a transaction of its own (staff previews count no visit)."""
        with self.db.write() as conn:
            insert_access(
                conn,
                self.db.tables,
                event_id=new_event_id(),
                tenant_id=tenant_id,
                token_id=token_id,
                subject_type=subject_type,
                subject_id=subject_id,
                accessed_at=accessed_at,
                ip=ip,
                user_agent=user_agent,
                preview=preview,
            )

    def list_accesses(
        self,
        tenant_id: str,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        preview: bool | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AccessRecord]:
        """The tenant's accesses, newest first (by id, so ``before_id`` pages on).

        :param subject_type: only this kind of subject (with ``subject_id``: one subject).
        :param preview: only previews (True) or only visits (False); both when None.
        :param before_id: only accesses older than this one (the last id of a page).
        """
        t = self.db.tables.portal_accesses
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if subject_type is not None:
            query = query.where(t.c.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(t.c.subject_id == subject_id)
        if preview is not None:
            query = query.where(t.c.preview.is_(preview))
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
        return [_access(row._mapping) for row in rows]

    def invitations_of_subject(
        self, tenant_id: str, subject_type: str, subject_id: str, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """``(status, email, time)`` of the subject's latest invitations, newest first."""
        t = self.db.tables.invitations
        query = (
            sa.select(
                t.c.status,
                t.c.email,
                sa.func.coalesce(t.c.sent_at, t.c.created_at, type_=UTCDateTime),
            )
            .where(
                t.c.tenant_id == tenant_id,
                t.c.subject_type == subject_type,
                t.c.subject_id == subject_id,
            )
            .order_by(t.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [(str(status), str(email), moment) for status, email, moment in rows]


def _access(m: Any) -> AccessRecord:
    return AccessRecord(**{name: m[name] for name in AccessRecord.__slots__})
