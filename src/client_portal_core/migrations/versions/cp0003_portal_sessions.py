"""Portal sessions (a signed-in browser) and the access log of portal links.

Revision ID: cp0003
Revises: cp0007
Create Date: 2026-11-26

``portal_sessions`` holds one row per signed-in browser, keyed by the SHA-256
of the random id in its cookie. ``portal_accesses`` holds one row per counted
visit of a portal link (and, later, staff previews). Neither has a foreign key
to ``portal_tokens``: the token store may be a plugin's, so both keep the
token's id and subject and look the token up through the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0003"
down_revision: str | Sequence[str] | None = "cp0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``portal_sessions`` and ``portal_accesses`` with their indexes."""
    prefix = migration_table_prefix()
    sessions = f"{prefix}portal_sessions"
    op.create_table(
        sessions,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{sessions}")),
        sa.UniqueConstraint("id_hash", name=op.f(f"uq_{sessions}_id_hash")),
    )
    op.create_index(op.f(f"ix_{sessions}_expires_at"), sessions, ["expires_at"], unique=False)
    op.create_index(
        op.f(f"ix_{sessions}_tenant_id_token_id"), sessions, ["tenant_id", "token_id"], unique=False
    )
    accesses = f"{prefix}portal_accesses"
    op.create_table(
        accesses,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("accessed_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("preview", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{accesses}")),
        sa.UniqueConstraint("event_id", name=op.f(f"uq_{accesses}_event_id")),
    )
    op.create_index(
        op.f(f"ix_{accesses}_tenant_id_subject_type_subject_id_id"),
        accesses,
        ["tenant_id", "subject_type", "subject_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f(f"ix_{accesses}_tenant_id_id"), accesses, ["tenant_id", "id"], unique=False
    )


def downgrade() -> None:
    """Drop both tables."""
    prefix = migration_table_prefix()
    op.drop_table(f"{prefix}portal_accesses")
    op.drop_table(f"{prefix}portal_sessions")
