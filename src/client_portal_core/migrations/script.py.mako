"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Every name carries the table prefix: write ``f"{prefix}table"``, never a
literal ``client_portal_``. Keep the revision frozen: do not import the
library's models (``build_tables``), spell the columns out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
from client_portal_core.migrate import migration_table_prefix

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """${message}"""
    prefix = migration_table_prefix()
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Undo: ${message}"""
    prefix = migration_table_prefix()
    ${downgrades if downgrades else "pass"}
