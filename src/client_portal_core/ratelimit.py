"""Per-API-token rate limiting on the ``limits`` library.

The storage is chosen by URI, as in ``limits`` itself: ``memory://`` (the
default, one process only) or ``redis://host:port/db`` (shared by every
process). The window is fixed: ``60/minute`` lets exactly 60 requests of one
API token through per calendar minute, across all processes on one Redis.

When the storage is unreachable the limiter does not answer 500s: it fails
open (lets the request through and logs) or, with ``fail_open=False``,
fails closed with 503. After a failure it does not ask the storage again for
a few seconds (``retry_after_outage``): a Redis that accepts connections but
never answers costs one request its timeout, not every request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string

from .errors import ConfigurationError, PortalError, RateLimited

__all__ = [
    "FailureThrottle",
    "RateLimitDecision",
    "RateLimitUnavailable",
    "RateLimiter",
    "warn_if_memory_storage",
]

logger = logging.getLogger("client_portal_core.ratelimit")

_NAMESPACE = "client-portal"
_REDIS_TIMEOUT_SECONDS = 0.5


class RateLimitUnavailable(PortalError):
    """The rate-limit storage is down and the limiter is set to fail closed."""

    status = 503
    default_message = "Service Unavailable"


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of counting one request.

    :param limit: requests allowed per window.
    :param remaining: requests left in this window after this one.
    :param reset_after: whole seconds until the window resets (set when refused).
    :param allowed: False when the request is over the limit.
    """

    limit: int
    remaining: int
    reset_after: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``."""
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}

    def raise_if_limited(self) -> None:
        """Raise :class:`RateLimited` (429 with ``Retry-After``) when over the limit."""
        if not self.allowed:
            raise RateLimited(retry_after=self.reset_after)


def warn_if_memory_storage(storage_uri: str, workers: int) -> None:
    """Warn when ``memory://`` storage is used by a server with several processes.

    Each process would then keep its own budget, multiplying the real limit.
    """
    if storage_uri.startswith("memory://") and workers > 1:
        message = (
            f"client-portal rate limiting uses memory:// storage with {workers} worker "
            "processes: each process counts separately, so the effective limit is "
            f"{workers} times the configured one. Use redis:// storage."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        logger.warning(message)


def _without_credentials(uri: str) -> str:
    """``uri`` without a user name or password (``redis://:secret@host`` -> ``redis://host``)."""
    scheme, separator, rest = uri.partition("://")
    location, slash, path = rest.partition("/")
    return f"{scheme}{separator}{location.rpartition('@')[2]}{slash}{path}"


class RateLimiter:
    """Counts requests per key (the hash of an API token).

    :param rate: limits notation, e.g. ``"60/minute"``.
    :param storage_uri: ``memory://``, ``redis://...`` or any limits storage URI.
    :param fail_open: what to do when the storage is unreachable.
    :param retry_after_outage: seconds during which, after a storage failure,
        requests get the outage answer at once instead of waiting on the storage.
    :param monotonic: seconds from a monotonic clock, which times the outage
        window (``time.monotonic``; inject one in tests).
    """

    def __init__(
        self,
        rate: str,
        storage_uri: str = "memory://",
        *,
        fail_open: bool = True,
        retry_after_outage: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.item = parse(rate)
        except ValueError as exc:
            raise ConfigurationError(f"invalid rate limit {rate!r}") from exc
        options: dict[str, float | str | bool] = {}
        if storage_uri.startswith(("redis://", "rediss://", "redis+")):
            # A dead Redis must cost milliseconds, not the default minute.
            options = {
                "socket_timeout": _REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": _REDIS_TIMEOUT_SECONDS,
            }
        try:
            storage = storage_from_string(storage_uri, **options)
        except Exception as exc:  # limits raises several types for bad URIs
            raise ConfigurationError(
                f"unusable rate limit storage {storage_uri.split('://')[0]}://: {exc}"
            ) from exc
        if not isinstance(storage, Storage):
            raise ConfigurationError("async+ rate limit storages are not supported; drop 'async+'")
        self.storage: Storage = storage
        self.storage_uri = storage_uri
        self.fail_open = fail_open
        self.retry_after_outage = retry_after_outage
        self.monotonic = monotonic
        self._last_outage_log = 0.0
        # time.monotonic() before which the storage is not asked (after a failure).
        self._skip_storage_until = 0.0
        self._probe_lock = threading.Lock()
        workers = os.environ.get("WEB_CONCURRENCY", "1")
        warn_if_memory_storage(storage_uri, int(workers) if workers.isdigit() else 1)
        if not storage_uri.startswith("memory://"):
            self._warn_if_unreachable()

    def _warn_if_unreachable(self) -> None:
        """One warning at start when a shared storage (Redis) does not answer a ping.

        Without it a dead Redis shows only at the first request; the limiter
        itself copes (fail open or closed) and finds the storage again later.
        """
        try:
            answers = bool(self.storage.check())
        except Exception:  # a storage whose check itself fails is not answering either
            answers = False
        if answers:
            return
        # An outage seen like any other: not asked again for a while (a hung
        # Redis costs this check its timeout, not the first request too).
        self._skip_storage_until = self.monotonic() + self.retry_after_outage
        outcome = (
            "requests go through unlimited until it answers"
            if self.fail_open
            else "API requests are answered 503 until it answers"
        )
        logger.warning(
            "rate limit storage %s is unreachable at start: %s",
            _without_credentials(self.storage_uri),
            outcome,
        )

    def hit(self, key: str, *, item: RateLimitItem | None = None) -> RateLimitDecision:
        """Count one request for ``key`` against ``item`` (default: the API rate).

        Different items count separately, on the same storage.

        :raises RateLimitUnavailable: the storage failed and ``fail_open`` is False.
        """
        item = item or self.item
        limit = item.amount
        storage_key = item.key_for(_NAMESPACE, key)
        if self._skip_storage_until and not self._may_probe():
            return self._outage_decision(limit, None)
        try:
            # One storage round trip per request: the fixed-window counter's
            # new value gives both the decision and the remaining budget. The
            # window's expiry is read only to fill Retry-After on a refusal.
            count = self.storage.incr(storage_key, item.get_expiry())
            self._skip_storage_until = 0.0  # it answers (again)
            reset_after = 0
            if count > limit:
                reset_after = max(1, math.ceil(self.storage.get_expiry(storage_key) - time.time()))
        except Exception as exc:  # storage outage: redis errors, timeouts...
            self._skip_storage_until = self.monotonic() + self.retry_after_outage
            self._log_outage(exc)
            return self._outage_decision(limit, exc)
        return RateLimitDecision(
            limit=limit,
            remaining=max(0, limit - count),
            reset_after=reset_after,
            allowed=count <= limit,
        )

    def claim(self, keys: list[str], expiry_seconds: int) -> bool:
        """True when this call is the first, within ``expiry_seconds``, to count every
        one of ``keys`` (in order; it stops at the first key already counted).

        Shared by every process on the storage, so "once per interval" holds
        across them. Used for the portal's self-service renewal throttle.

        :raises RateLimitUnavailable: the storage failed and ``fail_open`` is False
            (when it fails open, the claim succeeds and the outage is logged).
        """
        try:
            for key in keys:
                if self.storage.incr(f"{_NAMESPACE}/claim/{key}", expiry_seconds) > 1:
                    return False
        except Exception as exc:  # storage outage
            self._log_outage(exc)
            if not self.fail_open:
                raise RateLimitUnavailable() from exc
        return True

    def release(self, keys: list[str]) -> None:
        """Forget claims made by :meth:`claim` (the work they guarded failed)."""
        try:
            for key in keys:
                self.storage.clear(f"{_NAMESPACE}/claim/{key}")
        except Exception as exc:  # storage outage: the claim simply expires
            self._log_outage(exc)

    def peek(self, key: str, *, item: RateLimitItem) -> int:
        """Seconds until ``key`` may go on if it has used up ``item``, else 0.

        Counts nothing. During a storage outage: 0 when failing open.

        :raises RateLimitUnavailable: the storage failed and ``fail_open`` is False.
        """
        storage_key = item.key_for(_NAMESPACE, key)
        if self._skip_storage_until and not self._may_probe():
            self._outage_decision(item.amount, None)
            return 0
        try:
            count = self.storage.get(storage_key)
            self._skip_storage_until = 0.0
            if count < item.amount:
                return 0
            return max(1, math.ceil(self.storage.get_expiry(storage_key) - time.time()))
        except Exception as exc:  # storage outage
            self._skip_storage_until = self.monotonic() + self.retry_after_outage
            self._log_outage(exc)
            self._outage_decision(item.amount, exc)
            return 0

    def _may_probe(self) -> bool:
        """During an outage: True for one caller per ``retry_after_outage`` window,
        who asks the storage again; everyone else gets the outage answer at once."""
        with self._probe_lock:
            now = self.monotonic()
            if now < self._skip_storage_until:
                return False
            self._skip_storage_until = now + self.retry_after_outage
            return True

    def _outage_decision(self, limit: int, exc: Exception | None) -> RateLimitDecision:
        if not self.fail_open:
            raise RateLimitUnavailable() from exc
        return RateLimitDecision(limit=limit, remaining=limit, reset_after=0, allowed=True)

    def reset(self) -> None:
        """Forget every count (for tests and maintenance)."""
        self._skip_storage_until = 0.0
        self.storage.reset()

    def _log_outage(self, exc: Exception) -> None:
        now = self.monotonic()
        if now - self._last_outage_log > 10:
            self._last_outage_log = now
            mode = "letting requests through" if self.fail_open else "answering 503"
            logger.error("rate limit storage unreachable (%s); %s", type(exc).__name__, mode)


class FailureThrottle:
    """Counts failed credentials per client address and says when one is over.

    Only failures are counted (:meth:`failed`); :meth:`retry_after` is asked
    *before* a credential is tried, so a throttled address learns nothing
    from a guess that happens to be right.

    :param limiter: the portal's rate limiter (its storage).
    :param rate: limits notation, e.g. ``"100/minute"``; ``None`` switches it off.
    """

    def __init__(self, limiter: RateLimiter, rate: str | None) -> None:
        self.limiter = limiter
        self.item = None if rate is None else parse(rate)

    @staticmethod
    def _key(address: str) -> str:
        return "failed-credentials:" + address

    def retry_after(self, address: str | None) -> int:
        """Seconds the address must wait before its next credential is tried; 0: go on.

        :raises RateLimitUnavailable: the storage failed and the limiter fails closed.
        """
        if self.item is None or not address:
            return 0
        return self.limiter.peek(self._key(address), item=self.item)

    def failed(self, address: str | None) -> None:
        """Count one failed credential of ``address`` (never raises)."""
        if self.item is None or not address:
            return
        # The request is answered anyway; an outage is logged by the limiter.
        with contextlib.suppress(RateLimitUnavailable):
            self.limiter.hit(self._key(address), item=self.item)
