"""Bulk jobs and their items remember which run holds them (``run_id``).

Revision ID: cp0002
Revises: cp0001
Create Date: 2026-11-24

A run writes a fresh random ``run_id`` when it claims its job, and on each
item it claims; its later writes to both are conditional on it, so a run that
was taken over (another process resumed the job) neither sends on nor
overwrites what the run that took over recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0002"
down_revision: str | Sequence[str] | None = "cp0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``bulk_jobs.run_id`` and ``bulk_job_items.run_id``."""
    prefix = migration_table_prefix()
    for table in ("bulk_jobs", "bulk_job_items"):
        op.add_column(f"{prefix}{table}", sa.Column("run_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Drop both ``run_id`` columns."""
    prefix = migration_table_prefix()
    for table in ("bulk_job_items", "bulk_jobs"):
        with op.batch_alter_table(f"{prefix}{table}") as batch:
            batch.drop_column("run_id")
