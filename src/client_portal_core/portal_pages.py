"""The HTML pages of the portal route: what a client's browser sees.

Pages speak the language of the invitation that carried the link (remembered
with the token), else the tenant's configured locale, else the browser's
``Accept-Language``; error messages are translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._i18n import N_
from .directory import Directory
from .errors import PortalInactive, TokenExpired, TokenInvalid
from .portal_tokens import PortalTokens
from .rendering import Renderer
from .schemas import PortalConfig, SubjectType
from .storage import StoredPortalToken
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
    403: N_("Portal unavailable"),
    404: N_("Link not valid"),
    405: N_("Page not available"),
    410: N_("Link expired"),
    429: N_("Too many visits"),
    503: N_("Portal unavailable"),
}
_DEFAULT_ERROR_TITLE = N_("Something went wrong")


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
        accept_language: str | None = None,
    ) -> PortalPage:
        """The page for ``GET {portal_path}/{token}``; fires ``token_accessed`` when valid.

        Always returns a page: 200 (portal), 403 (portal switched off),
        404 (unknown, tampered, revoked, or its contact or company is no
        longer in the host's directory) or 410 (expired).

        :param record_access: False renders the page without counting an
            access, writing the outbox or firing ``token_accessed`` (``HEAD``).
        :param accept_language: the request's ``Accept-Language`` header: the
            page's language when neither the token nor the tenant names one.
        """
        row: StoredPortalToken | None = None
        config: PortalConfig | None = None
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
            if isinstance(exc, TokenExpired):
                # The expired page is the one its recipient reads: in their language.
                row = self.tokens.find_signed(token)
                config = None if row is None else self.configs.get(row.tenant_id)
            locale = self.page_locale(row, config, accept_language)
            return self.error_page(exc.status, exc.message, locale=locale)
        if record_access:
            self.tokens.record_access(row, ip, (user_agent or "")[:512] or None)
        locale = self.page_locale(row, config, accept_language)
        html = self.renderer.render(
            "portal.html",
            locale=locale,
            config=config,
            recipient=recipient,
            expires_at=row.expires_at,
            expires_at_text=self.renderer.format_datetime(row.expires_at, locale),
        )
        return PortalPage(200, html, dict(PAGE_HEADERS))

    def page_locale(
        self,
        row: StoredPortalToken | None = None,
        config: PortalConfig | None = None,
        accept_language: str | None = None,
    ) -> str:
        """The language of a page: the token's (its invitation's), else the
        tenant's, else the best installed match of ``Accept-Language``, else English."""
        return self.renderer.negotiate(
            row.locale if row is not None else None,
            config.locale if config is not None else None,
            accept_language=accept_language,
        )

    def error_page(
        self,
        status: int,
        message: str,
        *,
        locale: str | None = None,
        accept_language: str | None = None,
    ) -> PortalPage:
        """An HTML error page of the portal route, in ``locale`` (when installed),
        else the best match of ``accept_language``; ``message`` is translated
        when the catalog has it."""
        chosen = self.renderer.negotiate(locale, accept_language=accept_language)
        translate = self.renderer.gettext
        html = self.renderer.render(
            "portal_error.html",
            locale=chosen,
            title=translate(chosen, _ERROR_TITLES.get(status, _DEFAULT_ERROR_TITLE)),
            message=translate(chosen, message),
            ask_for_new_link=status in (404, 410),
        )
        return PortalPage(status, html, dict(PAGE_HEADERS))
