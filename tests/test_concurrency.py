"""Racing get-or-create never makes two current tokens for one subject (the database decides)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal, IssuedPortalToken, token_created
from conftest import TENANT_A, FakeClock

THREADS = 8


def race(portal: ClientPortal, subject: Any) -> list[IssuedPortalToken]:
    """Call get_or_create_token from THREADS threads released at the same instant."""
    barrier = threading.Barrier(THREADS)

    def one(_: int) -> IssuedPortalToken:
        barrier.wait(timeout=30)
        return portal.get_or_create_token(TENANT_A, "contact", subject)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def token_rows(portal: ClientPortal) -> list[Any]:
    table = portal.tables.portal_tokens
    with portal.engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def test_racing_get_or_create_makes_exactly_one_current_token(
    make_portal: Any,
) -> None:
    portal = make_portal()
    created: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        created.append(kwargs)

    token_created.connect(receiver, sender=portal, weak=False)
    try:
        results = race(portal, 1)
    finally:
        token_created.disconnect(receiver, sender=portal)

    assert len({issued.token for issued in results}) == 1
    assert len({issued.expires_at for issued in results}) == 1
    assert sum(issued.created for issued in results) == 1
    rows = token_rows(portal)
    assert len(rows) == 1
    assert rows[0].current is True
    assert len(created) == 1


def test_racing_after_expiry_replaces_the_token_exactly_once(
    make_portal: Any, clock: FakeClock
) -> None:
    portal = make_portal()
    first = portal.get_or_create_token(TENANT_A, "contact", "c-7f3e")
    clock.advance(days=30, seconds=1)

    results = race(portal, "c-7f3e")

    tokens = {issued.token for issued in results}
    assert len(tokens) == 1
    assert first.token not in tokens
    assert sum(issued.created for issued in results) == 1
    rows = token_rows(portal)
    assert len(rows) == 2
    assert [bool(row.current) for row in rows] == [False, True]


def test_racing_portals_on_one_database_agree(make_portal: Any) -> None:
    # Two ClientPortal objects (two app processes' worth of engines) on one database.
    portals = [make_portal(), make_portal(create_schema=False)]
    barrier = threading.Barrier(THREADS)

    def one(index: int) -> str:
        barrier.wait(timeout=30)
        return portals[index % 2].get_or_create_token(TENANT_A, "company", 10).token

    with ThreadPoolExecutor(THREADS) as pool:
        tokens = set(pool.map(one, range(THREADS)))

    assert len(tokens) == 1
    assert len(token_rows(portals[0])) == 1


def test_database_refuses_a_second_current_token(make_portal: Any) -> None:
    portal = make_portal()
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    table = portal.tables.portal_tokens
    with portal.engine.connect() as conn:
        row = dict(conn.execute(sa.select(table)).one()._mapping)
    row.pop("id")
    row.update(lookup_hash="f" * 64)

    with pytest.raises(sa.exc.IntegrityError), portal.engine.begin() as conn:
        conn.execute(sa.insert(table).values(**row))
    assert portal.get_or_create_token(TENANT_A, "contact", 1).token == issued.token
