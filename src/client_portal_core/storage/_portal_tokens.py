"""SQL of portal tokens: the default :class:`~client_portal_core.storage.TokenStore`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._database import Database
from ._ports import EventsFor, IsUsable, Mint, no_events
from ._records import TOKEN_FIELDS, StoredPortalToken, token_from_row, token_or_none

__all__ = ["SqlTokenStore"]


class SqlTokenStore:
    """Portal tokens in the library's SQL table: the default token store.

    A plugin's ``client_portal_token_store`` receives it as ``sql_store`` to
    wrap or delegate to.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        tokens = db.tables.portal_tokens
        # Hot-path statements are built once: SQLAlchemy then reuses their
        # cache keys and compiled forms instead of rebuilding them per call.
        self._token_columns = token_columns = [tokens.c[name] for name in TOKEN_FIELDS]
        self._by_lookup_hash = sa.select(*token_columns).where(
            tokens.c.lookup_hash == sa.bindparam("lookup_hash")
        )
        self._by_id = sa.select(*token_columns).where(
            tokens.c.id == sa.bindparam("token_id"),
            tokens.c.tenant_id == sa.bindparam("tenant_id"),
        )
        self._current_by_subject = sa.select(*token_columns).where(
            tokens.c.tenant_id == sa.bindparam("tenant_id"),
            tokens.c.subject_type == sa.bindparam("subject_type"),
            tokens.c.subject_id == sa.bindparam("subject_id"),
            tokens.c.current.is_(True),
        )
        self._current_by_subject_locked = self._current_by_subject.with_for_update()
        self._insert_token = sa.insert(tokens).returning(*token_columns)
        self._record_access = (
            sa.update(tokens)
            .where(tokens.c.id == sa.bindparam("token_id"))
            .values(last_accessed_at=sa.bindparam("at"), access_count=tokens.c.access_count + 1)
            .returning(*token_columns)
        )

    def _find_current(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> StoredPortalToken | None:
        # Unlocked read first: the common case (a valid token) needs no transaction.
        params = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id}
        return token_or_none(self.db.fast_first(self._current_by_subject, params))

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: IsUsable,
        mint: Mint,
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """See :meth:`TokenStore.get_or_create_token`.

        The unique constraint on ``(tenant, subject, current)`` decides races:
        the loser's insert fails, it rolls back and reads the winner's token.
        """
        subject = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id}
        existing = self._find_current(tenant_id, subject_type, subject_id)
        if existing is not None and is_usable(existing):
            return existing, False
        t = self.db.tables.portal_tokens
        for _attempt in range(5):
            try:
                with self.db.write() as conn:
                    locked = conn.execute(self._current_by_subject_locked, subject)
                    current = token_or_none(locked.first())
                    if current is not None:
                        if is_usable(current):
                            return current, False
                        conn.execute(sa.update(t).where(t.c.id == current.id).values(current=None))
                    new, created_at, expires_at = mint()
                    inserted = conn.execute(
                        self._insert_token,
                        {
                            **subject,
                            "lookup_hash": new.lookup_hash,
                            "sealed": new.sealed,
                            "current": True,
                            "created_at": created_at,
                            "expires_at": expires_at,
                            "access_count": 0,
                        },
                    )
                    stored = token_from_row(inserted.one())
                    self.db.write_events(conn, events(stored))
                    return stored, True
            except IntegrityError:
                # Another request created the subject's token first; use it.
                continue
        raise RuntimeError("could not get or create a portal token after 5 attempts")

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """See :meth:`TokenStore.find_token_by_lookup_hash`."""
        return token_or_none(self.db.fast_first(self._by_lookup_hash, {"lookup_hash": lookup_hash}))

    def get_token(self, tenant_id: str, token_id: int) -> StoredPortalToken | None:
        """See :meth:`TokenStore.get_token`."""
        params = {"tenant_id": tenant_id, "token_id": token_id}
        return token_or_none(self.db.fast_first(self._by_id, params))

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """See :meth:`TokenStore.record_token_access`."""
        with self.db.write() as conn:
            updated = token_or_none(
                conn.execute(self._record_access, {"token_id": token_id, "at": at}).first()
            )
            if updated is not None:
                self.db.write_events(conn, events(updated))

    def set_token_locale(self, token_id: int, locale: str) -> None:
        """See :meth:`TokenLocaleStore.set_token_locale`."""
        t = self.db.tables.portal_tokens
        with self.db.write() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == token_id, sa.or_(t.c.locale.is_(None), t.c.locale != locale))
                .values(locale=locale)
            )

    def set_token_expiry(
        self, tenant_id: str, token_id: int, expires_at: datetime
    ) -> StoredPortalToken | None:
        """See :meth:`TokenExpiryStore.set_token_expiry`."""
        t = self.db.tables.portal_tokens
        with self.db.write() as conn:
            row = conn.execute(
                sa.update(t)
                .where(t.c.id == token_id, t.c.tenant_id == tenant_id, t.c.revoked_at.is_(None))
                .values(expires_at=expires_at)
                .returning(*self._token_columns)
            ).first()
        return token_or_none(row)

    def revoke_token(
        self, tenant_id: str, token_id: int, at: datetime, events: EventsFor = no_events
    ) -> bool:
        """See :meth:`TokenStore.revoke_token`."""
        t = self.db.tables.portal_tokens
        with self.db.write() as conn:
            revoked = token_or_none(
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == token_id, t.c.tenant_id == tenant_id, t.c.revoked_at.is_(None))
                    .values(revoked_at=at, current=None)
                    .returning(*self._token_columns)
                ).first()
            )
            if revoked is None:
                return False
            self.db.write_events(conn, events(revoked))
            return True
