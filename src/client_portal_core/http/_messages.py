"""What crosses the adapter boundary: the request the core reads, the response it writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "ApiOperation",
    "ApiRequest",
    "HttpResponse",
    "bearer_credential",
    "json_bytes",
    "json_response",
]

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What the core needs from an HTTP request, framework-free.

    Adapters copy raw values only (headers, query string, body); the core
    parses them, so both adapters read a request the same way.

    :param authorization: the ``Authorization`` header, or ``None``.
    :param body: the raw request body.
    :param content_type: the ``Content-Type`` header, or ``None``.
    :param path_params: the route's path parameters.
    :param client_ip: the client's address, as the host decides it (proxies).
    :param user_agent: the ``User-Agent`` header, or ``None``.
    :param method: the HTTP method (``HEAD`` checks a portal link without
        counting an access, so link scanners do not inflate access counts).
    :param query_string: the raw query string (without ``?``), as sent.
    :param cookie: the raw ``Cookie`` header, or ``None``.
    :param accept_language: the ``Accept-Language`` header, or ``None``.
    """

    authorization: str | None = None
    body: bytes = b""
    content_type: str | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    user_agent: str | None = None
    method: str = "GET"
    query_string: str = ""
    cookie: str | None = None
    accept_language: str | None = None

    def query(self) -> dict[str, list[str]]:
        """The query parameters, each name with every value it was given, in order."""
        values: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            values.setdefault(name, []).append(value)
        return values

    def cookies(self) -> dict[str, str]:
        """The request's cookies by name (an unparsable header reads as no cookies)."""
        if not self.cookie:
            return {}
        jar = SimpleCookie()
        try:
            jar.load(self.cookie)
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A finished response: status, headers (with Content-Type) and body bytes."""

    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def media_type(self) -> str:
        """The Content-Type header."""
        return self.headers["Content-Type"]


#: A JSON operation: ``(tenant id, request) -> (status, payload)``. It raises
#: :class:`~client_portal_core.errors.PortalError` for its error answers.
ApiOperation = Callable[[str, ApiRequest], tuple[int, Any]]


def json_bytes(payload: Any) -> bytes:
    """The canonical JSON encoding used by every response."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """A JSON response, never cached; a 204 has no body (and no Content-Type)."""
    if status == 204:
        return HttpResponse(204, b"", {"Cache-Control": "no-store", **(headers or {})})
    all_headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
    all_headers.update(headers or {})
    return HttpResponse(status, json_bytes(payload), all_headers)


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of a ``Bearer`` Authorization header, else ``None``."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential
