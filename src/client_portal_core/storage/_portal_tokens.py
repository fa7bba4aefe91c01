"""SQL of portal tokens: the default :class:`~client_portal_core.storage.TokenStore`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._database import Database
from ._ports import EventsFor, IsUsable, Mint, RevocationEventsFor, no_events
from ._records import TOKEN_FIELDS, StoredPortalToken, TokenQuery, token_from_row, token_or_none

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
                    stored = self._insert_current(conn, subject, mint)
                    self.db.write_events(conn, events(stored))
                    return stored, True
            except IntegrityError:
                # Another request created the subject's token first; use it.
                continue
        raise RuntimeError("could not get or create a portal token after 5 attempts")

    def _insert_current(
        self, conn: sa.Connection, subject: dict[str, str], mint: Mint
    ) -> StoredPortalToken:
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
        return token_from_row(inserted.one())

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

    def revoke_subject_tokens(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        at: datetime,
        *,
        mint: Mint | None,
        events: RevocationEventsFor,
    ) -> tuple[list[StoredPortalToken], StoredPortalToken | None]:
        """See :meth:`SubjectRevocationStore.revoke_subject_tokens`.

        The current row is locked first (as :meth:`get_or_create_token` does),
        so a concurrent get-or-create waits; should one still insert a current
        token first, the unique constraint fails this attempt and it runs
        again, revoking that one too.
        """
        t = self.db.tables.portal_tokens
        subject = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id}
        revoke = (
            sa.update(t)
            .where(
                t.c.tenant_id == tenant_id,
                t.c.subject_type == subject_type,
                t.c.subject_id == subject_id,
                t.c.revoked_at.is_(None),
            )
            .values(revoked_at=at, current=None)
            .returning(*self._token_columns)
        )
        for _attempt in range(5):
            try:
                with self.db.write() as conn:
                    conn.execute(self._current_by_subject_locked, subject)
                    revoked = sorted(
                        (token_from_row(row) for row in conn.execute(revoke)),
                        key=lambda row: row.id,
                    )
                    new = None if mint is None else self._insert_current(conn, subject, mint)
                    self.db.write_events(conn, events(revoked, new))
                    return revoked, new
            except IntegrityError:
                continue
        raise RuntimeError("could not revoke the subject's portal tokens after 5 attempts")

    def renew_token(
        self, token_id: int, at: datetime, *, mint: Mint, events: EventsFor
    ) -> StoredPortalToken | None:
        """See :meth:`TokenRenewalStore.renew_token`.

        The claim is ``UPDATE ... WHERE renewed_at IS NULL``: on PostgreSQL a
        second claimer waits for the first one's row lock, then finds the
        condition false; on SQLite write transactions are serialized
        (``BEGIN IMMEDIATE``).
        """
        t = self.db.tables.portal_tokens
        claim = (
            sa.update(t)
            .where(
                t.c.id == token_id,
                t.c.renewed_at.is_(None),
                t.c.revoked_at.is_(None),
                t.c.current.is_(True),
            )
            .values(renewed_at=at, current=None)
            .returning(*self._token_columns)
        )
        for _attempt in range(5):
            try:
                with self.db.write() as conn:
                    claimed = token_or_none(conn.execute(claim).first())
                    if claimed is None:
                        return None
                    subject = {
                        "tenant_id": claimed.tenant_id,
                        "subject_type": claimed.subject_type,
                        "subject_id": claimed.subject_id,
                    }
                    new = self._insert_current(conn, subject, mint)
                    self.db.write_events(conn, events(new))
                    return new
            except IntegrityError:
                # Only a concurrent insert of a current token can collide, and
                # this attempt's claim was rolled back with it: claim again.
                continue
        raise RuntimeError("could not renew the portal token after 5 attempts")

    def list_tokens(self, query: TokenQuery) -> list[StoredPortalToken]:
        """See :meth:`TokenListingStore.list_tokens`."""
        t = self.db.tables.portal_tokens
        select = sa.select(*self._token_columns)
        if query.tenant_id is not None:
            select = select.where(t.c.tenant_id == query.tenant_id)
        if query.subject_type is not None:
            select = select.where(t.c.subject_type == query.subject_type)
        if query.subject_id is not None:
            select = select.where(t.c.subject_id == query.subject_id)
        if query.status == "revoked":
            select = select.where(t.c.revoked_at.is_not(None))
        elif query.status == "expired":
            select = select.where(t.c.revoked_at.is_(None), t.c.expires_at <= query.now)
        elif query.status == "active":
            select = select.where(t.c.revoked_at.is_(None), t.c.expires_at > query.now)
        if query.expiring_before is not None:
            select = select.where(
                t.c.revoked_at.is_(None),
                t.c.expires_at > query.now,
                t.c.expires_at <= query.expiring_before,
            )
        if query.renewable:
            select = select.where(t.c.current.is_(True), t.c.renewed_at.is_(None))
        if query.before_id is not None:
            select = select.where(t.c.id < query.before_id)
        with self.db.read() as conn:
            rows = conn.execute(select.order_by(t.c.id.desc()).limit(query.limit)).all()
        return [token_from_row(row) for row in rows]
