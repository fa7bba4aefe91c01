"""SQL of portal sessions: one row per signed-in browser, keyed by the hash of its id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ._database import Database
from ._records import StoredSession, as_utc

__all__ = ["SessionStore"]

_FIELDS = (
    "id",
    "id_hash",
    "tenant_id",
    "token_id",
    "subject_type",
    "subject_id",
    "created_at",
    "expires_at",
    "preview_id",
)


class SessionStore:
    """Portal sessions of every tenant.

    A row names the token and subject it was opened for, never the token or
    the session id: the cookie holds the id, the row its SHA-256.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        t = db.tables.portal_sessions
        # Read on every signed-in request: built once, run through fast_first.
        self._by_hash = sa.select(*(t.c[name] for name in _FIELDS)).where(
            t.c.id_hash == sa.bindparam("id_hash")
        )

    def add_session(
        self,
        *,
        id_hash: str,
        tenant_id: str,
        token_id: int | None,
        subject_type: str,
        subject_id: str,
        created_at: datetime,
        expires_at: datetime,
        preview_id: int | None = None,
    ) -> StoredSession:
        """Store a new session (``preview_id``: a staff preview's)."""
        t = self.db.tables.portal_sessions
        values: dict[str, Any] = {
            "id_hash": id_hash,
            "tenant_id": tenant_id,
            "token_id": token_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "created_at": created_at,
            "expires_at": expires_at,
            "preview_id": preview_id,
        }
        with self.db.write() as conn:
            new_id = conn.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one()
        return StoredSession(id=new_id, **values)

    def find_session(self, id_hash: str) -> StoredSession | None:
        """The session whose id hashes to ``id_hash``, expired or not."""
        row = self.db.fast_first(self._by_hash, {"id_hash": id_hash})
        if row is None:
            return None
        values = dict(zip(_FIELDS, row, strict=True))
        values["created_at"] = as_utc(values["created_at"])
        values["expires_at"] = as_utc(values["expires_at"])
        return StoredSession(**values)

    def end_session(self, session_id: int) -> bool:
        """Delete one session; False if it was already gone."""
        t = self.db.tables.portal_sessions
        with self.db.write() as conn:
            return bool(conn.execute(sa.delete(t).where(t.c.id == session_id)).rowcount)

    def end_sessions_of_token(self, tenant_id: str, token_id: int) -> int:
        """Delete every session opened with one of the tenant's tokens; how many."""
        t = self.db.tables.portal_sessions
        with self.db.write() as conn:
            deleted = conn.execute(
                sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.token_id == token_id)
            )
            return int(deleted.rowcount)

    def prune_sessions(self, now: datetime) -> int:
        """Delete the sessions whose maximum age has passed; how many."""
        t = self.db.tables.portal_sessions
        with self.db.write() as conn:
            return int(conn.execute(sa.delete(t).where(t.c.expires_at <= now)).rowcount)
