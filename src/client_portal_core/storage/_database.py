"""The database the stores share: connections, transactions and the webhook outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.compiler import SQLCompiler

from ..events import DomainEvent
from ._access_log import log_accesses
from ._tables import Tables

__all__ = ["Database"]


class Database:
    """One engine and the library's tables, shared by every store of a portal.

    Each capability's store (configurations, API tokens, portal tokens,
    invitations, bulk jobs, webhooks) runs its own statements through
    :meth:`read` and :meth:`write`; a change that emits events writes them
    with :meth:`write_events` in its own transaction (transactional outbox).

    :param engine: any SQLAlchemy engine; use
        :func:`~client_portal_core.storage.create_engine_from_url` for SQLite's
        write locking.
    :param tables: the schema, from :func:`~client_portal_core.storage.build_tables`.
    :param first_attempt_delay: how long after its event a webhook delivery
        is first due (the first entry of ``Settings.webhook_retry_schedule``).
    """

    def __init__(
        self, engine: Engine, tables: Tables, *, first_attempt_delay: timedelta = timedelta(0)
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.first_attempt_delay = first_attempt_delay
        self._compiled: dict[sa.Select[Any], SQLCompiler] = {}
        messages, endpoints = tables.webhook_messages, tables.webhook_endpoints
        self._insert_message = sa.insert(messages).returning(messages.c.id)
        self._published = sa.select(messages.c.msg_id).where(
            messages.c.msg_id.in_(sa.bindparam("msg_ids", expanding=True))
        )
        accesses = tables.portal_accesses
        self._logged_accesses = sa.select(accesses.c.event_id).where(
            accesses.c.event_id.in_(sa.bindparam("msg_ids", expanding=True))
        )
        self._insert_delivery = sa.insert(tables.webhook_deliveries)
        self._endpoints_of_tenant = sa.select(endpoints.c.id, endpoints.c.events).where(
            endpoints.c.tenant_id == sa.bindparam("tenant_id"), endpoints.c.enabled.is_(True)
        )

    # -- transactions -------------------------------------------------------

    def fast_first(
        self, statement: sa.Select[Any], params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run a hot read on a pooled DBAPI connection, skipping SQLAlchemy's execution layer.

        Used only for the few single-row lookups on every request (token,
        API token, config). The statement is compiled once per dialect;
        values come back as the driver returns them (the stores convert
        times with :func:`~client_portal_core.storage._records.as_utc`).
        """
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            self._compiled[statement] = compiled
        if compiled.positiontup is not None:
            bound: Any = tuple(params[name] for name in compiled.positiontup)
        else:
            bound = params
        dbapi_connection = self.engine.raw_connection()
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(compiled.string, bound)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            dbapi_connection.close()
        return None if row is None else tuple(row)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads; its transaction is rolled back on exit."""
        with self.engine.connect() as conn:
            yield conn.execution_options(client_portal_read=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(client_portal_write=True)
            with conn.begin():
                yield conn

    # -- webhook outbox -----------------------------------------------------

    def write_events(
        self, conn: Connection, events: Sequence[DomainEvent], *, skip_published: bool = False
    ) -> None:
        """Write each event to the outbox, in ``conn``'s transaction, and log
        the visit of each ``token_accessed`` event (the access log).

        One message per event (its ``msg_id`` is the event's id), one delivery
        per enabled endpoint of the event's tenant subscribed to its type. No
        endpoint, no row.

        :param skip_published: leave out events already written (their message
            or their access-log row exists: an event published again after a
            crash); the stores writing in their own transaction never need it.
        """
        if not events:
            return
        if skip_published:
            ids = {"msg_ids": [e.id for e in events]}
            known = set(conn.execute(self._published, ids).scalars())
            known |= set(conn.execute(self._logged_accesses, ids).scalars())
            events = [event for event in events if event.id not in known]
            if not events:
                return
        log_accesses(conn, self.tables, events)
        endpoints = [
            (row.id, tenant_id, set(json.loads(row.events)))
            for tenant_id in {event.tenant_id for event in events}
            for row in conn.execute(self._endpoints_of_tenant, {"tenant_id": tenant_id})
        ]
        if not endpoints:
            return
        for event in events:
            targets = [
                endpoint_id
                for endpoint_id, tenant_id, subscribed in endpoints
                if tenant_id == event.tenant_id and event.type in subscribed
            ]
            if not targets:
                continue
            payload = json.dumps(
                {"type": event.type, "data": event.data}, sort_keys=True, separators=(",", ":")
            )
            message_id = conn.execute(
                self._insert_message,
                {
                    "msg_id": event.id,
                    "tenant_id": event.tenant_id,
                    "event_type": event.type,
                    "payload": payload,
                    "created_at": event.occurred_at,
                },
            ).scalar_one()
            deliveries = [
                {
                    "message_id": message_id,
                    "endpoint_id": endpoint_id,
                    "tenant_id": event.tenant_id,
                    "status": "pending",
                    "attempt_count": 0,
                    "next_attempt_at": event.occurred_at + self.first_attempt_delay,
                    "created_at": event.occurred_at,
                }
                for endpoint_id in targets
            ]
            # One row is the common case: a plain execute, not an executemany.
            conn.execute(self._insert_delivery, deliveries[0] if len(targets) == 1 else deliveries)
