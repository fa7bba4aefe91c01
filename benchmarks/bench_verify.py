"""Portal token verification through the service API, against a floor and at scale.

* floor: itsdangerous ``loads`` plus one raw ``sqlite3`` primary-key SELECT,
  measured in the same run on the same database file;
* the same verification with its SELECT run through SQLAlchemy's
  ``Connection.execute`` (what the hot reads skip), against the same floor;
* scale: verification with 10,000 and with 1,000,000 tokens in the table.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from client_portal_core import ClientPortal, Settings, SubjectType

from ._util import EveryoneDirectory, Figure, per_call_seconds

KEY = "benchmark-secret-key-0123456789abcdef"
SAMPLE = 500

FLOOR_ROW = "token verification vs itsdangerous+sqlite3 floor"
EXECUTE_ROW = "token verification via Connection.execute vs the floor"


def scale_row(quick: bool) -> str:
    """The name of the scale row, which names its table sizes."""
    small, large = _sizes(quick)
    return f"verification, {large:,} vs {small:,} tokens (slowdown)"


def rows(quick: bool = False) -> list[str]:
    """The row names :func:`run` prints, in order."""
    return [FLOOR_ROW, EXECUTE_ROW, scale_row(quick)]


def _sizes(quick: bool) -> tuple[int, int]:
    return (10_000, 200_000) if quick else (10_000, 1_000_000)


def _portal(path: Path) -> ClientPortal:
    settings = Settings.build(
        secret_key=KEY, database_url=f"sqlite:///{path}", load_entry_points=False
    )
    portal = ClientPortal(settings, plugins=[EveryoneDirectory()])
    portal.create_schema()
    return portal


def _fill(path: Path, portal: ClientPortal, rows: int) -> None:
    """Insert ``rows`` filler tokens straight into SQLite (fast), like real ones."""
    table = portal.tables.portal_tokens.name
    now = datetime.now(UTC).replace(tzinfo=None)
    later = now + timedelta(days=30)
    sealed = portal.codec.mint().sealed  # realistic size; never unsealed here
    with sqlite3.connect(path) as db:
        batch = 50_000
        for start in range(0, rows, batch):
            db.executemany(
                f"INSERT INTO {table} (tenant_id, subject_type, subject_id, lookup_hash, sealed,"
                " current, created_at, expires_at, access_count) VALUES (?,?,?,?,?,?,?,?,0)",
                [
                    (
                        "filler",
                        "contact",
                        str(i),
                        hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                        sealed,
                        1,
                        now,
                        later,
                    )
                    for i in range(start, min(rows, start + batch))
                ],
            )


def _verify_cost(portal: ClientPortal, tokens: list[str], calls: int) -> float:
    return per_call_seconds(lambda i: portal.verify_token(tokens[i % len(tokens)]), calls)


def _issue_sample(portal: ClientPortal) -> list[str]:
    return [
        portal.get_or_create_token("bench", SubjectType.CONTACT, str(i)).token
        for i in range(SAMPLE)
    ]


def _via_connection_execute(portal: ClientPortal) -> None:
    """Make ``portal``'s hot single-row reads go through ``Connection.execute``."""
    db = portal.db

    def first(statement: sa.Select[Any], params: dict[str, Any]) -> tuple[Any, ...] | None:
        with db.engine.connect() as conn:
            row = conn.execute(statement, params).first()
        return None if row is None else tuple(row)

    db.fast_first = first  # type: ignore[method-assign]  # an instance attribute shadows it


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    calls = 5_000 if quick else 20_000
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "verify.db"
        portal = _portal(path)
        tokens = _issue_sample(portal)
        ours = _verify_cost(portal, tokens, calls)

        serializer = URLSafeSerializer(KEY)
        signed = [serializer.dumps(i + 1) for i in range(SAMPLE)]
        raw = sqlite3.connect(path)
        table = portal.tables.portal_tokens.name
        query = f"SELECT * FROM {table} WHERE id = ?"

        def floor_once(i: int) -> None:
            raw.execute(query, (serializer.loads(signed[i % SAMPLE]),)).fetchone()

        floor = per_call_seconds(floor_once, calls)
        raw.close()
        figures.append(
            Figure(
                FLOOR_ROW,
                ours * 1e6,
                floor * 1e6,
                "us",
                floor / ours,
                ">= 0.30",
                floor / ours >= 0.30,
            )
        )

        _via_connection_execute(portal)
        executed = _verify_cost(portal, tokens, calls)
        figures.append(
            Figure(
                EXECUTE_ROW,
                executed * 1e6,
                floor * 1e6,
                "us",
                floor / executed,
                "context",
                None,
                note="what the hot reads' raw DBAPI path (Database.fast_first) saves",
            )
        )

        small_rows, large_rows = _sizes(quick)
        results = {}
        for rows in (small_rows, large_rows):
            scale_path = Path(tmp) / f"scale-{rows}.db"
            scale_portal = _portal(scale_path)
            _fill(scale_path, scale_portal, rows - SAMPLE)
            sample = _issue_sample(scale_portal)
            random.shuffle(sample)
            results[rows] = _verify_cost(scale_portal, sample, calls)
            scale_portal.engine.dispose()
        slowdown = results[large_rows] / results[small_rows]
        figures.append(
            Figure(
                scale_row(quick),
                results[large_rows] * 1e6,
                results[small_rows] * 1e6,
                "us",
                slowdown,
                "<= 1.30",
                slowdown <= 1.30,
            )
        )
        portal.engine.dispose()
    return figures
