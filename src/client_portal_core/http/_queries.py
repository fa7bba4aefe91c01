"""Reading query strings: each parameter parsed once, every problem a 422 per parameter."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import ValidationFailed
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT
from ..schemas import SubjectType
from ..validation import check_subject_id
from ._messages import ApiRequest

__all__ = ["QueryReader"]

_Value = TypeVar("_Value")


class QueryReader:
    """The query parameters of one request, read by name.

    Each read returns ``None`` (or the default) for a missing parameter and
    remembers a problem instead of raising; :meth:`done` raises them all at
    once as a 422, together with parameters nobody read (unknown names).

    :param request: the request whose query string to read.
    """

    def __init__(self, request: ApiRequest) -> None:
        self._values = request.query()
        self._read: set[str] = set()
        self.errors: dict[str, list[str]] = {}

    def _one(self, name: str) -> str | None:
        self._read.add(name)
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) > 1:
            self.errors.setdefault(name, []).append("must be given at most once")
            return None
        return values[0]

    def _parsed(self, name: str, parse: Callable[[str], _Value]) -> _Value | None:
        raw = self._one(name)
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            self.errors.setdefault(name, []).append(str(exc))
            return None

    def text(self, name: str) -> str | None:
        """A string parameter, as given."""
        return self._one(name)

    def choice(self, name: str, choices: Iterable[str]) -> str | None:
        """One of ``choices``."""
        allowed = tuple(choices)

        def parse(raw: str) -> str:
            if raw not in allowed:
                raise ValueError(f"must be one of {', '.join(allowed)}")
            return raw

        return self._parsed(name, parse)

    def integer(self, name: str, low: int, high: int) -> int | None:
        """A whole number from ``low`` to ``high`` (ASCII digits)."""

        def parse(raw: str) -> int:
            if not (raw.isascii() and raw.isdecimal()) or not low <= int(raw) <= high:
                raise ValueError(f"must be a whole number from {low} to {high}")
            return int(raw)

        return self._parsed(name, parse)

    def subject_type(self) -> str | None:
        """``type``: ``contact`` or ``company``."""
        return self.choice("type", [kind.value for kind in SubjectType])

    def subject_id(self) -> str | None:
        """``id``: a host id, exactly as sent (see :mod:`client_portal_core.validation`)."""
        return self._parsed("id", check_subject_id)

    def limit(self) -> int:
        """``limit``: 1..100, default 50."""
        return self.integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT

    def cursor(self) -> str | None:
        """``cursor``: the previous page's ``next_cursor`` (checked by the list)."""
        return self._one("cursor")

    def done(self) -> None:
        """Raise every problem, and every parameter no read asked for, as one 422.

        :raises ValidationFailed: there was at least one.
        """
        for name in self._values:
            if name not in self._read:
                self.errors.setdefault(name, []).append("unknown query parameter")
        if self.errors:
            raise ValidationFailed(self.errors)
