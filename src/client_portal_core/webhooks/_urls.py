"""The SSRF guard: webhook URLs must reach the public internet.

A tenant chooses its endpoint URL, and the worker POSTs to it from inside the
host's network; without a guard that is a way to reach the host's databases,
admin interfaces or the cloud metadata service. URLs are checked when an
endpoint is added, and every connection of the worker checks the addresses
the host name resolves to *at that moment* and connects to the checked
address itself, so a DNS answer that changes in between cannot slip through.

The same network layer enforces the deadline of a whole attempt: httpx's
timeout bounds each socket operation only, so a receiver dripping one byte at
a time could hold an attempt open forever (past its lease, letting a second
worker send the same attempt). Inside :func:`attempt_deadline` every connect,
TLS handshake, read and write waits at most until the deadline, and fails with
a timeout once it has passed.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final
from urllib.parse import urlsplit

import httpcore
import httpx

from ..validation import WEBHOOK_URL_PATTERN

__all__ = [
    "InvalidWebhookEndpoint",
    "UnsafeWebhookUrl",
    "attempt_deadline",
    "build_http_client",
    "check_webhook_url",
    "describe_unsafe_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

logger = logging.getLogger("client_portal_core.webhooks")

_MAX_URL_LENGTH = 2048
_URL = re.compile(WEBHOOK_URL_PATTERN)
#: Cloud metadata services that are not already private or link-local.
_METADATA: Final = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


class InvalidWebhookEndpoint(ValueError):
    """A webhook endpoint was refused: bad URL or unknown event type."""


class InvalidWebhookEvents(InvalidWebhookEndpoint):
    """A webhook endpoint was refused for its event types (unknown, or none)."""


class UnsafeWebhookUrl(InvalidWebhookEndpoint):
    """The URL resolves to an address the worker must not call (SSRF guard).

    The message names the host and the kind of address, never the address
    itself: which internal address a name resolves to is the host network's
    business, so it goes to the log (and :attr:`detail`), not to the caller.

    :param refusal: what is refused, fit for any caller (an HTTP answer too).
    :param detail: the full story for the log (which address, why).
    :param private: True when the URL is refused for a non-public address (so
        allowing private URLs would let it through); False when its host
        cannot be resolved at all.
    """

    #: How a Python caller lifts the guard; a command line names its own option instead.
    remedy: Final = "set webhook_allow_private_urls=True only for local development"

    def __init__(self, refusal: str, *, detail: str, private: bool = True) -> None:
        self.refusal = refusal
        self.detail = detail
        self.private = private
        super().__init__(f"{refusal}; {self.remedy}" if private else refusal)

    def with_remedy(self, remedy: str) -> str:
        """The refusal with ``remedy`` (e.g. a command-line option) instead of the setting."""
        return f"{self.refusal}; {remedy}" if self.private else self.refusal


def describe_unsafe_address(address: IPAddress) -> str | None:
    """Why ``address`` is refused (``"loopback"``, ``"private"``...), ``None`` if public."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo) are
        # judged by the IPv4 address they reach.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            address = embedded
    if address == ipaddress.ip_address("169.254.169.254") or address in _METADATA:
        return "cloud metadata"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((name for name, refused in checks if refused), None)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        refusal = f"cannot resolve the webhook host {host!r}"
        raise UnsafeWebhookUrl(refusal, detail=f"{refusal}: {exc}", private=False) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _refuse_unsafe(host: str, addresses: list[IPAddress]) -> None:
    for address in addresses:
        reason = describe_unsafe_address(address)
        if reason is not None:
            detail = f"webhook host {host!r} resolves to {address}, a {reason} address"
            raise UnsafeWebhookUrl(
                f"webhook host {host!r} resolves to a {reason} address, not a public one",
                detail=detail,
            )


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Validate an endpoint URL and return it.

    :raises InvalidWebhookEndpoint: not an absolute http(s) URL with a host, or it
        carries a user name or password.
    :raises UnsafeWebhookUrl: it resolves to a loopback, private, link-local,
        multicast, reserved or metadata address (unless ``allow_private``).
    """
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_LENGTH:
        raise InvalidWebhookEndpoint(f"a webhook URL is 1 to {_MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidWebhookEndpoint(f"not a valid URL: {url!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookEndpoint(f"a webhook URL is http:// or https:// with a host: {url!r}")
    if parts.username is not None or parts.password is not None:
        # Endpoint URLs are stored and listed as they are: no credentials in them.
        raise InvalidWebhookEndpoint(
            "a webhook URL carries no user name or password; receivers verify the signature"
        )
    if not _URL.fullmatch(url):
        # What the OpenAPI document says (WEBHOOK_URL_PATTERN), so a client
        # following it sends only what is accepted.
        raise InvalidWebhookEndpoint(f"not a valid URL: {url!r}")
    if not allow_private:
        _refuse_unsafe(parts.hostname, _resolve(parts.hostname, port))
    return url


#: ``time.monotonic()`` value after which the current attempt's I/O fails.
_deadline: ContextVar[float | None] = ContextVar("client_portal_webhook_deadline", default=None)


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Bound all network I/O of the worker's client in this block to ``seconds`` in total."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _bounded(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` shortened to the time left before the deadline; ``error`` once it passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the webhook attempt ran out of time")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation respects the attempt's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # A large buffer is sent by one sendall: bound it, chunk by chunk.
        view = memoryview(buffer)
        while True:
            chunk, view = view[:65536], view[65536:]
            self._inner.write(bytes(chunk), _bounded(timeout, httpcore.WriteTimeout))
            if not view:
                return

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(
                ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects to the checked address, on every connection.

    With ``allow_private`` it checks nothing; either way the streams it opens
    respect the attempt's deadline.
    """

    def __init__(self, *, allow_private: bool = False) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        _bounded(timeout, httpcore.ConnectTimeout)
        if self._allow_private:
            hosts = [host]
        else:
            try:
                addresses = _resolve(host, port)
                _refuse_unsafe(host, addresses)
            except UnsafeWebhookUrl as exc:
                # Recorded as the attempt's error, which the tenant reads: no address.
                logger.warning("webhook delivery refused (SSRF guard): %s", exc.detail)
                raise httpcore.ConnectError(exc.refusal) from exc
            hosts = [str(address) for address in addresses]
        error: httpcore.ConnectError | None = None
        for address in hosts:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    # Resolving may have been slow: nothing is sent after the deadline.
                    timeout=_bounded(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
            else:
                return _DeadlineStream(stream)
        raise error or httpcore.ConnectError(f"no address for {host!r}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are never sent to a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def build_http_client(*, timeout: float, allow_private: bool) -> httpx.Client:
    """The worker's HTTP client: no proxies from the environment, no redirects.

    Unless ``allow_private``, every TCP connection goes through the SSRF guard;
    either way all I/O inside :func:`attempt_deadline` respects its deadline.
    """
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
    transport = httpx.HTTPTransport(trust_env=False, limits=limits)
    # httpx has no public setting for the network backend; its transport
    # delegates everything to this pool, so swapping the pool is enough.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(allow_private=allow_private),
    )
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
