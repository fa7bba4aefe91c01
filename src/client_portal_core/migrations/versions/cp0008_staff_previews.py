"""Staff previews: preview links, preview sessions, preview rows in the access log.

Revision ID: cp0008
Revises: cp0006
Create Date: 2026-11-27

- ``portal_previews``: one row per staff preview link (``POST /token/preview``),
  keyed by the SHA-256 of the link's random id (never the link).
- ``portal_sessions.preview_id``: set on a preview's sessions (read-only,
  flagged); indexed, so a revocation ends them in one statement.
- ``portal_sessions.token_id`` and ``portal_accesses.token_id`` become
  nullable: a preview of a subject that has no portal token names none.
  Every existing row keeps its token id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0008"
down_revision: str | Sequence[str] | None = "cp0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``portal_previews``; add ``portal_sessions.preview_id``; relax ``token_id``."""
    prefix = migration_table_prefix()
    previews = f"{prefix}portal_previews"
    op.create_table(
        previews,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{previews}")),
        sa.UniqueConstraint("link_hash", name=op.f(f"uq_{previews}_link_hash")),
    )
    op.create_index(op.f(f"ix_{previews}_expires_at"), previews, ["expires_at"], unique=False)
    op.create_index(
        op.f(f"ix_{previews}_tenant_id_subject_type_subject_id"),
        previews,
        ["tenant_id", "subject_type", "subject_id"],
        unique=False,
    )
    sessions = f"{prefix}portal_sessions"
    with op.batch_alter_table(sessions) as batch:
        batch.add_column(sa.Column("preview_id", sa.Integer(), nullable=True))
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=True)
        batch.create_index(op.f(f"ix_{sessions}_preview_id"), ["preview_id"], unique=False)
    with op.batch_alter_table(f"{prefix}portal_accesses") as batch:
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    """Drop the previews, their sessions and access rows without a token, and the column."""
    prefix = migration_table_prefix()
    sessions = f"{prefix}portal_sessions"
    accesses = f"{prefix}portal_accesses"
    # Rows naming no token cannot satisfy NOT NULL again: previews of subjects without one.
    preview_sessions = sa.table(sessions, sa.column("preview_id"))
    op.execute(preview_sessions.delete().where(preview_sessions.c.preview_id.is_not(None)))
    tokenless = sa.table(accesses, sa.column("token_id"))
    op.execute(tokenless.delete().where(tokenless.c.token_id.is_(None)))
    with op.batch_alter_table(accesses) as batch:
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table(sessions) as batch:
        batch.drop_index(op.f(f"ix_{sessions}_preview_id"))
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("preview_id")
    op.drop_table(f"{prefix}portal_previews")
