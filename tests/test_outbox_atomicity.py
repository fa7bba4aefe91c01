"""A token and its ``token_created`` outbox rows commit together or not at all.

The failure is real, not mocked: the database connection refuses the outbox
write (a SQLAlchemy cursor event raising just before the delivery row's
``INSERT`` reaches the driver), after the token and the message were written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal
from webhook_support import *  # noqa: F403
from webhook_support import PortalMaker, Receiver


class OutboxRefused(Exception):
    """The injected failure: the database connection refused an outbox row."""


class RefusingOutbox:
    """A portal with one endpoint whose connection refuses delivery rows while armed."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self.armed = True
        self._insert = f"INSERT INTO {portal.tables.webhook_deliveries.name.upper()}"

    def before_cursor_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.armed and statement.lstrip().upper().startswith(self._insert):
            raise OutboxRefused(statement)

    def count(self, table: sa.Table) -> int:
        with self.portal.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def refusing(wh: PortalMaker, receiver: Receiver) -> Iterator[RefusingOutbox]:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    outbox = RefusingOutbox(portal)
    sa.event.listen(portal.engine, "before_cursor_execute", outbox.before_cursor_execute)
    try:
        yield outbox
    finally:
        sa.event.remove(portal.engine, "before_cursor_execute", outbox.before_cursor_execute)


def test_a_failed_outbox_write_leaves_no_token_and_no_event(refusing: RefusingOutbox) -> None:
    with pytest.raises(OutboxRefused):
        refusing.portal.get_or_create_token("t1", "contact", "1")

    tables = refusing.portal.tables
    assert refusing.count(tables.portal_tokens) == 0
    assert refusing.count(tables.webhook_messages) == 0
    assert refusing.count(tables.webhook_deliveries) == 0


def test_after_a_failed_outbox_write_the_retry_writes_one_token_and_one_event(
    refusing: RefusingOutbox,
) -> None:
    with pytest.raises(OutboxRefused):
        refusing.portal.get_or_create_token("t1", "contact", "1")
    refusing.armed = False

    issued = refusing.portal.get_or_create_token("t1", "contact", "1")

    assert issued.created
    tables = refusing.portal.tables
    assert refusing.count(tables.portal_tokens) == 1
    assert refusing.count(tables.webhook_messages) == 1
    assert refusing.count(tables.webhook_deliveries) == 1
