"""The HTML pages of the portal: what a client's browser sees.

Every page is rendered here, from the templates, in the tenant's branding
whenever the tenant is known (a signed-in client, a token with a valid
signature, a signed "signed out" link) and in the default branding otherwise.
Pages never contain a usable portal token: signed-in pages link to
token-free paths only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .portal_content import ACTIVITY, FILES, PortalContent
from .portal_models import PortalClient
from .rendering import DEFAULT_LOCALE, Renderer
from .schemas import PortalConfig
from .settings import Settings
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
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}

#: Activity entries shown on the home page (the activity page shows more).
_HOME_ACTIVITY = 5
_ACTIVITY_PAGE = 50


class PortalPages:
    """Renders the portal's pages.

    :param configs: the tenants' configurations (branding, modules).
    :param content: the host's items and the client's activity.
    :param renderer: renders the page templates.
    :param settings: the portal's settings (paths).
    """

    def __init__(
        self,
        *,
        configs: TenantConfigs,
        content: PortalContent,
        renderer: Renderer,
        settings: Settings,
    ) -> None:
        self.configs = configs
        self.content = content
        self.renderer = renderer
        self.settings = settings

    # -- helpers ------------------------------------------------------------

    def page_locale(
        self, token_locale: str | None, tenant_id: str | None, fallback: str = DEFAULT_LOCALE
    ) -> str:
        """The language of a page: the token's (its invitation's), else the
        tenant's configured one, else ``fallback`` (the browser's best match)."""
        tenant_locale = None if tenant_id is None else self.configs.get(tenant_id).locale
        return self.renderer.negotiate(token_locale, tenant_locale, fallback)

    def config_of(self, tenant_id: str | None) -> PortalConfig:
        """The tenant's configuration, or the defaults (unbranded) when unknown."""
        return PortalConfig() if tenant_id is None else self.configs.get(tenant_id)

    def page(
        self,
        template: str,
        http_status: int,
        /,
        *,
        config: PortalConfig,
        locale: str = DEFAULT_LOCALE,
        client: PortalClient | None = None,
        **context: Any,
    ) -> PortalPage:
        """Render ``template`` with what every portal page gets (branding, paths, nav)."""
        html = self.renderer.render(
            template,
            locale=locale,
            config=config,
            client=client,
            portal_path=self.settings.portal_path,
            nav_modules=self.content.modules(config) if client else [],
            has_files=client is not None and self.content.has_files(config),
            has_activity=client is not None and config.show_activity_feed,
            **context,
        )
        return PortalPage(http_status, html, dict(PAGE_HEADERS))

    # -- signed-in pages ----------------------------------------------------

    def home(self, client: PortalClient, locale: str = DEFAULT_LOCALE) -> PortalPage:
        """The home page: welcome, each module with its item count, files, activity."""
        config = self.configs.get(client.tenant_id)
        modules = [self.content.section(client, module) for module in self.content.modules(config)]
        files = self.content.section(client, FILES) if self.content.has_files(config) else None
        activity, activity_failed = (
            self.content.activity(client, _HOME_ACTIVITY)
            if config.show_activity_feed
            else ([], False)
        )
        return self.page(
            "portal.html",
            200,
            config=config,
            locale=locale,
            client=client,
            recipient=client.recipient,
            modules=modules,
            files=files,
            activity=activity,
            activity_failed=activity_failed,
            expires_at=client.expires_at,
        )

    def section_page(
        self, client: PortalClient, module: str, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """A module's page (or the files page); 404 when the tenant has no such page."""
        config = self.configs.get(client.tenant_id)
        if module == ACTIVITY:
            return self.activity_page(client, locale)
        if not self.content.page_exists(config, module):
            return self.error(404, "This page does not exist.", client=client, locale=locale)
        section = self.content.section(client, module)
        return self.page(
            "portal_module.html",
            200,
            config=config,
            locale=locale,
            client=client,
            section=section,
            current=module,
        )

    def activity_page(self, client: PortalClient, locale: str = DEFAULT_LOCALE) -> PortalPage:
        """The client's recent activity; 404 when the tenant does not show it."""
        config = self.configs.get(client.tenant_id)
        if not config.show_activity_feed:
            return self.error(404, "This page does not exist.", client=client, locale=locale)
        activity, failed = self.content.activity(client, _ACTIVITY_PAGE)
        return self.page(
            "portal_activity.html",
            200,
            config=config,
            locale=locale,
            client=client,
            activity=activity,
            activity_failed=failed,
            current=ACTIVITY,
        )

    # -- signed-out pages ---------------------------------------------------

    def sign_in(
        self, message: str, tenant_id: str | None, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """The 401 page: open the link from the invitation email to sign in."""
        return self.page(
            "portal_sign_in.html",
            401,
            config=self.config_of(tenant_id),
            locale=locale,
            message=message,
            branded=tenant_id is not None,
        )

    def signed_out(self, tenant_id: str | None, locale: str = DEFAULT_LOCALE) -> PortalPage:
        """The page after signing out: how to come back."""
        return self.page(
            "portal_signed_out.html",
            200,
            config=self.config_of(tenant_id),
            locale=locale,
            branded=tenant_id is not None,
        )

    def expired(
        self, tenant_id: str, renew_path: str | None, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """The 410 page of an expired link, with "Email me a new link" when offered.

        :param renew_path: where the button posts, or ``None`` for no button.
        """
        return self.page(
            "portal_expired.html",
            410,
            config=self.configs.get(tenant_id),
            locale=locale,
            renew_path=renew_path,
        )

    def renewal_sent(
        self, tenant_id: str, masked_address: str, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """The page after a renewal: a new link went to ``masked_address``."""
        return self.page(
            "portal_renewal_sent.html",
            200,
            config=self.configs.get(tenant_id),
            locale=locale,
            address=masked_address,
        )

    def error(
        self,
        status: int,
        message: str,
        *,
        tenant_id: str | None = None,
        client: PortalClient | None = None,
        locale: str = DEFAULT_LOCALE,
    ) -> PortalPage:
        """An error page, branded for ``client``'s or ``tenant_id``'s tenant when given."""
        tenant = client.tenant_id if client is not None else tenant_id
        return self.page(
            "portal_error.html",
            status,
            config=self.config_of(tenant),
            locale=locale,
            client=client,
            status=status,
            message=message,
            branded=tenant is not None,
        )

    def error_page(
        self,
        status: int,
        message: str,
        *,
        locale: str | None = None,
        accept_language: str | None = None,
    ) -> PortalPage:
        """An unbranded HTML error page of the portal route, in ``locale`` (when
        installed), else the best match of ``accept_language``."""
        return self.error(
            status, message, locale=self.renderer.negotiate(locale, accept_language=accept_language)
        )
