"""Baseline: the library's tables as of 0.1.

Revision ID: cp0001
Revises:
Create Date: 2025-11-24

Every name carries the table prefix (see ``client_portal_core.migrate``).
Frozen: the columns are spelled out here, never taken from ``build_tables``,
so later model changes need a new revision (``scripts/check_migrations.py``
and ``tests/test_migrations.py`` report the drift).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import BRANCH_LABEL, migration_table_prefix

revision: str = "cp0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = (BRANCH_LABEL,)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table of the library."""
    prefix = migration_table_prefix()
    op.create_table(
        f"{prefix}api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f(f"uq_{prefix}api_tokens_token_hash")),
    )
    op.create_index(
        op.f(f"ix_{prefix}api_tokens_tenant_id"), f"{prefix}api_tokens", ["tenant_id"], unique=False
    )
    op.create_table(
        f"{prefix}bulk_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("custom_message", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}bulk_jobs")),
    )
    op.create_index(
        op.f(f"ix_{prefix}bulk_jobs_tenant_id"), f"{prefix}bulk_jobs", ["tenant_id"], unique=False
    )
    op.create_table(
        f"{prefix}configs",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f(f"pk_{prefix}configs")),
    )
    op.create_table(
        f"{prefix}portal_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("lookup_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_accessed_at", sa.DateTime(), nullable=True),
        sa.Column("access_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}portal_tokens")),
        sa.UniqueConstraint("lookup_hash", name=op.f(f"uq_{prefix}portal_tokens_lookup_hash")),
        sa.UniqueConstraint(
            "tenant_id",
            "subject_type",
            "subject_id",
            "current",
            name=op.f(f"uq_{prefix}portal_tokens_tenant_id_subject_type_subject_id_current"),
        ),
    )
    op.create_table(
        f"{prefix}webhook_endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}webhook_endpoints")),
    )
    op.create_index(
        op.f(f"ix_{prefix}webhook_endpoints_tenant_id"),
        f"{prefix}webhook_endpoints",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        f"{prefix}webhook_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("msg_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}webhook_messages")),
        sa.UniqueConstraint("msg_id", name=op.f(f"uq_{prefix}webhook_messages_msg_id")),
    )
    op.create_table(
        f"{prefix}invitations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("portal_token_id", sa.Integer(), nullable=False),
        sa.Column("custom_message", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_token_id"],
            [f"{prefix}portal_tokens.id"],
            name=op.f(f"fk_{prefix}invitations_portal_token_id_{prefix}portal_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}invitations")),
    )
    op.create_index(
        op.f(f"ix_{prefix}invitations_tenant_id_status"),
        f"{prefix}invitations",
        ["tenant_id", "status"],
        unique=False,
    )
    op.create_table(
        f"{prefix}webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            [f"{prefix}webhook_endpoints.id"],
            name=op.f(f"fk_{prefix}webhook_deliveries_endpoint_id_{prefix}webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            [f"{prefix}webhook_messages.id"],
            name=op.f(f"fk_{prefix}webhook_deliveries_message_id_{prefix}webhook_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}webhook_deliveries")),
    )
    op.create_index(
        op.f(f"ix_{prefix}webhook_deliveries_status_next_attempt_at"),
        f"{prefix}webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        f"{prefix}bulk_job_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            [f"{prefix}invitations.id"],
            name=op.f(f"fk_{prefix}bulk_job_items_invitation_id_{prefix}invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            [f"{prefix}bulk_jobs.id"],
            name=op.f(f"fk_{prefix}bulk_job_items_job_id_{prefix}bulk_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}bulk_job_items")),
        sa.UniqueConstraint(
            "job_id",
            "subject_type",
            "subject_id",
            name=op.f(f"uq_{prefix}bulk_job_items_job_id_subject_type_subject_id"),
        ),
    )
    op.create_index(
        op.f(f"ix_{prefix}bulk_job_items_job_id_status"),
        f"{prefix}bulk_job_items",
        ["job_id", "status"],
        unique=False,
    )
    op.create_table(
        f"{prefix}webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_snippet", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            [f"{prefix}webhook_deliveries.id"],
            name=op.f(f"fk_{prefix}webhook_attempts_delivery_id_{prefix}webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{prefix}webhook_attempts")),
    )
    op.create_index(
        op.f(f"ix_{prefix}webhook_attempts_delivery_id"),
        f"{prefix}webhook_attempts",
        ["delivery_id"],
        unique=False,
    )


def downgrade() -> None:
    """Drop every table of the library (indexes and constraints go with them)."""
    prefix = migration_table_prefix()
    op.drop_table(f"{prefix}webhook_attempts")
    op.drop_table(f"{prefix}bulk_job_items")
    op.drop_table(f"{prefix}webhook_deliveries")
    op.drop_table(f"{prefix}invitations")
    op.drop_table(f"{prefix}webhook_messages")
    op.drop_table(f"{prefix}webhook_endpoints")
    op.drop_table(f"{prefix}portal_tokens")
    op.drop_table(f"{prefix}configs")
    op.drop_table(f"{prefix}bulk_jobs")
    op.drop_table(f"{prefix}api_tokens")
