"""The HTTP contract, once, for every adapter.

An adapter registers :data:`ROUTES`, turns each framework request into the
few values :class:`HttpApi` needs (credentials, raw body, content type, path
parameters, client address) and copies the returned :class:`HttpResponse`
into a framework response. Status codes, messages, headers and JSON bytes
are all decided here, so the FastAPI and Flask adapters answer byte for byte
alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from limits import parse as parse_rate_limit
from pydantic import BaseModel, ValidationError

from .errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PortalError,
    ServerError,
    SubjectNotFound,
    TokenInvalid,
    UnsupportedMediaType,
    ValidationFailed,
)
from .openapi import build_openapi
from .ratelimit import RateLimitDecision, RateLimitUnavailable
from .schemas import (
    ConfigResponse,
    InviteRequest,
    InviteResponse,
    SubjectType,
    TokenRequest,
    _coerce_subject_id,
)

if TYPE_CHECKING:
    from .portal_pages import PortalPage
    from .services import ClientPortal

__all__ = [
    "ALL_METHODS",
    "FALLBACK_ROUTES",
    "ROUTES",
    "ApiRequest",
    "HttpApi",
    "HttpResponse",
    "Route",
]

logger = logging.getLogger("client_portal_core.http")

_Model = TypeVar("_Model", bound=BaseModel)

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path (``{name}`` parameters) and operation name.

    ``kind`` says where the path hangs: under ``Settings.api_prefix``
    (``api``), under ``Settings.portal_path`` (``portal``). A method of
    ``ANY`` (the fallback routes) answers every method.
    """

    method: Literal["GET", "POST", "ANY"]
    path: str
    operation: str
    kind: Literal["api", "portal"] = "api"
    #: True when the operation may wait on a slow peer (the mail server), so
    #: async adapters can keep it off the threads that serve quick operations.
    slow_io: bool = False

    def full_path(self, api_prefix: str, portal_path: str) -> str:
        """The path with its prefix applied."""
        return (api_prefix if self.kind == "api" else portal_path) + self.path

    @property
    def methods(self) -> list[str]:
        """The methods this route answers."""
        return list(ALL_METHODS) if self.method == "ANY" else [self.method]

    @property
    def allow(self) -> str:
        """The ``Allow`` header of a 405 on this path."""
        return "GET, HEAD" if self.method == "GET" else self.method

    @property
    def other_methods(self) -> list[str]:
        """The methods that get a 405 on this path (``HEAD`` is answered by a GET route)."""
        answered = {"GET", "HEAD"} if self.method == "GET" else {self.method}
        return [method for method in ALL_METHODS if method not in answered]


#: Every method adapters route: the fallback routes answer them all, and on a
#: known path the others get a 405 (``HEAD`` is answered as ``GET`` on a GET
#: route and is a 405 elsewhere; ``OPTIONS`` is a 405).
ALL_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")

#: Paths adapters register *after* :data:`ROUTES`, for every method, so that
#: anything else under the API prefix (unknown paths, trailing slashes) is
#: the core's JSON 404 (operation ``not_found``), and the bare portal path is
#: its HTML 404 (operation ``portal_not_found``). ``{rest:path}`` matches the
#: rest of the path, slashes included.
FALLBACK_ROUTES: tuple[Route, ...] = (
    Route("ANY", "", "not_found"),
    Route("ANY", "/", "not_found"),
    Route("ANY", "/{rest:path}", "not_found"),
    Route("ANY", "", "portal_not_found", kind="portal"),
    Route("ANY", "/", "portal_not_found", kind="portal"),
)

#: Every route of the library, in the order adapters register them.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/config", "get_config"),
    Route("POST", "/contacts/{id}/invite", "invite_contact", slow_io=True),
    Route("POST", "/companies/{id}/invite", "invite_company", slow_io=True),
    Route("POST", "/token", "create_token"),
    Route("GET", "/openapi.json", "openapi"),
    Route("GET", "/{token}", "open_portal", kind="portal"),
)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What the core needs from an HTTP request, framework-free.

    :param authorization: the ``Authorization`` header, or ``None``.
    :param body: the raw request body.
    :param content_type: the ``Content-Type`` header, or ``None``.
    :param path_params: the route's path parameters.
    :param client_ip: the client's address, as the host decides it (proxies).
    :param user_agent: the ``User-Agent`` header, or ``None``.
    :param method: the HTTP method (``HEAD`` checks a portal link without
        counting an access, so link scanners do not inflate access counts).
    """

    authorization: str | None = None
    body: bytes = b""
    content_type: str | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    user_agent: str | None = None
    method: str = "GET"


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


def json_bytes(payload: Any) -> bytes:
    """The canonical JSON encoding used by every response."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> HttpResponse:
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


def _validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(name, []).append(message)
    return errors


class HttpApi:
    """Runs one operation for an adapter and renders the result or error.

    :param portal: the portal whose services answer.
    """

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._portal_rate = parse_rate_limit(portal.settings.portal_rate_limit)
        self._operations: dict[str, Callable[[str, ApiRequest], tuple[int, Any]]] = {
            "get_config": self._get_config,
            "invite_contact": self._invite_contact,
            "invite_company": self._invite_company,
            "create_token": self._create_token,
            "not_found": self._not_found,
        }

    @cached_property
    def openapi_document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this portal's API (built once)."""
        return build_openapi(self.portal.settings)

    @cached_property
    def _openapi_response(self) -> HttpResponse:
        return HttpResponse(
            200,
            json_bytes(self.openapi_document),
            {"Content-Type": JSON_TYPE, "Cache-Control": "public, max-age=3600"},
        )

    def handle(self, operation: str, request: ApiRequest) -> HttpResponse:
        """Answer one request for ``operation``: a :data:`ROUTES` or
        :data:`FALLBACK_ROUTES` operation name."""
        if operation == "openapi":
            return self._openapi_response
        if operation == "open_portal":
            return self.portal_page(request.path_params.get("token", ""), request)
        if operation == "portal_not_found":
            return self._page(self.portal.error_page(404, TokenInvalid.default_message))
        return self._run(operation, self._operations[operation], request)

    def _run(
        self,
        name: str,
        operation: Callable[[str, ApiRequest], tuple[int, Any]],
        request: ApiRequest,
    ) -> HttpResponse:
        """Rate limit, authenticate, run ``operation``; every answer is JSON."""
        decision: RateLimitDecision | None = None
        try:
            credential = bearer_credential(request.authorization)
            key = hashlib.sha256((credential or "").encode()).hexdigest()
            decision = self.portal.rate_limiter.hit(key)
            decision.raise_if_limited()
            tenant_id = self.portal.authenticate(credential)
            status, payload = operation(tenant_id, request)
            return _json_response(status, payload, decision.headers())
        except PortalError as exc:
            return self._error(exc, decision)
        except Exception:
            logger.exception("unexpected error in client portal operation %s", name)
            return self._error(ServerError(), decision)

    @property
    def body_limit(self) -> int:
        """Read at most this many body bytes; one more than allowed marks a 413."""
        return self.portal.settings.max_body_bytes + 1

    def method_not_allowed(self, route: Route, request: ApiRequest) -> HttpResponse:
        """405 for ``route``'s path called with another method.

        Under the API prefix it is an API answer like any other (rate limit,
        then authentication, then the JSON 405); on the portal route an HTML page.
        """
        if route.kind == "portal":
            page = self.portal.error_page(405, "This page cannot be used that way.")
            page.headers["Allow"] = route.allow
            return self._page(page)

        def refuse(tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
            raise MethodNotAllowed(route.allow)

        return self._run("method_not_allowed", refuse, request)

    def portal_page(self, token: str, request: ApiRequest) -> HttpResponse:
        """The HTML page of the portal route; never raises."""
        try:
            # Counted per link (its hash): a link shared or leaked too widely
            # cannot turn into an unbounded stream of access writes.
            key = "portal:" + hashlib.sha256(token.encode()).hexdigest()
            decision = self.portal.rate_limiter.hit(key, item=self._portal_rate)
            if not decision.allowed:
                page = self.portal.error_page(
                    429, "This link was opened too often. Please try again in a minute."
                )
                page.headers["Retry-After"] = str(decision.reset_after)
            else:
                page = self.portal.open_portal(
                    token,
                    ip=request.client_ip,
                    user_agent=request.user_agent,
                    record_access=request.method != "HEAD",
                )
        except RateLimitUnavailable:
            page = self.portal.error_page(503, "The portal is unavailable. Please try again later.")
        except Exception:
            logger.exception("unexpected error opening the client portal")
            page = self.portal.error_page(500, "Something went wrong. Please try again later.")
        return self._page(page)

    @staticmethod
    def _page(page: PortalPage) -> HttpResponse:
        headers = {"Content-Type": HTML_TYPE}
        headers.update(page.headers)
        return HttpResponse(page.status, page.html.encode(), headers)

    @staticmethod
    def _error(exc: PortalError, decision: RateLimitDecision | None) -> HttpResponse:
        headers = dict(decision.headers()) if decision is not None else {}
        headers.update(exc.headers())
        return _json_response(exc.status, exc.body(), headers)

    # -- request bodies -----------------------------------------------------

    def _parse(self, request: ApiRequest, model: type[_Model], *, optional: bool) -> _Model:
        body = request.body
        if len(body) > self.portal.settings.max_body_bytes:
            raise PayloadTooLarge()
        if not body.strip():
            if optional:
                return model()
            payload: Any = {}
        else:
            media = (request.content_type or "").split(";")[0].strip().lower()
            if media != JSON_TYPE and not (
                media.startswith("application/") and media.endswith("+json")
            ):
                raise UnsupportedMediaType()
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise InvalidRequest() from exc
        if not isinstance(payload, dict):
            raise ValidationFailed({"body": ["must be a JSON object"]})
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise ValidationFailed(_validation_errors(exc)) from exc

    # -- operations ---------------------------------------------------------

    def _get_config(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        config = self.portal.get_config(tenant_id)
        return 200, ConfigResponse(data=config).model_dump(mode="json")

    def _invite(self, kind: SubjectType, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        raw_id = request.path_params.get("id", "")
        try:
            subject_id = _coerce_subject_id(raw_id)
        except ValueError as exc:
            raise SubjectNotFound(kind.value, raw_id) from exc
        body = self._parse(request, InviteRequest, optional=True)
        result = self.portal.invite(tenant_id, kind, subject_id, body.custom_message)
        return 200, InviteResponse(token=result.token.token).model_dump(mode="json")

    def _invite_contact(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        return self._invite(SubjectType.CONTACT, tenant_id, request)

    def _invite_company(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        return self._invite(SubjectType.COMPANY, tenant_id, request)

    def _not_found(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        raise NotFound()

    def _create_token(self, tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
        body = self._parse(request, TokenRequest, optional=False)
        issued = self.portal.get_or_create_token(tenant_id, body.type, body.id)
        return 200, issued.to_response().model_dump(mode="json")
