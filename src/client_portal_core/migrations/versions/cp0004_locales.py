"""Languages: portal tokens, invitations and bulk jobs remember their ``locale``.

Revision ID: cp0004
Revises: cp0003
Create Date: 2026-12-01

``portal_tokens.locale`` is the language of the invitation that carried the
token (its portal pages speak it); ``invitations.locale`` and
``bulk_jobs.locale`` the language an invitation or a bulk run asked for, so a
retry or a resume sends in it again. ``NULL`` everywhere: the tenant's
language, else the browser's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from client_portal_core.migrate import migration_table_prefix

revision: str = "cp0004"
down_revision: str | Sequence[str] | None = "cp0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("portal_tokens", "invitations", "bulk_jobs")


def upgrade() -> None:
    """Add a nullable ``locale`` to portal tokens, invitations and bulk jobs."""
    prefix = migration_table_prefix()
    for table in _TABLES:
        op.add_column(f"{prefix}{table}", sa.Column("locale", sa.String(length=35), nullable=True))


def downgrade() -> None:
    """Drop the three ``locale`` columns."""
    prefix = migration_table_prefix()
    for table in reversed(_TABLES):
        with op.batch_alter_table(f"{prefix}{table}") as batch:
            batch.drop_column("locale")
