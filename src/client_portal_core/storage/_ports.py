"""The ports a plugin can replace: where portal tokens live, and where events go.

Public through :mod:`client_portal_core.token_store`, which is the one module
a store implementer imports from; the rules of every method are there and in
``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..events import DomainEvent
from ..tokens import NewPortalToken
from ._records import StoredPortalToken, TokenQuery

__all__ = [
    "REQUIRED_TOKEN_STORE_METHODS",
    "EventSink",
    "EventsFor",
    "IsUsable",
    "Mint",
    "RevocationEventsFor",
    "SubjectRevocationStore",
    "TokenExpiryStore",
    "TokenListingStore",
    "TokenLocaleStore",
    "TokenRenewalStore",
    "TokenStore",
    "no_events",
]

#: Builds the events of a change once the stored row is known (its id, its
#: times). Call it once per change, with the row as stored after the change.
EventsFor = Callable[[StoredPortalToken], Sequence[DomainEvent]]
#: Whether a subject's current token can be handed out again (not revoked,
#: not expired, still unsealable with the portal's keys). Cheap; no I/O.
IsUsable = Callable[[StoredPortalToken], bool]
#: Makes a new token: ``(token, created_at, expires_at)``. Call it only when
#: a new token is really stored (it costs an encryption).
#: Builds the outbox events of a revocation: the revoked rows, and the row
#: minted in their place (``None`` unless regenerating).
RevocationEventsFor = Callable[
    [Sequence[StoredPortalToken], StoredPortalToken | None], Sequence[DomainEvent]
]
Mint = Callable[[], tuple[NewPortalToken, datetime, datetime]]


def no_events(row: StoredPortalToken) -> Sequence[DomainEvent]:
    """An :data:`EventsFor` of a change that emits no event."""
    return ()


@runtime_checkable
class EventSink(Protocol):
    """Where a token store sends the events of its changes: the webhook outbox.

    The portal hands one to the ``client_portal_token_store`` hook
    (``event_sink``). The library's own SQL store writes its events in the
    change's database transaction instead, which a store in another system
    cannot do; such a store publishes here.
    """

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Write ``events`` to the outbox, durably, in one transaction of its own.

        Idempotent per :attr:`DomainEvent.id`: publishing an event again (say
        after a crash, from the store's own list of unpublished events) adds
        nothing, so "publish until it returned" gives exactly one webhook
        message per event. Thread-safe.

        :raises Exception: the outbox's database failed; nothing was written.
        """
        ...


@runtime_checkable
class TokenStore(Protocol):
    """Where portal tokens live. The default is :class:`~client_portal_core.storage.SqlTokenStore`.

    A store keeps rows (:class:`StoredPortalToken`), never usable tokens: the
    core hands it a lookup hash and a sealed (encrypted) copy. Rules every
    implementation keeps (``client_portal_core.testing`` checks them):

    * **ids**: ``id`` is a positive integer, unique in the store, never reused.
    * **current**: each subject (tenant, type, id) has at most one *current*
      token: the one :meth:`get_or_create_token` hands out. Minting a new one
      retires the old (``current=False``); revoking a token retires it too.
      A retired token still verifies until it expires or is revoked.
    * **revocation**: final. ``revoked_at`` is set once and never cleared.
    * **expiry**: ``expires_at`` is decided by the core (``mint``); the store
      never judges validity itself except through ``is_usable``.
    * **tenants**: every method taking a ``tenant_id`` touches only that
      tenant's rows; another tenant's id behaves like an unknown id.
    * **events**: each change's events (``events(row)``) are persisted exactly
      once, atomically with the change: either in the change's own
      transaction, or through the :class:`EventSink` with a durable record of
      what is still unpublished (published again until it succeeds).
    * **threads**: every method is called from many threads (and processes)
      at once.

    Optional abilities added later are separate small protocols in
    :mod:`client_portal_core.token_store`, so a store written today keeps
    working: the core checks for them and says which operation the store lacks.
    """

    def get_token(self, tenant_id: str, token_id: int) -> StoredPortalToken | None:
        """The tenant's token row with this id, current or not, revoked or not; else ``None``."""
        ...

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """The row whose ``lookup_hash`` this is, in any tenant; else ``None``.

        The hot path of every portal visit: one indexed read, no lock, no write.
        """
        ...

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: IsUsable,
        mint: Mint,
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """The subject's current token if ``is_usable``, else a new current one.

        Atomic per subject: however many callers race (threads, processes),
        all get the same row and exactly one of them gets ``created=True``.
        Creating retires the previous current token (if any), stores the new
        one (``current=True``, ``access_count=0``, no access or revocation
        time) and persists ``events(new_row)``, all as one change.

        :return: the row and whether it was created by this call.
        """
        ...

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """Count one access: ``access_count + 1`` and ``last_accessed_at = at``,
        atomically (no lost increments under concurrency), with ``events(row)``
        of the updated row. An unknown id is a no-op without events."""
        ...

    def revoke_token(
        self, tenant_id: str, token_id: int, at: datetime, events: EventsFor = no_events
    ) -> bool:
        """Revoke one of the tenant's tokens (``revoked_at = at``, no longer current),
        with ``events(row)`` of the revoked row.

        :return: False, and no events, when the tenant has no such token or it
            was already revoked.
        """
        ...


#: The methods :class:`TokenStore` requires, checked on the hook's result at start-up.
REQUIRED_TOKEN_STORE_METHODS: tuple[str, ...] = (
    "get_token",
    "find_token_by_lookup_hash",
    "get_or_create_token",
    "record_token_access",
    "revoke_token",
)


@runtime_checkable
class TokenExpiryStore(Protocol):
    """An optional ability of a token store: moving a token's expiry.

    Used by :meth:`~client_portal_core.portal_tokens.PortalTokens.set_expiry`
    (``set-token-expiry``, staff extending a link); a store without it answers
    that operation with :class:`~client_portal_core.errors.TokenStoreLacksAbility`.
    """

    def set_token_expiry(
        self, tenant_id: str, token_id: int, expires_at: datetime
    ) -> StoredPortalToken | None:
        """Move the expiry of one of the tenant's tokens that is not revoked.

        Earlier or later, even into the past; the token string does not
        change. One atomic single-row update. Returns the updated row, or
        ``None`` when the tenant has no such unrevoked token.
        """
        ...


@runtime_checkable
class TokenLocaleStore(Protocol):
    """An optional ability of a token store: remembering a token's language.

    Without it the portal works, but a link's pages do not speak the language
    of the invitation that carried it (a warning is logged once).
    """

    def set_token_locale(self, token_id: int, locale: str) -> None:
        """Remember the language of the invitation that carries the token.

        Later rows of ``find_token_by_lookup_hash`` and ``get_token`` carry it
        as ``StoredPortalToken.locale``: the portal pages of that link speak it.
        """
        ...


@runtime_checkable
class SubjectRevocationStore(Protocol):
    """An optional ability: revoking all of a subject's tokens, optionally minting
    its new current token in the same change (``POST /token/revoke``, and
    ``POST /token`` with ``regenerate``). Must be atomic with
    :meth:`TokenStore.get_or_create_token` for that subject.
    """

    def revoke_subject_tokens(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        at: datetime,
        *,
        mint: Mint | None,
        events: RevocationEventsFor,
    ) -> tuple[list[StoredPortalToken], StoredPortalToken | None]:
        """Revoke every unrevoked token of the subject (valid or expired) at ``at``.

        With ``mint``, create the subject's new current token in the same
        transaction (regeneration): at no moment may the subject have two
        current tokens, nor a revoked one still current. Returns the revoked
        rows (as revoked) and the new row (``None`` without ``mint``).
        """
        ...


@runtime_checkable
class TokenRenewalStore(Protocol):
    """An optional ability: renewing a token before it expires, exactly once
    (``POST /tokens/renew``, ``renew-expiring``, and invitations that reissue
    a link about to expire)."""

    def renew_token(
        self, token_id: int, at: datetime, *, mint: Mint, events: EventsFor
    ) -> StoredPortalToken | None:
        """Claim a current, unrevoked token no renewal has claimed, and mint its successor.

        In one transaction: mark the token renewed at ``at`` (only if it
        still is current, unrevoked and unclaimed: a conditional update, so
        of two concurrent calls, in one process or two, exactly one wins),
        make it non-current (it stays valid until it expires), and create the
        subject's new current token with ``events``. Returns the new row, or
        ``None`` when the claim was lost.
        """
        ...


@runtime_checkable
class TokenListingStore(Protocol):
    """An optional ability: listing tokens by a :class:`TokenQuery` (``GET /tokens``,
    and finding the tokens a renewal run renews)."""

    def list_tokens(self, query: TokenQuery) -> list[StoredPortalToken]:
        """The token rows ``query`` selects, highest id first, at most ``query.limit``."""
        ...
