"""Cursor pagination of every management list, in the manner of Stripe's lists.

A list is newest first (highest id first; ids are never reused). A page
holds at most ``limit`` items and, when more follow, ``next_cursor``: an
opaque string naming the last item of the page, signed with the portal's
keys for one list and one tenant. The next page is every item with a lower
id, so rows added while a client pages (they get higher ids) never shift,
repeat or hide an item of the pages still to come.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "CursorCodec", "InvalidCursor", "Page", "PageRequest"]

#: Items per page when the caller names no ``limit``.
DEFAULT_LIMIT: Final = 50
#: The largest ``limit`` a caller may ask for.
MAX_LIMIT: Final = 100

_Item = TypeVar("_Item")


class InvalidCursor(ValueError):
    """A cursor this list did not hand out (tampered, another list's or tenant's)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page to read: at most ``limit`` items with an id below ``before_id``."""

    limit: int = DEFAULT_LIMIT
    before_id: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[_Item]):
    """One page of a list and the cursor of the next one (``None`` on the last page)."""

    items: list[_Item]
    next_cursor: str | None


class CursorCodec:
    """Signs and reads cursors; each is bound to one list and one tenant.

    :param keys: the portal's secret keys, oldest first (the last one signs).
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = list(keys)

    def _serializer(self, list_name: str, tenant_id: str) -> URLSafeSerializer:
        return URLSafeSerializer(self._keys, salt=f"client-portal-cursor/{list_name}/{tenant_id}")

    def encode(self, list_name: str, tenant_id: str, last_id: int) -> str:
        """The cursor of the page after the item ``last_id``."""
        return str(self._serializer(list_name, tenant_id).dumps(last_id))

    def decode(self, list_name: str, tenant_id: str, cursor: str) -> int:
        """The id a cursor of this list and tenant names.

        :raises InvalidCursor: anything else.
        """
        try:
            last_id = self._serializer(list_name, tenant_id).loads(cursor)
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise InvalidCursor("not a cursor of this list") from exc
        if isinstance(last_id, bool) or not isinstance(last_id, int) or last_id < 1:
            raise InvalidCursor("not a cursor of this list")
        return last_id

    def page(
        self,
        list_name: str,
        tenant_id: str,
        rows: Sequence[_Item],
        limit: int,
        item_id: Callable[[_Item], int],
    ) -> Page[_Item]:
        """The page of ``rows``, read with ``limit + 1`` so it knows whether more follow."""
        items = list(rows[:limit])
        more = len(rows) > limit and items
        cursor = self.encode(list_name, tenant_id, item_id(items[-1])) if more else None
        return Page(items, cursor)
