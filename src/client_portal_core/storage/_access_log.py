"""Writing the access log: one row per counted visit, from its ``token_accessed`` event.

The log is a projection of the events, written with them in the transaction
that persists them (:meth:`Database.write_events`), so every token store,
the library's or a plugin's, gets it, exactly once per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..events import TOKEN_ACCESSED, DomainEvent
from ._tables import Tables

__all__ = ["insert_access", "log_accesses"]

_IP_LENGTH = 64
_USER_AGENT_LENGTH = 512


def insert_access(
    conn: Connection,
    tables: Tables,
    *,
    tenant_id: str,
    token_id: int | None,
    subject_type: str,
    subject_id: str,
    accessed_at: datetime,
    ip: str | None,
    user_agent: str | None,
    preview: bool = False,
    event_id: str | None = None,
) -> None:
    """Log one access in ``conn``'s transaction."""
    conn.execute(
        sa.insert(tables.portal_accesses).values(
            tenant_id=tenant_id,
            token_id=token_id,
            subject_type=subject_type,
            subject_id=subject_id,
            accessed_at=accessed_at,
            ip=(ip or None) and ip[:_IP_LENGTH],
            user_agent=(user_agent or None) and user_agent[:_USER_AGENT_LENGTH],
            preview=preview,
            event_id=event_id,
        )
    )


def log_accesses(conn: Connection, tables: Tables, events: Sequence[DomainEvent]) -> None:
    """Log the visit of each ``token_accessed`` event among ``events``.

    An event without the token and its subject (one a test made up, say)
    logs nothing: the log records visits, never guesses.
    """
    for event in events:
        data = event.data
        if event.type != TOKEN_ACCESSED or not all(
            data.get(name) is not None for name in ("token_id", "subject_type", "subject_id")
        ):
            continue
        insert_access(
            conn,
            tables,
            tenant_id=event.tenant_id,
            token_id=int(data["token_id"]),
            subject_type=str(data["subject_type"]),
            subject_id=str(data["subject_id"]),
            accessed_at=event.occurred_at,
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            event_id=event.id,
        )
