"""The storage port a plugin can replace: where portal tokens live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from ..events import DomainEvent
from ..tokens import NewPortalToken
from ._records import StoredPortalToken

__all__ = ["EventsFor", "TokenStore"]

#: Builds the outbox events of a change once the stored row is known.
EventsFor = Callable[[StoredPortalToken], Sequence[DomainEvent]]


class TokenStore(Protocol):
    """Where portal tokens live. The default is :class:`SqlTokenStore`.

    A replacement (provided through the ``client_portal_token_store`` hook)
    must keep one current token per subject even under concurrent calls, and
    persist the events it is given atomically with the change they describe.
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

    def set_token_locale(self, token_id: int, locale: str) -> None:
        """Remember the language of the invitation that carries the token.

        Later rows of :meth:`find_token_by_lookup_hash` carry it as
        ``StoredPortalToken.locale``: the portal pages of that link speak it.
        """
        ...
