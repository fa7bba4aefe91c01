"""The routes adapters register: every path of the API and the portal, with its methods."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ALL_METHODS", "FALLBACK_ROUTES", "ROUTES", "PathRoutes", "Route", "group_by_path"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "ANY"]

#: The methods adapters name when they register a route. The fallback routes
#: and each path's 405 route answer *every* method, made-up ones too (an
#: adapter registers them so that its framework never answers a method
#: itself); ``HEAD`` is answered as ``GET`` on a GET route and is a 405
#: elsewhere; ``OPTIONS`` is a 405.
ALL_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path (``{name}`` parameters) and operation name.

    ``kind`` says where the path hangs: under ``Settings.api_prefix``
    (``api``), under ``Settings.portal_path`` (``portal``). A method of
    ``ANY`` (the fallback routes) answers every method.
    """

    method: Method
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
        """The methods this route answers (``HEAD`` too on a ``GET`` route)."""
        if self.method == "ANY":
            return list(ALL_METHODS)
        return ["GET", "HEAD"] if self.method == "GET" else [self.method]


@dataclass(frozen=True, slots=True)
class PathRoutes:
    """The routes of one path: an adapter registers each, then one 405 route
    that answers every other method (``TRACE``, ``PROPFIND``, any made-up one)."""

    kind: Literal["api", "portal"]
    path: str
    routes: tuple[Route, ...]

    def full_path(self, api_prefix: str, portal_path: str) -> str:
        """The path with its prefix applied."""
        return self.routes[0].full_path(api_prefix, portal_path)

    @property
    def allow(self) -> str:
        """The ``Allow`` header of a 405 on this path."""
        return ", ".join(method for route in self.routes for method in route.methods)

    @property
    def other_methods(self) -> list[str]:
        """The usual methods that get a 405 on this path (any other method does too)."""
        answered = {method for route in self.routes for method in route.methods}
        return [method for method in ALL_METHODS if method not in answered]


def group_by_path(routes: Iterable[Route]) -> list[PathRoutes]:
    """``routes`` grouped by path, in the order each path first appears."""
    groups: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        groups.setdefault((route.kind, route.path), []).append(route)
    return [PathRoutes(group[0].kind, group[0].path, tuple(group)) for group in groups.values()]


#: Paths adapters register *after* :data:`ROUTES`, for every method, so that
#: anything else under the API prefix (unknown paths, trailing slashes) is
#: the core's JSON 404 (operation ``not_found``). ``{rest:path}`` matches the
#: rest of the path, slashes included.
FALLBACK_ROUTES: tuple[Route, ...] = (
    Route("ANY", "", "not_found"),
    Route("ANY", "/", "not_found"),
    Route("ANY", "/{rest:path}", "not_found"),
)

#: Every route of the library, in the order adapters register them (a path
#: with several methods lists each as its own route).
ROUTES: tuple[Route, ...] = (
    Route("GET", "/config", "get_config"),
    Route("PATCH", "/config", "update_config"),
    Route("POST", "/contacts/{id}/invite", "invite_contact", slow_io=True),
    Route("POST", "/companies/{id}/invite", "invite_company", slow_io=True),
    Route("POST", "/token", "create_token"),
    Route("POST", "/token/revoke", "revoke_token"),
    Route("POST", "/token/preview", "preview_token"),
    Route("GET", "/tokens", "list_tokens"),
    Route("POST", "/tokens/renew", "renew_tokens", slow_io=True),
    Route("GET", "/invitations", "list_invitations"),
    Route("POST", "/invitations/{invitation_id}/retry", "retry_invitation", slow_io=True),
    Route("GET", "/accesses", "list_accesses"),
    Route("GET", "/webhooks", "list_webhooks"),
    Route("POST", "/webhooks", "create_webhook"),
    Route("PATCH", "/webhooks/{id}", "update_webhook"),
    Route("DELETE", "/webhooks/{id}", "delete_webhook"),
    Route("GET", "/webhooks/{id}/deliveries", "list_webhook_deliveries"),
    Route(
        "POST",
        "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        "redeliver_webhook",
    ),
    Route("POST", "/webhooks/{id}/rotate-secret", "rotate_webhook_secret"),
    Route("GET", "/openapi.json", "openapi"),
    # The portal. "/logout" comes before "/{segment}" (werkzeug ranks it first
    # anyway); whether a segment is a token or a page is decided in the core.
    Route("GET", "", "portal_root", kind="portal"),
    Route("GET", "/", "portal_home", kind="portal"),
    Route("POST", "/logout", "portal_logout", kind="portal"),
    Route("GET", "/{segment}", "portal_segment", kind="portal"),
    Route("POST", "/{token}/renew", "portal_renew", kind="portal", slow_io=True),
)
