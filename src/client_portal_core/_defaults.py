"""The library's default plugin: API-token authentication, mailer, token store.

Registered first (as ``client_portal_core``) with every implementation
``trylast``, so any other plugin's answer wins.
"""

from __future__ import annotations

import logging

from .hooks import hookimpl
from .mail import ConsoleMailer, Mailer, OutgoingEmail, SMTPMailer
from .scopes import ApiPrincipal, Scope
from .settings import Settings
from .storage import ApiTokenStore, SqlTokenStore, TokenStore
from .tokens import API_TOKEN_PREFIX, hash_api_token

logger = logging.getLogger("client_portal_core")


class DefaultPlugin:
    """Registered first by every portal, so any other plugin overrides it."""

    def __init__(self, store: ApiTokenStore) -> None:
        self._store = store

    @hookimpl(trylast=True)
    def client_portal_authenticate(self, api_key: str) -> ApiPrincipal | None:
        # Library tokens have a fixed prefix: anything else is left to the
        # host's own authentication plugins without a database query.
        if not api_key.startswith(API_TOKEN_PREFIX):
            return None
        found = self._store.grant_for_api_token_hash(hash_api_token(api_key))
        if found is None:
            return None
        tenant_id, scopes = found
        return ApiPrincipal(tenant_id, frozenset(Scope(name) for name in scopes))

    @hookimpl(trylast=True)
    def client_portal_mailer(self, settings: Settings) -> Mailer | None:
        if settings.smtp_url:
            return SMTPMailer.from_url(settings.smtp_url)
        return _FallbackConsoleMailer()

    @hookimpl(trylast=True)
    def client_portal_token_store(
        self, settings: Settings, sql_store: SqlTokenStore
    ) -> TokenStore | None:
        return sql_store


class _FallbackConsoleMailer(ConsoleMailer):
    """The console mailer chosen for want of ``smtp_url``: says so at its first email."""

    _warned = False

    def send(self, email: OutgoingEmail) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "no smtp_url: invitation emails, portal links included, are printed to "
                "standard output by the console mailer; set smtp_url (or a mailer plugin) "
                "in production"
            )
        super().send(email)
