"""How a :class:`~client_portal_core.ClientPortal` is put together: one service
per capability, each handed what it needs.

:class:`PortalParts` builds them; ``ClientPortal`` (:mod:`.services`) adds the
public one-line shortcuts on top. Nothing here is called by a capability.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pluggy
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ._defaults import DefaultPlugin
from .api_tokens import ApiTokens
from .async_mail import AsyncMailerBridge, is_async_mailer
from .bulk import BulkInviter
from .directory import Directory
from .errors import ConfigurationError
from .invitations import Invitations
from .key_rotation import KeyFingerprints, mark_token_unsealable
from .mail import Mailer
from .management import Management
from .pagination import CursorCodec
from .plugins import PluginReport, start_plugins
from .portal_content import PortalContent
from .portal_pages import PortalPages
from .portal_previews import StaffPreviews
from .portal_renewal import PortalRenewal
from .portal_sessions import PortalSessions
from .portal_tokens import PortalTokens
from .ratelimit import FailureThrottle, RateLimiter
from .rendering import Renderer
from .renewal import Renewals
from .schemas import utc_now
from .settings import Settings
from .storage import (
    AccessStore,
    ApiTokenStore,
    ConfigStore,
    Database,
    InvitationStore,
    OutboxEventSink,
    PreviewStore,
    SessionStore,
    SqlTokenStore,
    TokenStore,
    build_tables,
    create_engine_from_url,
)
from .tenant_config import TenantConfigs
from .tokens import PortalTokenCodec
from .webhooks import Webhooks, WebhookWorker

__all__ = ["PortalParts"]

logger = logging.getLogger("client_portal_core.plugins")


class PortalParts:
    """The capabilities of one portal, built from its settings and plugins.

    See :class:`~client_portal_core.ClientPortal` for the parameters.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: Iterable[object] = (),
        engine: Engine | None = None,
        session_factory: sessionmaker[Any] | None = None,
        clock: Callable[[], datetime] = utc_now,
        mailer: Mailer | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        if engine is None and session_factory is not None:
            bind = session_factory.kw.get("bind")
            if not isinstance(bind, Engine):
                raise ConfigurationError(
                    "session_factory must be a sessionmaker bound to an Engine"
                )
            engine = bind
        self.engine = engine or create_engine_from_url(settings.database_url)
        self.tables = build_tables(settings.table_prefix)
        self.db = Database(
            self.engine,
            self.tables,
            first_attempt_delay=timedelta(seconds=settings.webhook_retry_schedule[0]),
        )
        api_token_store = ApiTokenStore(self.db)
        started = start_plugins(
            settings,
            plugins,
            defaults=(DefaultPlugin(api_token_store),),
            sql_store=SqlTokenStore(self.db),
            event_sink=OutboxEventSink(self.db),
            mailer=mailer,
        )
        self.plugin_manager: pluggy.PluginManager = started.manager
        #: What was loaded and what each hook picked (``client-portal plugins``).
        self.plugin_report: PluginReport = started.report
        logger.info("client portal %s", started.report.summary())
        hook = self.plugin_manager.hook
        chosen_mailer = started.mailer
        self.token_store: TokenStore = started.token_store
        self.rate_limiter = RateLimiter(
            settings.rate_limit,
            settings.rate_limit_storage,
            fail_open=settings.rate_limit_fail_open,
            monotonic=monotonic,
        )
        self.failure_throttle = FailureThrottle(self.rate_limiter, settings.failed_credential_limit)
        self.renderer = Renderer(settings)
        self.directory = Directory(hook)
        self.configs = TenantConfigs(
            ConfigStore(self.db),
            cache_seconds=settings.config_cache_seconds,
            clock=clock,
            locales=self.renderer,
            monotonic=monotonic,
        )
        self.api_tokens = ApiTokens(api_token_store, hook, clock)
        self.codec = PortalTokenCodec(settings.key_bytes())
        self.tokens = PortalTokens(
            self.token_store,
            self.codec,
            configs=self.configs,
            directory=self.directory,
            settings=settings,
            clock=clock,
            sender=self,
            on_unsealable=functools.partial(mark_token_unsealable, self.db),
        )
        self.key_fingerprints = KeyFingerprints(self.db, clock)
        self.invitations = Invitations(
            InvitationStore(self.db),
            self.tokens,
            configs=self.configs,
            directory=self.directory,
            mailer=chosen_mailer,
            renderer=self.renderer,
            settings=settings,
            clock=clock,
            sender=self,
            mailer_source=started.mailer_source,
            limiter=self.rate_limiter,
        )
        self.bulk = BulkInviter(self.invitations)
        self.accesses = AccessStore(self.db)
        self.content = PortalContent(hook, self.accesses)
        self.pages = PortalPages(
            configs=self.configs, content=self.content, renderer=self.renderer, settings=settings
        )
        preview_store = PreviewStore(self.db)
        self.sessions = PortalSessions(
            SessionStore(self.db),
            self.tokens,
            configs=self.configs,
            directory=self.directory,
            pages=self.pages,
            settings=settings,
            clock=clock,
            previews=preview_store,
        )
        self.previews = StaffPreviews(
            preview_store,
            self.sessions,
            self.tokens,
            accesses=self.accesses,
            configs=self.configs,
            directory=self.directory,
            pages=self.pages,
            settings=settings,
            clock=clock,
        )
        self.tokens.subject_revoked.append(self.previews.end_for_subject)
        self.renewal = PortalRenewal(
            self.tokens,
            self.invitations,
            configs=self.configs,
            directory=self.directory,
            pages=self.pages,
            limiter=self.rate_limiter,
            settings=settings,
            clock=clock,
        )
        self.renewals = Renewals(
            self.tokens, self.invitations, directory=self.directory, clock=clock
        )
        self.management = Management(
            self.tokens,
            self.invitations.store,
            self.webhooks,
            codec=CursorCodec(settings.key_bytes()),
            clock=clock,
            accesses=self.accesses,
        )
        self._webhook_worker: WebhookWorker | None = None

    @property
    def mailer(self) -> Mailer:
        """The mailer that sends invitations (assign another to replace it)."""
        return self.invitations.mailer

    @mailer.setter
    def mailer(self, mailer: Mailer) -> None:
        if is_async_mailer(mailer):
            mailer = AsyncMailerBridge(mailer)
        self.invitations.mailer = mailer
        self.invitations.mailer_source = f"the host ({type(mailer).__qualname__} assigned)"

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        """Webhook endpoints, deliveries and redelivery of this portal's database."""
        return Webhooks(self.db, self.settings, self.clock)
