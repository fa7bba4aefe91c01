"""The HTML answers of the portal path: what a client's browser gets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from limits import parse as parse_rate_limit

from ..errors import TokenInvalid
from ..ratelimit import RateLimitDecision, RateLimitUnavailable
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
        return page_response(self.portal.error_page(404, TokenInvalid.default_message))

    def method_not_allowed(self, allow: str) -> HttpResponse:
        """The 405 page of a portal path called with a method it does not answer."""
        page = self.portal.error_page(405, "This page cannot be used that way.")
        page.headers["Allow"] = allow
        return page_response(page)

    def _count_link(self, token: str) -> RateLimitDecision | None:
        """Count one view of the link ``token`` names; ``None`` when it names none.

        Counted per link, keyed on its lookup hash (what identifies the
        token, not how it is spelled): a link shared or leaked too widely
        cannot turn into an unbounded stream of access writes. A string that
        is no token costs one HMAC and answers 404 without counting here.
        """
        try:
            lookup_hash = self.portal.codec.verify(token)
        except TokenInvalid:
            return None
        return self.portal.rate_limiter.hit("portal:" + lookup_hash, item=self._portal_rate)

    def open_portal(self, request: ApiRequest) -> HttpResponse:
        """The HTML page of ``GET {portal_path}/{token}``; never raises."""
        token = request.path_params.get("token", "")
        throttle = self.portal.failure_throttle
        try:
            wait = throttle.retry_after(request.client_ip)
            if wait:
                page = self.portal.error_page(
                    429,
                    "Too many links that do not work were opened from your address. "
                    "Please try again later.",
                )
                page.headers["Retry-After"] = str(wait)
                return page_response(page)
            decision = self._count_link(token)
            if decision is not None and not decision.allowed:
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
                if page.status == 404:  # unknown, tampered or revoked: a failed credential
                    throttle.failed(request.client_ip)
        except RateLimitUnavailable:
            page = self.portal.error_page(503, "The portal is unavailable. Please try again later.")
        except Exception:
            logger.exception("unexpected error opening the client portal")
            page = self.portal.error_page(500, "Something went wrong. Please try again later.")
        return page_response(page)
