"""The runner adapters call: one operation per request, every answer rendered here."""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import (
    MethodNotAllowed,
    MissingScope,
    PortalError,
    RateLimited,
    ServerError,
    Unauthorized,
)
from ..openapi import build_openapi
from ..ratelimit import RateLimitDecision
from ..scopes import OPERATION_SCOPES, ApiPrincipal
from ._core_ops import CoreOperations
from ._management_ops import ManagementOperations
from ._messages import (
    JSON_TYPE,
    ApiOperation,
    ApiRequest,
    HttpResponse,
    bearer_credential,
    json_bytes,
    json_response,
)
from ._portal_ops import PageOperation, PortalHttp
from ._preview_ops import PreviewOperations
from ._routes import ROUTES, PathRoutes
from ._webhook_ops import WebhookOperations

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["HttpApi"]

logger = logging.getLogger("client_portal_core.http")


class HttpApi:
    """Runs one operation for an adapter and renders the result or error.

    API operations (JSON) run after the rate limit and authentication;
    portal operations (HTML) answer a browser and never raise.

    :param portal: the portal whose services answer.
    """

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self.portal_http = PortalHttp(portal)
        self._api_operations: dict[str, ApiOperation] = {
            **CoreOperations(portal).operations(),
            **ManagementOperations(portal).operations(),
            **PreviewOperations(portal).operations(),
            **WebhookOperations(portal).operations(),
        }
        self._page_operations: dict[str, PageOperation] = self.portal_http.operations()
        unscoped = sorted(set(self._api_operations) - set(OPERATION_SCOPES))
        if unscoped:  # pragma: no cover - a programming error, caught by the tests
            raise RuntimeError(f"API operations without a scope in OPERATION_SCOPES: {unscoped}")

    @cached_property
    def openapi_document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this portal's API (built once)."""
        documented = [
            (route.method, route.path, route.operation)
            for route in ROUTES
            if route.kind == "api" and route.operation != "openapi"
        ]
        return build_openapi(self.portal.settings, documented, locales=self.portal.renderer.locales)

    @cached_property
    def _openapi_response(self) -> HttpResponse:
        return HttpResponse(
            200,
            json_bytes(self.openapi_document),
            {"Content-Type": JSON_TYPE, "Cache-Control": "public, max-age=3600"},
        )

    @property
    def body_limit(self) -> int:
        """Read at most this many body bytes; one more than allowed marks a 413."""
        return self.portal.settings.max_body_bytes + 1

    def handle(self, operation: str, request: ApiRequest) -> HttpResponse:
        """Answer one request for ``operation``: a :data:`ROUTES` or
        :data:`FALLBACK_ROUTES` operation name."""
        if operation == "openapi":
            return self._openapi_response
        page = self._page_operations.get(operation)
        if page is not None:
            return page(request)
        return self._run(operation, self._api_operations[operation], request)

    def method_not_allowed(self, path: PathRoutes, request: ApiRequest) -> HttpResponse:
        """405 for ``path`` called with a method none of its routes answers.

        Under the API prefix it is an API answer like any other (rate limit,
        then authentication, then the JSON 405); on the portal path an HTML page.
        """
        if path.kind == "portal":
            return self.portal_http.method_not_allowed(path.allow, request)

        def refuse(tenant_id: str, request: ApiRequest) -> tuple[int, Any]:
            raise MethodNotAllowed(path.allow)

        return self._run("method_not_allowed", refuse, request)

    def _run(self, name: str, operation: ApiOperation, request: ApiRequest) -> HttpResponse:
        """Rate limit, authenticate, check the scope, run ``operation``; every answer is JSON."""
        decision: RateLimitDecision | None = None
        try:
            credential = bearer_credential(request.authorization)
            key = hashlib.sha256((credential or "").encode()).hexdigest()
            decision = self.portal.rate_limiter.hit(key)
            decision.raise_if_limited()
            principal = self._authenticate(credential, request.client_ip)
            required = OPERATION_SCOPES[name]
            if required is not None and not principal.allows(required):
                raise MissingScope(required.value)
            status, payload = operation(principal.tenant_id, request)
            return json_response(status, payload, decision.headers())
        except PortalError as exc:
            return self._error(exc, decision)
        except Exception:
            logger.exception("unexpected error in client portal operation %s", name)
            return self._error(ServerError(), decision)

    def _authenticate(self, credential: str | None, address: str | None) -> ApiPrincipal:
        """The credential's tenant and scopes, unless its address failed too often
        (429 first)."""
        throttle = self.portal.failure_throttle
        wait = throttle.retry_after(address)
        if wait:
            # Before the credential is tried: a right guess gets the same 429.
            raise RateLimited(retry_after=wait)
        try:
            return self.portal.authenticate_principal(credential)
        except Unauthorized:
            if credential is not None:  # no credential at all guesses nothing
                throttle.failed(address)
            raise

    @staticmethod
    def _error(exc: PortalError, decision: RateLimitDecision | None) -> HttpResponse:
        headers = dict(decision.headers()) if decision is not None else {}
        headers.update(exc.headers())
        return json_response(exc.status, exc.body(), headers)
