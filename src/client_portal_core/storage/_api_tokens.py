"""SQL of the library's API tokens (stored as hashes only, with their scopes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from ._database import Database
from ._records import StoredApiToken

__all__ = ["ApiTokenStore"]


class ApiTokenStore:
    """API tokens by tenant; a token is found by its SHA-256 hash.

    Scopes are stored as one space-separated string in canonical order
    (``read invite admin``); see :mod:`client_portal_core.scopes`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        t = db.tables.api_tokens
        self._by_hash = sa.select(t.c.tenant_id, t.c.scopes).where(
            t.c.token_hash == sa.bindparam("token_hash"), t.c.revoked_at.is_(None)
        )

    def add_api_token(
        self,
        tenant_id: str,
        name: str,
        token_hash: str,
        hint: str,
        at: datetime,
        scopes: Sequence[str] = ("read", "invite", "admin"),
    ) -> StoredApiToken:
        """Store a new API token's hash for the tenant, with its scopes."""
        t = self.db.tables.api_tokens
        with self.db.write() as conn:
            new_id = conn.execute(
                sa.insert(t)
                .values(
                    tenant_id=tenant_id,
                    name=name,
                    token_hash=token_hash,
                    hint=hint,
                    created_at=at,
                    scopes=" ".join(scopes),
                )
                .returning(t.c.id)
            ).scalar_one()
        return StoredApiToken(new_id, tenant_id, name, hint, at, None, tuple(scopes))

    def grant_for_api_token_hash(self, token_hash: str) -> tuple[str, tuple[str, ...]] | None:
        """The tenant and scopes of a live API token, by the token's hash."""
        row = self.db.fast_first(self._by_hash, {"token_hash": token_hash})
        return None if row is None else (str(row[0]), tuple(str(row[1]).split()))

    def list_api_tokens(self, tenant_id: str) -> list[StoredApiToken]:
        """The tenant's API tokens, newest first."""
        t = self.db.tables.api_tokens
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(
                    t.c.id,
                    t.c.tenant_id,
                    t.c.name,
                    t.c.hint,
                    t.c.created_at,
                    t.c.revoked_at,
                    t.c.scopes,
                )
                .where(t.c.tenant_id == tenant_id)
                .order_by(t.c.id.desc())
            ).all()
        return [StoredApiToken(*row[:6], tuple(row.scopes.split())) for row in rows]

    def revoke_api_token(self, tenant_id: str, token_id: int, at: datetime) -> bool:
        """Revoke one of the tenant's API tokens; False if none was live."""
        t = self.db.tables.api_tokens
        with self.db.write() as conn:
            return bool(
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == token_id, t.c.tenant_id == tenant_id, t.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                ).rowcount
            )
