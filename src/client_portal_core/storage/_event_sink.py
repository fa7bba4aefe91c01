"""The webhook outbox as an :class:`~client_portal_core.token_store.EventSink`."""

from __future__ import annotations

from collections.abc import Sequence

from ..events import DomainEvent
from ._database import Database

__all__ = ["OutboxEventSink"]


class OutboxEventSink:
    """Publishes events to this portal's webhook outbox, each in one transaction.

    What a token store outside the library's database receives as
    ``event_sink``. Publishing an event that is already in the outbox (same
    :attr:`DomainEvent.id`) adds nothing.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """See :meth:`~client_portal_core.token_store.EventSink.publish`."""
        if not events:
            return
        with self._db.write() as conn:
            self._db.write_events(conn, events, skip_published=True)
