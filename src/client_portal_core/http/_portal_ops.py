"""The HTML answers of the portal path: what a client's browser gets.

Every operation here answers a page and never raises: an unexpected failure
is logged and answered with a plain error page, never JSON, never a
traceback. The pages themselves come from :mod:`client_portal_core.portal_pages`,
the sessions from :mod:`client_portal_core.portal_sessions`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from limits import parse as parse_rate_limit

from .._i18n import N_
from ..errors import PortalSignInRequired, TokenInvalid
from ..portal_content import ACTIVITY, FILES
from ..portal_pages import PAGE_HEADERS, PortalPage
from ..portal_previews import is_preview_link
from ..ratelimit import RateLimitDecision, RateLimitUnavailable
from ..schemas import KNOWN_MODULES
from ._messages import HTML_TYPE, ApiRequest, HttpResponse

if TYPE_CHECKING:
    from ..services import ClientPortal

__all__ = ["PageOperation", "PortalHttp", "page_response"]

logger = logging.getLogger("client_portal_core.http")

#: A portal operation: the request in, a finished HTML response out; never raises.
PageOperation = Callable[[ApiRequest], HttpResponse]

#: Segments of ``{portal_path}/{segment}`` that name pages; tokens always hold a ".".
_PAGE_NAMES = frozenset(KNOWN_MODULES | {FILES, ACTIVITY})
_SIGNED_OUT = "signed-out"


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
            "portal_root": self._safe(self.root),
            "portal_home": self._safe(self.home),
            "portal_segment": self._safe(self.segment),
            "portal_logout": self._safe(self.logout),
            "portal_renew": self._safe(self.renew),
            # The token route's former name, for callers of HttpApi.handle.
            "open_portal": self._safe(self.open_link),
            "portal_not_found": self._safe(self.not_found),
        }

    def _safe(self, operation: Callable[[ApiRequest], PortalPage]) -> PageOperation:
        def run(request: ApiRequest) -> HttpResponse:
            try:
                page = operation(request)
            except RateLimitUnavailable:
                page = self.portal.error_page(
                    503, "The portal is unavailable. Please try again later."
                )
            except Exception:
                logger.exception("unexpected error on a client portal page")
                page = self.portal.error_page(500, "Something went wrong. Please try again later.")
            return page_response(page)

        return run

    def _locale(self, request: ApiRequest) -> str:
        return self.portal.renderer.negotiate(accept_language=request.accept_language)

    def not_found(self, request: ApiRequest) -> PortalPage:
        """The 404 page of a portal path that names nothing."""
        return self.portal.error_page(404, TokenInvalid.default_message)

    def method_not_allowed(self, allow: str, request: ApiRequest | None = None) -> HttpResponse:
        """The 405 page of a portal path called with a method it does not answer."""
        page = self.portal.error_page(
            405,
            N_("This page cannot be used that way."),
            accept_language=request.accept_language if request is not None else None,
        )
        page.headers["Allow"] = allow
        return page_response(page)

    # -- signed-in pages ----------------------------------------------------

    def root(self, request: ApiRequest) -> PortalPage:
        """``GET {portal_path}``: the home page lives at ``{portal_path}/``."""
        page = PortalPage(303, "", dict(PAGE_HEADERS))
        page.headers["Location"] = self.portal.sessions.home_path
        return page

    def _signed_in(
        self, request: ApiRequest, show: Callable[..., PortalPage], *args: str
    ) -> PortalPage:
        locale = self._locale(request)
        try:
            client = self.portal.sessions.current_client(request.cookie, locale=locale)
        except PortalSignInRequired as exc:
            page: PortalPage = exc.page
            return page
        locale = self.portal.pages.page_locale(client.locale, client.tenant_id, locale)
        return show(client, *args, locale)

    def home(self, request: ApiRequest) -> PortalPage:
        """``GET {portal_path}/``: the home page, or the 401 page."""
        return self._signed_in(request, self.portal.pages.home)

    def segment(self, request: ApiRequest) -> PortalPage:
        """``GET {portal_path}/{segment}``: a token (it holds a ".") or a page name.

        Decided here, never by the adapters' route order.
        """
        segment = request.path_params.get("segment", "")
        if "." in segment:
            return self.open_link(request)
        if segment == _SIGNED_OUT:
            query = parse_qs(request.query_string, keep_blank_values=True)
            return self.portal.sessions.signed_out_page(query, locale=self._locale(request))
        if segment in _PAGE_NAMES:
            return self._signed_in(request, self.portal.pages.section_page, segment)
        # Most likely a portal link cut short or mangled in transit: a failed credential.
        refused = self._throttled(request)
        if refused is not None:
            return refused
        self.portal.failure_throttle.failed(request.client_ip)
        return self.portal.pages.error(
            404, TokenInvalid.default_message, locale=self._locale(request)
        )

    def logout(self, request: ApiRequest) -> PortalPage:
        """``POST {portal_path}/logout`` with the page's ``csrf_token`` field."""
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return self.portal.sessions.sign_out(request.cookie, form, locale=self._locale(request))

    # -- links --------------------------------------------------------------

    def _throttled(self, request: ApiRequest) -> PortalPage | None:
        """The 429 page when the request's address opened too many links that do
        not work (``Settings.failed_credential_limit``), else ``None``."""
        wait = self.portal.failure_throttle.retry_after(request.client_ip)
        if not wait:
            return None
        page = self.portal.pages.error(
            429,
            N_(
                "Too many links that do not work were opened from your address. "
                "Please try again later."
            ),
            locale=self._locale(request),
        )
        page.headers["Retry-After"] = str(wait)
        return page

    def _count_link(self, token: str) -> RateLimitDecision | None:
        """Count one view of the link ``token`` names; ``None`` when it names none.

        Counted per link, keyed on its lookup hash (what identifies the
        token, not how it is spelled): a link shared or leaked too widely
        cannot turn into an unbounded stream of access writes. A string that
        is no token costs one HMAC and answers 404 without counting here.
        """
        if is_preview_link(token):
            # Only its canonical spelling opens anything (checked when opened).
            key = "preview:" + hashlib.sha256(token.encode()).hexdigest()
            return self.portal.rate_limiter.hit(key, item=self._portal_rate)
        try:
            lookup_hash = self.portal.codec.verify(token)
        except TokenInvalid:
            return None
        return self.portal.rate_limiter.hit("portal:" + lookup_hash, item=self._portal_rate)

    def open_link(self, request: ApiRequest) -> PortalPage:
        """``GET {portal_path}/{token}``: 303 home with a session cookie when valid
        (a staff preview's link opens a preview session)."""
        params = request.path_params
        token = params.get("segment") or params.get("token", "")
        refused = self._throttled(request)
        if refused is not None:
            return refused
        decision = self._count_link(token)
        if decision is not None and not decision.allowed:
            page = self.portal.pages.error(
                429,
                N_("This link was opened too often. Please try again in a minute."),
                locale=self._locale(request),
            )
            page.headers["Retry-After"] = str(decision.reset_after)
            return page
        opener: Callable[..., PortalPage] = self.portal.sessions.open_link
        if is_preview_link(token):  # a staff preview's link (id.timestamp.signature)
            opener = self.portal.previews.open_link
        page = opener(
            token,
            cookie=request.cookie,
            ip=request.client_ip,
            user_agent=request.user_agent,
            record_access=request.method != "HEAD",
            locale=self._locale(request),
        )
        if page.status == 404:  # unknown, tampered or revoked: a failed credential
            self.portal.failure_throttle.failed(request.client_ip)
        return page

    def renew(self, request: ApiRequest) -> PortalPage:
        """``POST {portal_path}/{token}/renew``: "Email me a new link"."""
        token = request.path_params.get("token", "")
        return self.portal.renewal.renew(token, locale=self._locale(request))
