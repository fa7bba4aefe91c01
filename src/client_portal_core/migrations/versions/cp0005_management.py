"""The management API: API token scopes, renewals, renewal invitations, secret rotation.

Revision ID: cp0005
Revises: cp0004
Create Date: 2026-11-25

- ``api_tokens.scopes``: every existing token keeps all three scopes.
- ``portal_tokens.renewed_at``: a renewal claims a token by setting it (a
  conditional ``UPDATE ... WHERE renewed_at IS NULL``), so each token is
  renewed once; indexed ``expires_at`` for the renewal job's query.
- ``invitations.kind`` (``invitation`` for every existing row) and
  ``invitations.previous_expires_at`` (when a renewal's old link stops).
- ``webhook_endpoints.previous_sealed_secret`` and
  ``previous_secret_expires_at``: the old secret signs too for a grace period.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0005"
down_revision: str | Sequence[str] | None = "cp0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns and the index."""
    prefix = migration_table_prefix()
    op.add_column(
        f"{prefix}api_tokens",
        sa.Column(
            "scopes", sa.String(length=64), server_default="read invite admin", nullable=False
        ),
    )
    op.add_column(f"{prefix}portal_tokens", sa.Column("renewed_at", sa.DateTime(), nullable=True))
    op.create_index(
        op.f(f"ix_{prefix}portal_tokens_expires_at"),
        f"{prefix}portal_tokens",
        ["expires_at"],
        unique=False,
    )
    op.add_column(
        f"{prefix}invitations",
        sa.Column("kind", sa.String(length=16), server_default="invitation", nullable=False),
    )
    op.add_column(
        f"{prefix}invitations", sa.Column("previous_expires_at", sa.DateTime(), nullable=True)
    )
    op.add_column(
        f"{prefix}webhook_endpoints", sa.Column("previous_sealed_secret", sa.Text(), nullable=True)
    )
    op.add_column(
        f"{prefix}webhook_endpoints",
        sa.Column("previous_secret_expires_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    """Drop them again."""
    prefix = migration_table_prefix()
    with op.batch_alter_table(f"{prefix}webhook_endpoints") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_sealed_secret")
    with op.batch_alter_table(f"{prefix}invitations") as batch:
        batch.drop_column("previous_expires_at")
        batch.drop_column("kind")
    op.drop_index(op.f(f"ix_{prefix}portal_tokens_expires_at"), f"{prefix}portal_tokens")
    with op.batch_alter_table(f"{prefix}portal_tokens") as batch:
        batch.drop_column("renewed_at")
    with op.batch_alter_table(f"{prefix}api_tokens") as batch:
        batch.drop_column("scopes")
