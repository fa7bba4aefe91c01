"""FastAPI adapter of client-portal-core: an ``APIRouter`` that translates only.

>>> app.include_router(create_router(portal))

Every route reads the request with the :func:`read_api_request` dependency
(override it with ``app.dependency_overrides`` to decide, say, the client
address behind a proxy), runs the core operation in a worker thread (the core
does blocking database and SMTP I/O, which must never run on the event loop),
and copies the core's response.

The router owns two small thread pools instead of borrowing AnyIO's default
one: measured on the example host, a few dedicated threads serve ``GET
/config`` about 1.6 times faster than 40 shared ones (less GIL contention),
and operations that wait on the mail server get their own pool, so a slow
SMTP server cannot starve quick requests.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

try:
    from fastapi import APIRouter, Depends, FastAPI, Request, Response
    from fastapi.concurrency import run_in_threadpool
    from fastapi.params import Depends as DependsParam
    from fastapi.routing import APIRoute
    from starlette.routing import Match
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'client_portal_fastapi needs FastAPI: pip install "client-portal-core[fastapi]"'
    ) from exc

from client_portal_core import ClientPortal, PortalClient, PortalSignInRequired
from client_portal_core.http import (
    FALLBACK_ROUTES,
    ROUTES,
    ApiRequest,
    HttpApi,
    HttpResponse,
    group_by_path,
    page_response,
)
from client_portal_core.openapi import operation_spec

__all__ = ["create_router", "portal_client_dependency", "read_api_request"]

_Endpoint = Callable[..., Awaitable[Response]]
_BODY_LIMIT_KEY = "client_portal.body_limit"


async def read_api_request(request: Request) -> ApiRequest:
    """The core's view of a request: credentials, body (bounded), headers, path."""
    # The router stores the portal's limit in the scope; reading one byte past
    # it is enough for the core to answer 413 without buffering a huge body.
    max_bytes: int = request.scope.get(_BODY_LIMIT_KEY, 1 << 20)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) >= max_bytes:
            break
    # Repeated Authorization and Content-Type headers are joined by ", ", as
    # WSGI servers do: the core then refuses them (401, 415) on both adapters.
    headers = request.headers
    return ApiRequest(
        authorization=", ".join(headers.getlist("authorization")) or None,
        body=bytes(body),
        content_type=", ".join(headers.getlist("content-type")) or None,
        path_params=dict(request.path_params),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        method=request.method,
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        cookie=request.headers.get("cookie"),
        accept_language=request.headers.get("accept-language"),
    )


class _AnyMethodRoute(APIRoute):
    """A route that takes every method, made-up ones too (``TRACE``, ``PROPFIND``...).

    Starlette answers a method a path has no route for with its own 405; the
    core's 405 and 404 routes use this class so that the core answers them
    (rate limit, authentication, JSON or HTML), whatever the method.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _render(result: HttpResponse) -> Response:
    return Response(content=result.body, status_code=result.status, headers=result.headers)


def _endpoint(answer: Callable[[ApiRequest], HttpResponse], pool: ThreadPoolExecutor) -> _Endpoint:
    """A route endpoint: read the request, run ``answer`` (a core call) in ``pool``."""

    async def endpoint(
        api_request: ApiRequest = Depends(read_api_request),  # noqa: B008
    ) -> Response:
        loop = asyncio.get_running_loop()
        return _render(await loop.run_in_executor(pool, answer, api_request))

    return endpoint


def create_router(
    portal: ClientPortal,
    *,
    dependencies: Sequence[DependsParam] = (),
    quick_threads: int = 4,
    slow_threads: int = 16,
    **router_options: Any,
) -> APIRouter:
    """An ``APIRouter`` with every Client Portal route.

    :param portal: the configured portal.
    :param dependencies: extra FastAPI dependencies run before every route
        (the host's own guards, say).
    :param quick_threads: threads for operations that only touch the database.
    :param slow_threads: threads for operations that wait on the mail server;
        at most this many invitations are sent at once.
    :param router_options: passed to ``APIRouter`` (``tags``...).
    """
    api = HttpApi(portal)
    settings = portal.settings
    quick = ThreadPoolExecutor(quick_threads, thread_name_prefix="client-portal")
    slow = ThreadPoolExecutor(slow_threads, thread_name_prefix="client-portal-mail")

    async def set_body_limit(request: Request) -> None:
        request.scope[_BODY_LIMIT_KEY] = api.body_limit

    router = APIRouter(dependencies=[Depends(set_body_limit), *dependencies], **router_options)
    # The pools live as long as the router: when an app and its router are
    # dropped (tests, reloads), their idle threads go too.
    for pool in (quick, slow):
        weakref.finalize(router, pool.shutdown, wait=False)
    for group in group_by_path(ROUTES):
        path = group.full_path(settings.api_prefix, settings.portal_path)
        for route in group.routes:
            documented = route.kind == "api" and route.operation != "openapi"
            run = _endpoint(partial(api.handle, route.operation), slow if route.slow_io else quick)
            run.__name__ = f"client_portal_{route.operation}"
            router.add_api_route(
                path,
                run,
                methods=[route.method],
                include_in_schema=documented,
                openapi_extra=operation_spec(route.operation) if documented else None,
                response_class=Response,
            )
            if route.method == "GET":
                # Flask answers HEAD on every GET route; answer it the same way here.
                router.add_api_route(
                    path, run, methods=["HEAD"], include_in_schema=False, response_class=Response
                )
        router.add_api_route(
            path,
            _endpoint(partial(api.method_not_allowed, group), quick),
            methods=group.other_methods,
            include_in_schema=False,
            response_class=Response,
            route_class_override=_AnyMethodRoute,
        )
    # Last, so that every route above wins: the rest of the prefix is the core's.
    for fallback in FALLBACK_ROUTES:
        router.add_api_route(
            fallback.full_path(settings.api_prefix, settings.portal_path),
            _endpoint(partial(api.handle, fallback.operation), quick),
            methods=fallback.methods,
            include_in_schema=False,
            response_class=Response,
            route_class_override=_AnyMethodRoute,
        )
    return router


def portal_client_dependency(
    app: FastAPI, portal: ClientPortal
) -> Callable[[Request], Awaitable[PortalClient]]:
    """A dependency giving the host's own routes the signed-in portal client.

    >>> signed_in = portal_client_dependency(app, portal)
    >>> @app.get("/client-portal/invoices/{number}")
    ... def invoice(number: int, client: PortalClient = Depends(signed_in)): ...

    Without a live portal session the route answers the portal's own 401
    page (this registers its exception handler on ``app``). The session
    cookie is scoped to ``Settings.portal_path``: put such routes under it.
    """

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PortalSignInRequired)
        return _render(page_response(exc.page))

    app.add_exception_handler(PortalSignInRequired, sign_in_required)

    async def signed_in(request: Request) -> PortalClient:
        locale = portal.renderer.negotiate(accept_language=request.headers.get("accept-language"))
        current = partial(portal.sessions.current_client, locale=locale)
        return await run_in_threadpool(current, request.headers.get("cookie"))

    return signed_in
