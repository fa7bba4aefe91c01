"""Storage: the port a plugin can replace, and the library's SQLAlchemy 2.0 stores.

The schema is SQLAlchemy Core, built per table prefix by :func:`build_tables`
so that the library's tables never collide with the host's. One
:class:`Database` (an engine and the tables) is shared by a store per
capability: :class:`ConfigStore`, :class:`ApiTokenStore`,
:class:`SqlTokenStore` (the default :class:`TokenStore`),
:class:`InvitationStore`, :class:`SessionStore` (portal sessions),
:class:`AccessStore` (the access log) and :class:`PreviewStore` (staff preview
links); bulk jobs and webhooks keep their SQL in their own packages. A change
that emits events writes them to the webhook outbox in its own transaction
(:meth:`Database.write_events`).
"""

from __future__ import annotations

from ._accesses import AccessStore
from ._api_tokens import ApiTokenStore
from ._configs import ConfigStore
from ._database import Database
from ._db_clock import db_now
from ._engine import create_engine_from_url
from ._event_sink import OutboxEventSink
from ._invitations import InvitationStore
from ._portal_tokens import SqlTokenStore
from ._ports import (
    REQUIRED_TOKEN_STORE_METHODS,
    EventsFor,
    EventSink,
    IsUsable,
    Mint,
    RevocationEventsFor,
    SubjectRevocationStore,
    TokenExpiryStore,
    TokenListingStore,
    TokenLocaleStore,
    TokenRenewalStore,
    TokenStore,
    no_events,
)
from ._previews import PreviewStore
from ._records import (
    AccessRecord,
    InvitationRecord,
    StoredApiToken,
    StoredPortalToken,
    StoredPreview,
    StoredSession,
    TokenQuery,
)
from ._sessions import SessionStore
from ._tables import Tables, UTCDateTime, build_tables

__all__ = [
    "REQUIRED_TOKEN_STORE_METHODS",
    "AccessRecord",
    "AccessStore",
    "ApiTokenStore",
    "ConfigStore",
    "Database",
    "EventSink",
    "EventsFor",
    "InvitationRecord",
    "InvitationStore",
    "IsUsable",
    "Mint",
    "OutboxEventSink",
    "PreviewStore",
    "RevocationEventsFor",
    "SessionStore",
    "SqlTokenStore",
    "StoredApiToken",
    "StoredPortalToken",
    "StoredPreview",
    "StoredSession",
    "SubjectRevocationStore",
    "Tables",
    "TokenExpiryStore",
    "TokenListingStore",
    "TokenLocaleStore",
    "TokenQuery",
    "TokenRenewalStore",
    "TokenStore",
    "UTCDateTime",
    "build_tables",
    "create_engine_from_url",
    "db_now",
    "no_events",
]
