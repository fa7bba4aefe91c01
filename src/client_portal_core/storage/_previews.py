"""SQL of staff preview links: one row per link, keyed by the hash of its random id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ._database import Database
from ._records import StoredPreview, as_utc, as_utc_or_none

__all__ = ["PreviewStore"]

_FIELDS = (
    "id",
    "tenant_id",
    "subject_type",
    "subject_id",
    "token_id",
    "created_at",
    "expires_at",
    "ended_at",
)


def _preview(row: Any) -> StoredPreview:
    values = dict(zip(_FIELDS, row, strict=True))
    values["created_at"] = as_utc(values["created_at"])
    values["expires_at"] = as_utc(values["expires_at"])
    values["ended_at"] = as_utc_or_none(values["ended_at"])
    return StoredPreview(**values)


class PreviewStore:
    """Staff preview links of every tenant, and ending them with their sessions.

    A row holds the SHA-256 of the link's random id, never the link.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        t = db.tables.portal_previews
        columns = [t.c[name] for name in _FIELDS]
        # Read on every request of a preview session: built once, run through fast_first.
        self._by_id = sa.select(*columns).where(t.c.id == sa.bindparam("preview_id"))
        self._by_hash = sa.select(*columns).where(t.c.link_hash == sa.bindparam("link_hash"))

    def add_preview(
        self,
        *,
        link_hash: str,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        token_id: int | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> StoredPreview:
        """Store a new preview link."""
        t = self.db.tables.portal_previews
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "token_id": token_id,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        with self.db.write() as conn:
            new_id = conn.execute(
                sa.insert(t).values(link_hash=link_hash, **values).returning(t.c.id)
            ).scalar_one()
        return StoredPreview(id=new_id, ended_at=None, **values)

    def find_by_link_hash(self, link_hash: str) -> StoredPreview | None:
        """The preview whose link's id hashes to ``link_hash``, in any state."""
        row = self.db.fast_first(self._by_hash, {"link_hash": link_hash})
        return None if row is None else _preview(row)

    def get_preview(self, preview_id: int) -> StoredPreview | None:
        """One preview by id, in any state."""
        row = self.db.fast_first(self._by_id, {"preview_id": preview_id})
        return None if row is None else _preview(row)

    def end_subject_previews(
        self, tenant_id: str, subject_type: str, subject_id: str, at: datetime
    ) -> int:
        """End every unexpired preview of a subject and delete their sessions, in
        one transaction; how many previews ended."""
        t = self.db.tables.portal_previews
        sessions = self.db.tables.portal_sessions
        of_subject = sa.and_(
            t.c.tenant_id == tenant_id,
            t.c.subject_type == subject_type,
            t.c.subject_id == subject_id,
        )
        with self.db.write() as conn:
            ended = conn.execute(
                sa.update(t)
                .where(of_subject, t.c.ended_at.is_(None), t.c.expires_at > at)
                .values(ended_at=at)
            ).rowcount
            conn.execute(
                sa.delete(sessions).where(
                    sessions.c.preview_id.in_(sa.select(t.c.id).where(of_subject))
                )
            )
        return int(ended)

    def prune_previews(self, now: datetime) -> int:
        """Delete the previews whose link has expired (their sessions ended with
        them, see :meth:`SessionStore.prune_sessions`); how many."""
        t = self.db.tables.portal_previews
        with self.db.write() as conn:
            return int(conn.execute(sa.delete(t).where(t.c.expires_at <= now)).rowcount)
