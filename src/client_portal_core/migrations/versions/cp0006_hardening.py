"""Seal status of stored secrets and tokens; fingerprints of the keys in use.

Revision ID: cp0006
Revises: cp0005
Create Date: 2026-12-01

``webhook_endpoints`` and ``portal_tokens`` get ``seal_status`` and
``seal_error``: ``unsealable`` and why, once no listed key opens what is
stored, so an endpoint or a token that can no longer be used is visible
instead of failing silently. ``key_fingerprints`` keeps an HMAC of a constant
per signing key a process used, so a command run with another key (the
example hosts' demo key, say) can warn that it is not this database's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0006"
down_revision: str | Sequence[str] | None = "cp0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the seal columns and the ``key_fingerprints`` table."""
    prefix = migration_table_prefix()
    for table in ("webhook_endpoints", "portal_tokens"):
        op.add_column(
            f"{prefix}{table}", sa.Column("seal_status", sa.String(length=16), nullable=True)
        )
        op.add_column(
            f"{prefix}{table}", sa.Column("seal_error", sa.String(length=200), nullable=True)
        )
    op.create_table(
        f"{prefix}key_fingerprints",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f(f"pk_{prefix}key_fingerprints")),
    )


def downgrade() -> None:
    """Drop the table and the seal columns."""
    prefix = migration_table_prefix()
    op.drop_table(f"{prefix}key_fingerprints")
    for table in ("portal_tokens", "webhook_endpoints"):
        with op.batch_alter_table(f"{prefix}{table}") as batch:
            batch.drop_column("seal_error")
            batch.drop_column("seal_status")
