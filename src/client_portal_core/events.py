"""Domain events: what happened, as recorded in the webhook outbox.

An event is written to the outbox in the same database transaction as the
change it describes, then delivered by the webhook worker. Its ``data``
carries ids and timestamps only, never a usable portal or API token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

__all__ = [
    "ALL_EVENT_TYPES",
    "INVITATION_FAILED",
    "INVITATION_SENT",
    "TOKEN_ACCESSED",
    "TOKEN_CREATED",
    "TOKEN_REVOKED",
    "DomainEvent",
    "new_event_id",
]

#: An invitation email was handed to the mail server.
INVITATION_SENT: Final = "client_portal.invitation_sent"
#: A new portal token was created for a contact or company.
TOKEN_CREATED: Final = "client_portal.token_created"
#: A portal token was used to open the portal.
TOKEN_ACCESSED: Final = "client_portal.token_accessed"
#: A portal token was revoked (by hand, or by regenerating the subject's link).
TOKEN_REVOKED: Final = "client_portal.token_revoked"
#: An invitation email could not be sent (status ``failed``; not for
#: ``unknown``, which may have been delivered).
INVITATION_FAILED: Final = "client_portal.invitation_failed"
#: Every event type, in a stable order.
ALL_EVENT_TYPES: Final[tuple[str, ...]] = (
    INVITATION_SENT,
    TOKEN_CREATED,
    TOKEN_ACCESSED,
    TOKEN_REVOKED,
    INVITATION_FAILED,
)


def new_event_id() -> str:
    """A fresh event id: ``msg_`` and 128 random bits in hex (the ``webhook-id``)."""
    return "msg_" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One event for one tenant.

    :param type: one of :data:`ALL_EVENT_TYPES`.
    :param tenant_id: the tenant it belongs to; only that tenant's endpoints receive it.
    :param occurred_at: aware UTC time of the change.
    :param data: JSON-serializable ids and timestamps.
    :param id: unique per event, made when the event is; it becomes the
        webhook message's ``webhook-id``, so publishing one event twice
        (:meth:`~client_portal_core.token_store.EventSink.publish`) delivers it once.
    """

    type: str
    tenant_id: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
