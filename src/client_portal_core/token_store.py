"""Everything a token store implementer needs, from one module.

A token store plugin implements ``client_portal_token_store`` and returns an
object with the :class:`TokenStore` methods::

    from client_portal_core import hookimpl
    from client_portal_core.token_store import EventSink, StoredPortalToken, TokenStore

    class MyStorePlugin:
        @hookimpl
        def client_portal_token_store(self, settings, event_sink):
            return MyStore(event_sink)

The rules of each method (concurrency, revocation, expiry, what "current"
means, what is atomic with what) are on :class:`TokenStore`; run
``client_portal_core.testing.TokenStoreContract`` against your store to check
them. ``docs/plugins.md`` walks through a whole store.

**Optional abilities.** Operations added to the portal after a store was
written (changing a token's expiry, say) are separate small protocols here,
each checked with ``isinstance(store, Ability)``; a store without one keeps
working and the portal answers that operation with
:class:`~client_portal_core.errors.TokenStoreLacksAbility`. Add an ability to
your store by adding its method; nothing else changes.
"""

from __future__ import annotations

from .errors import TokenStoreLacksAbility
from .events import DomainEvent, new_event_id
from .storage import (
    REQUIRED_TOKEN_STORE_METHODS,
    EventsFor,
    EventSink,
    IsUsable,
    Mint,
    OutboxEventSink,
    SqlTokenStore,
    StoredPortalToken,
    SubjectRevocationStore,
    TokenExpiryStore,
    TokenListingStore,
    TokenLocaleStore,
    TokenRenewalStore,
    TokenStore,
    no_events,
)
from .tokens import NewPortalToken

__all__ = [
    "REQUIRED_TOKEN_STORE_METHODS",
    "DomainEvent",
    "EventSink",
    "EventsFor",
    "IsUsable",
    "Mint",
    "NewPortalToken",
    "OutboxEventSink",
    "SqlTokenStore",
    "StoredPortalToken",
    "SubjectRevocationStore",
    "TokenExpiryStore",
    "TokenListingStore",
    "TokenLocaleStore",
    "TokenRenewalStore",
    "TokenStore",
    "TokenStoreLacksAbility",
    "missing_methods",
    "new_event_id",
    "no_events",
    "require_ability",
]


def missing_methods(store: object) -> list[str]:
    """The :data:`REQUIRED_TOKEN_STORE_METHODS` that ``store`` lacks (not callable)."""
    return [
        name for name in REQUIRED_TOKEN_STORE_METHODS if not callable(getattr(store, name, None))
    ]


def require_ability(store: object, ability: type, operation: str) -> None:
    """Check that ``store`` has an optional ability before ``operation`` uses it.

    :param ability: a ``runtime_checkable`` protocol of this module.
    :param operation: what the caller was doing, for the error (``"set-token-expiry"``).
    :raises TokenStoreLacksAbility: it does not.
    """
    if not isinstance(store, ability):
        raise TokenStoreLacksAbility(operation, type(store).__name__, ability.__name__)
