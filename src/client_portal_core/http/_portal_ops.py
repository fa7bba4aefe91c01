"""The HTML answers of the portal path: what a client's browser gets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from limits import parse as parse_rate_limit

from .._i18n import N_
from ..errors import TokenInvalid
from ..ratelimit import RateLimitUnavailable
from ._messages import HTML_TYPE, ApiRequest, HttpResponse

if TYPE_CHECKING:
    from ..portal_pages import PortalPage
    from ..services import ClientPortal

__all__ = ["PageOperation", "PortalHttp", "page_response"]

logger = logging.getLogger("client_portal_core.http")

#: A portal operation: the request in, a finished HTML response out; never raises.
PageOperation = Callable[[ApiRequest], HttpResponse]


def page_response(page: PortalPage) -> HttpResponse:
    """A portal page as an HTTP response."""
    headers = {"Content-Type": HTML_TYPE}
    headers.update(page.headers)
    return HttpResponse(page.status, page.html.encode(), headers)


class PortalHttp:
    """The portal path's operations."""

    def __init__(self, portal: ClientPortal) -> None:
        self.portal = portal
        self._portal_rate = parse_rate_limit(portal.settings.portal_rate_limit)

    def operations(self) -> dict[str, PageOperation]:
        """Operation name (as in :data:`ROUTES`) to its function."""
        return {
            "open_portal": self.open_portal,
            "portal_not_found": self.not_found,
        }

    def not_found(self, request: ApiRequest) -> HttpResponse:
        """The 404 page of a portal path that names nothing."""
        return page_response(
            self.portal.error_page(
                404, TokenInvalid.default_message, accept_language=request.accept_language
            )
        )

    def method_not_allowed(self, allow: str, request: ApiRequest | None = None) -> HttpResponse:
        """The 405 page of a portal path called with a method it does not answer."""
        page = self.portal.error_page(
            405,
            N_("This page cannot be used that way."),
            accept_language=request.accept_language if request is not None else None,
        )
        page.headers["Allow"] = allow
        return page_response(page)

    def open_portal(self, request: ApiRequest) -> HttpResponse:
        """The HTML page of ``GET {portal_path}/{token}``; never raises."""
        token = request.path_params.get("token", "")
        language = request.accept_language
        try:
            # Counted per link (its hash): a link shared or leaked too widely
            # cannot turn into an unbounded stream of access writes.
            key = "portal:" + hashlib.sha256(token.encode()).hexdigest()
            decision = self.portal.rate_limiter.hit(key, item=self._portal_rate)
            if not decision.allowed:
                page = self.portal.error_page(
                    429,
                    N_("This link was opened too often. Please try again in a minute."),
                    accept_language=language,
                )
                page.headers["Retry-After"] = str(decision.reset_after)
            else:
                page = self.portal.open_portal(
                    token,
                    ip=request.client_ip,
                    user_agent=request.user_agent,
                    record_access=request.method != "HEAD",
                    accept_language=language,
                )
        except RateLimitUnavailable:
            page = self.portal.error_page(
                503,
                N_("The portal is unavailable. Please try again later."),
                accept_language=language,
            )
        except Exception:
            logger.exception("unexpected error opening the client portal")
            page = self.portal.error_page(
                500, N_("Something went wrong. Please try again later."), accept_language=language
            )
        return page_response(page)
