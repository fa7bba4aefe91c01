"""The SQLAlchemy engine the library wants: SQLite in WAL mode with write locks up front."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigurationError

__all__ = ["create_engine_from_url"]


def _parsed_url(url: str) -> sa.URL:
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        # Never echo the URL: it may carry the database password.
        problem = "not a SQLAlchemy database URL (like sqlite:///FILE or postgresql+psycopg://...)"
        raise ConfigurationError(
            f"database_url: {problem}", problems={"database_url": problem}
        ) from None


def _create_engine(url: sa.URL, **kwargs: Any) -> Engine:
    """``sa.create_engine``, with an unknown database or a missing driver as a
    :class:`ConfigurationError` (a missing driver's cause stays the ``ImportError``)."""
    try:
        return sa.create_engine(url, **kwargs)
    except sa.exc.NoSuchModuleError:
        problem = f"unknown database {url.drivername!r} (SQLite and PostgreSQL are supported)"
        raise ConfigurationError(
            f"database_url: {problem}", problems={"database_url": problem}
        ) from None
    except ImportError as exc:
        psycopg = exc.name == "psycopg"
        hint = ' (pip install "client-portal-core[postgres]")' if psycopg else ""
        problem = f"the driver of {url.drivername!r} is not installed: {exc}{hint}"
        raise ConfigurationError(
            f"database_url: {problem}", problems={"database_url": problem}
        ) from exc


def create_engine_from_url(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the library: SQLite in WAL mode with write locks up front.

    On SQLite, write transactions start with ``BEGIN IMMEDIATE`` (they take
    the write lock before reading), so two concurrent get-or-creates queue
    instead of failing with "database is locked" half-way through.

    :raises ConfigurationError: ``url`` is not a database URL, names a database
        SQLAlchemy does not know, or one whose driver is not installed.
    """
    parsed = _parsed_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return _create_engine(parsed, **kwargs)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", 30)
    busy_timeout = float(connect_args["timeout"])
    connect_args.setdefault("check_same_thread", False)
    engine = _create_engine(parsed, connect_args=connect_args, **kwargs)
    in_memory = parsed.database in (None, "", ":memory:")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, below, emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            _use_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Reads are single statements and run in SQLite's implicit
        # per-statement transaction; an explicit BEGIN would only cost time.
        # BEGIN goes straight to the driver: it needs none of SQLAlchemy's
        # statement machinery, which would cost more than the statement.
        options = conn.get_execution_options()
        if options.get("client_portal_write", False):
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        elif not options.get("client_portal_read", False):
            conn.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]

    return engine


def _use_wal(cursor: sqlite3.Cursor, timeout: float) -> None:
    """Put the database file in WAL mode, waiting up to ``timeout`` for other connections.

    The mode is stored in the file: on a file already in WAL mode the pragma
    is a no-op that takes no lock. Switching a new file needs the file to
    itself, and SQLite answers "database is locked" at once, without its
    busy timeout, while another process holds any lock: several servers
    starting together on a new file would otherwise fail. So it is retried
    until the deadline.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
