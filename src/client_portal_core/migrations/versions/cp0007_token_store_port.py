"""Invitations no longer point at the SQL tokens table (a token store may live elsewhere).

Revision ID: cp0007
Revises: cp0002
Create Date: 2026-11-25

``invitations.portal_token_id`` names the token in whichever store holds it:
the library's SQL table by default, or a ``client_portal_token_store``
plugin's store (Redis, say), whose ids this table knows nothing about. The
foreign key to ``portal_tokens`` made every invitation of such a store fail.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0007"
down_revision: str | Sequence[str] | None = "cp0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk_name(prefix: str) -> str:
    return f"fk_{prefix}invitations_portal_token_id_{prefix}portal_tokens"


def upgrade() -> None:
    """Drop the foreign key ``invitations.portal_token_id -> portal_tokens.id``."""
    prefix = migration_table_prefix()
    with op.batch_alter_table(f"{prefix}invitations") as batch:
        batch.drop_constraint(op.f(_fk_name(prefix)), type_="foreignkey")


def downgrade() -> None:
    """Restore the foreign key (fails if an invitation names a token not in the table)."""
    prefix = migration_table_prefix()
    with op.batch_alter_table(f"{prefix}invitations") as batch:
        batch.create_foreign_key(
            op.f(_fk_name(prefix)),
            f"{prefix}portal_tokens",
            ["portal_token_id"],
            ["id"],
            ondelete="CASCADE",
        )
