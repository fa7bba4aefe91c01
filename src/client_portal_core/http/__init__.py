"""The HTTP contract, once, for every adapter.

An adapter registers :data:`ROUTES` (grouped by path with
:func:`group_by_path`, each path's other methods, whatever they are, answered
by :meth:`HttpApi.method_not_allowed`), then :data:`FALLBACK_ROUTES` for every
method; it turns
each framework request into an :class:`ApiRequest` (raw headers, query
string, body, path parameters, client address) and copies the returned
:class:`HttpResponse` into a framework response. Status codes, messages,
headers and bytes are all decided here, so the FastAPI and Flask adapters
answer byte for byte alike.
"""

from __future__ import annotations

from ._api import HttpApi
from ._messages import (
    HTML_TYPE,
    JSON_TYPE,
    ApiOperation,
    ApiRequest,
    HttpResponse,
    bearer_credential,
    json_bytes,
    json_response,
)
from ._portal_ops import page_response
from ._routes import ALL_METHODS, FALLBACK_ROUTES, ROUTES, PathRoutes, Route, group_by_path

__all__ = [
    "ALL_METHODS",
    "FALLBACK_ROUTES",
    "HTML_TYPE",
    "JSON_TYPE",
    "ROUTES",
    "ApiOperation",
    "ApiRequest",
    "HttpApi",
    "HttpResponse",
    "PathRoutes",
    "Route",
    "bearer_credential",
    "group_by_path",
    "json_bytes",
    "json_response",
    "page_response",
]
