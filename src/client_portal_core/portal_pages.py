"""The HTML pages of the portal route: what a client's browser sees."""

from __future__ import annotations

from dataclasses import dataclass, field

from .directory import Directory
from .errors import PortalInactive, TokenExpired, TokenInvalid
from .portal_tokens import PortalTokens
from .rendering import Renderer, human_date
from .schemas import SubjectType
from .tenant_config import TenantConfigs

__all__ = ["PAGE_HEADERS", "PortalPage", "PortalPages"]


@dataclass(frozen=True, slots=True)
class PortalPage:
    """An HTML page of the portal route, with its status and headers."""

    status: int
    html: str
    headers: dict[str, str] = field(default_factory=dict)


#: Headers of every portal page: never cached, never framed, no referrer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
        "frame-ancestors 'none'"
    ),
}

_ERROR_TITLES = {
    403: "Portal unavailable",
    404: "Link not valid",
    405: "Page not available",
    410: "Link expired",
    429: "Too many visits",
    503: "Portal unavailable",
}


class PortalPages:
    """Renders the portal and its error pages.

    :param tokens: verifies the links and counts accesses.
    :param configs: the tenants' configurations (branding, modules, on/off).
    :param directory: the host's contacts and companies.
    :param renderer: renders the page templates.
    """

    def __init__(
        self,
        tokens: PortalTokens,
        *,
        configs: TenantConfigs,
        directory: Directory,
        renderer: Renderer,
    ) -> None:
        self.tokens = tokens
        self.configs = configs
        self.directory = directory
        self.renderer = renderer

    def open_portal(
        self,
        token: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        record_access: bool = True,
    ) -> PortalPage:
        """The page for ``GET {portal_path}/{token}``; fires ``token_accessed`` when valid.

        Always returns a page: 200 (portal), 403 (portal switched off),
        404 (unknown, tampered, revoked, or its contact or company is no
        longer in the host's directory) or 410 (expired).

        :param record_access: False renders the page without counting an
            access, writing the outbox or firing ``token_accessed`` (``HEAD``).
        """
        try:
            row = self.tokens.verify(token)
            config = self.configs.get(row.tenant_id)
            if not config.is_active:
                raise PortalInactive()
            # A subject the host deleted loses its portal at once, not at expiry.
            recipient = self.directory.find(
                row.tenant_id, SubjectType(row.subject_type), row.subject_id
            )
            if recipient is None:
                raise TokenInvalid()
        except (TokenInvalid, TokenExpired, PortalInactive) as exc:
            return self.error_page(exc.status, exc.message)
        if record_access:
            self.tokens.record_access(row, ip, (user_agent or "")[:512] or None)
        html = self.renderer.render(
            "portal.html",
            config=config,
            recipient=recipient,
            expires_at_text=human_date(row.expires_at),
        )
        return PortalPage(200, html, dict(PAGE_HEADERS))

    def error_page(self, status: int, message: str) -> PortalPage:
        """An HTML error page of the portal route."""
        html = self.renderer.render(
            "portal_error.html",
            title=_ERROR_TITLES.get(status, "Something went wrong"),
            message=message,
            ask_for_new_link=status in (404, 410),
        )
        return PortalPage(status, html, dict(PAGE_HEADERS))
