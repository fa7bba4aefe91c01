"""The database's clock, as a SQL expression: one clock for every process.

Leases (webhook deliveries) and takeovers (bulk runs) compare a time written
by one process with the time seen by another. Each process's own clock may be
minutes off; the database's is the same for all of them, so those times are
written and compared in SQL with :func:`db_now`. Everything else keeps the
injectable clock of the portal.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ._tables import UTCDateTime

__all__ = ["db_now"]


class _DatabaseNow(FunctionElement[Any]):
    """The database's current UTC time plus ``offset`` seconds, as stored (naive UTC)."""

    type = UTCDateTime()
    inherit_cache = False  # the offset is part of the SQL text
    name = "client_portal_db_now"

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = float(offset)


def db_now(offset_seconds: float = 0.0) -> sa.ColumnElement[Any]:
    """The database's current time (UTC), ``offset_seconds`` later (or earlier).

    PostgreSQL: ``now()`` (the transaction's start) in UTC; SQLite:
    ``strftime('%Y-%m-%d %H:%M:%f', 'now')``, padded to the six decimals
    SQLAlchemy stores, so stored times and this compare as strings.
    """
    return _DatabaseNow(offset_seconds)


@compiles(_DatabaseNow, "postgresql")
def _postgresql(element: _DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((now() AT TIME ZONE 'UTC') + interval '{element.offset:.6f} seconds')"


@compiles(_DatabaseNow, "sqlite")
def _sqlite(element: _DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    offset = f"{element.offset:+.6f} seconds"
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', '{offset}') || '000')"


@compiles(_DatabaseNow)
def _other(element: _DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    # Other backends: CURRENT_TIMESTAMP, without an offset (no portable interval syntax).
    if element.offset:
        raise NotImplementedError("db_now with an offset needs PostgreSQL or SQLite")
    return "CURRENT_TIMESTAMP"
