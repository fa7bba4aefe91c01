"""Flask adapter of client-portal-core: a Blueprint and an ``init_app`` extension.

>>> ClientPortalFlask(portal, app)          # or
>>> ext = ClientPortalFlask(portal); ext.init_app(app)

Each view reads the request into the core's :class:`ApiRequest`, runs one
core operation and copies the core's response. Nothing else lives here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial, wraps
from http import HTTPStatus
from typing import Any, TypeVar

try:
    from flask import Blueprint, Flask, Response, current_app, g, request
    from flask.sansio.blueprints import BlueprintSetupState
    from werkzeug.routing import PathConverter
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'client_portal_flask needs Flask: pip install "client-portal-core[flask]"'
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

__all__ = [
    "EXTENSION_KEY",
    "ClientPortalFlask",
    "create_blueprint",
    "current_portal_client",
    "portal_client_required",
    "read_api_request",
]

_View = TypeVar("_View", bound=Callable[..., Any])

#: Key of the extension in ``app.extensions``.
EXTENSION_KEY = "client_portal"


#: The converter of ``{rest:path}``: anything, slashes (even leading ones) included.
_ANY_PATH = "client_portal_any_path"


class _AnyPathConverter(PathConverter):
    """Werkzeug's ``path`` refuses a leading slash (``//config``); this one takes all."""

    regex = ".*"
    part_isolating = False  # Werkzeug would infer True: the regex names no "/"


def _flask_path(path: str) -> str:
    # "{id}" -> "<id>", "{rest:path}" -> "<client_portal_any_path:rest>"
    def convert(match: re.Match[str]) -> str:
        converter = _ANY_PATH if match[2] == "path" else match[2]
        return f"<{converter + ':' if converter else ''}{match[1]}>"

    return re.sub(r"\{(\w+)(?::(\w+))?\}", convert, path)


def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault(_ANY_PATH, _AnyPathConverter)


def _any_method_rule(
    blueprint: Blueprint,
    path: str,
    endpoint: str,
    view: Callable[..., Response],
    *,
    strict_slashes: bool = True,
) -> None:
    """Register ``view`` at ``path`` for every method, made-up ones too.

    Flask gives a rule without methods ``GET`` only; a Werkzeug rule with
    ``methods=None`` matches any method, so the core, not Werkzeug, answers
    ``TRACE`` or ``PROPFIND`` (its 405 or 404). Added like
    ``BlueprintSetupState.add_url_rule`` would (prefix, endpoint name).
    """

    def register(state: BlueprintSetupState) -> None:
        rule = path
        if state.url_prefix is not None:
            rule = (
                "/".join((state.url_prefix.rstrip("/"), rule.lstrip("/")))
                if rule
                else state.url_prefix
            )
        name = f"{state.name_prefix}.{state.name}.{endpoint}".lstrip(".")
        state.app.url_map.add(
            state.app.url_rule_class(
                rule,
                endpoint=name,
                methods=None,
                merge_slashes=False,
                strict_slashes=strict_slashes,
            )
        )
        state.app.view_functions[name] = view

    blueprint.record(register)


def read_api_request(body_limit: int, path_params: dict[str, Any]) -> ApiRequest:
    """The core's view of the current Flask request (body read up to ``body_limit``)."""
    # Straight from the WSGI environ: what request.headers would return, without
    # its scan of every key. Several Authorization headers arrive there joined
    # by ", " (WSGI servers join repeated headers).
    environ = request.environ
    return ApiRequest(
        authorization=environ.get("HTTP_AUTHORIZATION") or None,
        body=request.stream.read(body_limit),
        content_type=environ.get("CONTENT_TYPE"),
        path_params={name: str(value) for name, value in path_params.items()},
        client_ip=request.remote_addr,
        user_agent=environ.get("HTTP_USER_AGENT"),
        method=request.method,
        query_string=environ.get("QUERY_STRING", ""),
        cookie=environ.get("HTTP_COOKIE"),
        accept_language=environ.get("HTTP_ACCEPT_LANGUAGE"),
    )


class _CoreResponse(Response):
    """A response carrying exactly the core's headers: no default Content-Type
    (the core sets it on every answer with a body; a 204 has none)."""

    default_mimetype = None


def _render(result: HttpResponse) -> Response:
    # The reason phrase as HTTP spells it ("Too Many Requests"), not upper-cased.
    status = f"{result.status} {HTTPStatus(result.status).phrase}"
    return _CoreResponse(result.body, status=status, headers=result.headers)


def _view(answer: Callable[[ApiRequest], HttpResponse], body_limit: int) -> Callable[..., Response]:
    """A view: read the request, run ``answer`` (a core call), copy its response."""

    def view(**path_params: Any) -> Response:
        return _render(answer(read_api_request(body_limit, path_params)))

    return view


def create_blueprint(portal: ClientPortal, name: str = "client_portal") -> Blueprint:
    """A Blueprint with every Client Portal route, at the paths of the portal's settings."""
    api = HttpApi(portal)
    settings = portal.settings
    blueprint = Blueprint(name, __name__)
    blueprint.record_once(_register_converter)
    for index, group in enumerate(group_by_path(ROUTES)):
        path = _flask_path(group.full_path(settings.api_prefix, settings.portal_path))
        for route in group.routes:
            # merge_slashes=False: "//config" is not redirected to "/config"
            # (it is the core's 404, as on FastAPI).
            blueprint.add_url_rule(
                path,
                route.operation,
                _view(partial(api.handle, route.operation), api.body_limit),
                methods=[route.method],
                provide_automatic_options=False,
                merge_slashes=False,
            )
        # After the path's own routes, which Werkzeug tries first.
        _any_method_rule(
            blueprint,
            path,
            f"not_allowed_{index}",
            _view(partial(api.method_not_allowed, group), api.body_limit),
        )
    # Werkzeug ranks these below every route above, whatever the order.
    for index, fallback in enumerate(FALLBACK_ROUTES):
        _any_method_rule(
            blueprint,
            _flask_path(fallback.full_path(settings.api_prefix, settings.portal_path)),
            f"fallback_{index}",
            _view(partial(api.handle, fallback.operation), api.body_limit),
            strict_slashes=False,
        )
    return blueprint


class ClientPortalFlask:
    """Flask extension: registers the Client Portal blueprint on an app.

    :param portal: the configured portal.
    :param app: register at once on this app; or call :meth:`init_app` later.
    """

    def __init__(self, portal: ClientPortal, app: Flask | None = None) -> None:
        self.portal = portal
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the routes on ``app`` and expose the extension in ``app.extensions``."""
        app.register_blueprint(create_blueprint(self.portal))
        app.register_error_handler(PortalSignInRequired, _sign_in_required)
        app.extensions[EXTENSION_KEY] = self


def _sign_in_required(exc: PortalSignInRequired) -> Response:
    return _render(page_response(exc.page))


def current_portal_client() -> PortalClient:
    """The portal client signed in by the current request's session cookie.

    :raises PortalSignInRequired: no live session; the extension answers it
        with the portal's 401 page. The cookie is scoped to
        ``Settings.portal_path``: call this from routes under it.
    """
    portal = current_app.extensions[EXTENSION_KEY].portal
    locale = portal.renderer.negotiate(accept_language=request.headers.get("Accept-Language"))
    client: PortalClient = portal.sessions.current_client(
        request.headers.get("Cookie"), locale=locale
    )
    return client


def portal_client_required(view: _View) -> _View:
    """Decorate a view that needs a signed-in portal client; it is in ``g.portal_client``.

    Without a live session the view is not called: the portal's 401 page answers.
    """

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        g.portal_client = current_portal_client()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]
