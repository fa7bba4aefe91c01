"""The storage port a plugin can replace: where portal tokens live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from ..events import DomainEvent
from ..tokens import NewPortalToken
from ._records import StoredPortalToken, TokenQuery

__all__ = ["EventsFor", "Mint", "RevocationEventsFor", "TokenStore"]

#: Builds the outbox events of a change once the stored row is known.
EventsFor = Callable[[StoredPortalToken], Sequence[DomainEvent]]
#: Builds the outbox events of a revocation: the revoked rows, and the row
#: minted in their place (``None`` unless regenerating).
RevocationEventsFor = Callable[
    [Sequence[StoredPortalToken], StoredPortalToken | None], Sequence[DomainEvent]
]
#: Mints a new token: the token, its creation time and its expiry.
Mint = Callable[[], tuple[NewPortalToken, datetime, datetime]]


class TokenStore(Protocol):
    """Where portal tokens live. The default is :class:`SqlTokenStore`.

    A replacement (provided through the ``client_portal_token_store`` hook)
    must keep one current token per subject even under concurrent calls, and
    persist the events it is given atomically with the change they describe.

    *Current* is the token :meth:`get_or_create_token` hands out; a subject
    has at most one. A token that is no longer current (renewed, or
    replaced once it could not be used) still opens the portal by its lookup
    hash until it expires, unless it is revoked. Revoking a token makes it
    non-current too.
    """

    def find_current_token(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> StoredPortalToken | None:
        """The subject's current token row, valid or not, or ``None``."""
        ...

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: Callable[[StoredPortalToken], bool],
        mint: Callable[[], tuple[NewPortalToken, datetime, datetime]],
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """Return the current token if ``is_usable``, else create one atomically.

        ``mint`` returns the new token, its creation time and its expiry.
        Returns the row and whether it was created.
        """
        ...

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """The token row whose id hashes to ``lookup_hash``, in any tenant."""
        ...

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """Count one access of the token and persist ``events`` with it."""
        ...

    def revoke_token(self, tenant_id: str, token_id: int, at: datetime) -> bool:
        """Revoke one token of the tenant; False if there is no such live token."""
        ...

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

    def list_tokens(self, query: TokenQuery) -> list[StoredPortalToken]:
        """The token rows ``query`` selects, highest id first, at most ``query.limit``."""
        ...
