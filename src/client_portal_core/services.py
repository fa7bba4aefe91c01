"""The use cases of the Client Portal, behind one object: :class:`ClientPortal`.

A host builds one ``ClientPortal`` per app, hands it to an adapter, and uses
its methods directly for everything that has no HTTP endpoint (API tokens,
configuration changes, retries). Nothing here knows about a web framework.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pluggy
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from . import signals
from ._defaults import DefaultPlugin
from .bulk import BulkInviter, BulkProgress, BulkReport, SubjectRef
from .errors import (
    ConfigurationError,
    InvitationFailed,
    MailDeliveryError,
    MailDeliveryUncertain,
    NotFound,
    PortalInactive,
    RecipientHasNoEmail,
    SubjectNotFound,
    TokenExpired,
    TokenInvalid,
    Unauthorized,
)
from .events import INVITATION_SENT, TOKEN_ACCESSED, TOKEN_CREATED, DomainEvent
from .hooks import make_plugin_manager
from .mail import Mailer, OutgoingEmail
from .ratelimit import RateLimiter
from .schemas import (
    IssuedPortalToken,
    PortalConfig,
    PortalConfigUpdate,
    Recipient,
    SubjectType,
    format_utc,
    utc_now,
)
from .settings import Settings
from .storage import (
    InvitationRecord,
    SqlStore,
    StoredApiToken,
    StoredPortalToken,
    TokenStore,
    build_tables,
    create_engine_from_url,
)
from .tokens import PortalTokenCodec, hash_api_token, new_api_token
from .webhooks import (
    NewWebhookEndpoint,
    WebhookDelivery,
    WebhookEndpoint,
    Webhooks,
    WebhookWorker,
)

__all__ = ["ClientPortal", "InvitationResult", "IssuedApiToken", "PortalPage", "utc_now"]

logger = logging.getLogger("client_portal_core")

_CONFIG_CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class IssuedApiToken:
    """A new API token. ``token`` is shown this once and never stored."""

    id: int
    tenant_id: str
    name: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class InvitationResult:
    """A sent invitation and the portal token it carries."""

    invitation: InvitationRecord
    token: IssuedPortalToken


@dataclass(frozen=True, slots=True)
class PortalPage:
    """An HTML page of the portal route, with its status and headers."""

    status: int
    html: str
    headers: dict[str, str] = field(default_factory=dict)


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
        "frame-ancestors 'none'"
    ),
}


class ClientPortal:
    """The Client Portal of one host app.

    :param settings: the configuration (see :class:`Settings`).
    :param plugins: pluggy plugins; at least one must implement
        ``client_portal_find_recipient`` (the host's directory).
    :param engine: a SQLAlchemy engine to use instead of one built from
        ``settings.database_url`` (share the host's engine this way). For
        SQLite prefer :func:`~client_portal_core.storage.create_engine_from_url`,
        which makes concurrent writers queue instead of failing.
    :param session_factory: the host's ``sessionmaker``; the library uses
        its bound engine (and its own short transactions on it).
    :param clock: returns the current aware UTC time; inject one in tests.
    :param mailer: a mailer to use instead of the ``client_portal_mailer`` hook's.
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
    ) -> None:
        self.settings = settings
        self.clock = clock
        if engine is None and session_factory is not None:
            bind = session_factory.kw.get("bind")
            if not isinstance(bind, Engine):
                raise ConfigurationError(
                    "session_factory must be a sessionmaker bound to an Engine"
                )
            engine = bind
        self.engine = engine or create_engine_from_url(settings.database_url)
        self.tables = build_tables(settings.table_prefix)
        self.store = SqlStore(
            self.engine,
            self.tables,
            first_attempt_delay=timedelta(seconds=settings.webhook_retry_schedule[0]),
        )
        self.codec = PortalTokenCodec(settings.key_bytes())
        # tenant id -> (monotonic expiry, config); see Settings.config_cache_seconds.
        self._config_cache: dict[str, tuple[float, PortalConfig]] = {}
        self.plugin_manager: pluggy.PluginManager = make_plugin_manager(
            tuple(plugins),
            defaults=(DefaultPlugin(self.store),),
            load_entry_points=settings.load_entry_points,
        )
        hook = self.plugin_manager.hook
        if not hook.client_portal_find_recipient.get_hookimpls():
            raise ConfigurationError(
                "no directory plugin: register a plugin implementing "
                "client_portal_find_recipient so the portal can find contacts and companies"
            )
        self.mailer: Mailer = mailer or hook.client_portal_mailer(settings=settings)
        self.token_store: TokenStore = hook.client_portal_token_store(
            settings=settings, sql_store=self.store
        )
        self.rate_limiter = RateLimiter(
            settings.rate_limit,
            settings.rate_limit_storage,
            fail_open=settings.rate_limit_fail_open,
        )
        loaders: list[Any] = [FileSystemLoader(path) for path in settings.template_dirs]
        loaders.append(PackageLoader("client_portal_core", "templates"))
        self.templates = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
        )

    # -- schema -------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the library's tables that do not exist yet (SQLite, PostgreSQL...)."""
        self.store.create_schema()

    # -- configuration ------------------------------------------------------

    def get_config(self, tenant_id: str) -> PortalConfig:
        """The tenant's portal configuration; defaults when it never set one.

        Served from a per-process cache for ``settings.config_cache_seconds``.
        """
        ttl = self.settings.config_cache_seconds
        if ttl > 0:
            cached = self._config_cache.get(tenant_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        config = self._load_config(tenant_id)
        self._cache_config(tenant_id, config)
        return config

    def _load_config(self, tenant_id: str) -> PortalConfig:
        stored = self.store.load_config(tenant_id)
        return PortalConfig() if stored is None else PortalConfig.model_validate(stored)

    def _cache_config(self, tenant_id: str, config: PortalConfig) -> None:
        ttl = self.settings.config_cache_seconds
        if ttl <= 0:
            return
        if len(self._config_cache) >= _CONFIG_CACHE_ENTRIES:
            self._config_cache.clear()  # rare: far more tenants than a process serves
        self._config_cache[tenant_id] = (time.monotonic() + ttl, config)

    def update_config(
        self, tenant_id: str, update: PortalConfigUpdate | None = None, **changes: Any
    ) -> PortalConfig:
        """Change some of the tenant's settings and return the new configuration.

        Pass a :class:`PortalConfigUpdate` or keyword arguments.

        :raises pydantic.ValidationError: a value is out of range.
        """
        patch = update or PortalConfigUpdate.model_validate(changes)
        # Patch what is stored, never a cached copy another process changed since.
        config = patch.apply_to(self._load_config(tenant_id))
        self.store.save_config(tenant_id, config.model_dump(), self.clock())
        self._cache_config(tenant_id, config)
        return config

    # -- API tokens ---------------------------------------------------------

    def create_api_token(self, tenant_id: str, name: str = "default") -> IssuedApiToken:
        """Create an API token bound to ``tenant_id``; only its hash is stored."""
        if not tenant_id or len(tenant_id) > 64:
            raise ValueError("tenant_id must be 1 to 64 characters")
        token = new_api_token()
        stored = self.store.add_api_token(
            tenant_id, name, hash_api_token(token), token[:8], self.clock()
        )
        return IssuedApiToken(id=stored.id, tenant_id=tenant_id, name=name, token=token)

    def list_api_tokens(self, tenant_id: str) -> list[StoredApiToken]:
        """The tenant's API tokens (hints only, never the tokens)."""
        return self.store.list_api_tokens(tenant_id)

    def revoke_api_token(self, tenant_id: str, token_id: int) -> bool:
        """Revoke an API token; False when the tenant has no such live token."""
        return self.store.revoke_api_token(tenant_id, token_id, self.clock())

    def authenticate(self, api_key: str | None) -> str:
        """The tenant of an API key, through the ``client_portal_authenticate`` hook.

        :raises Unauthorized: no key, or no plugin accepts it.
        """
        if not api_key:
            raise Unauthorized()
        tenant_id = self.plugin_manager.hook.client_portal_authenticate(api_key=api_key)
        if not tenant_id:
            raise Unauthorized()
        return str(tenant_id)

    # -- webhooks -----------------------------------------------------------

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        """Webhook endpoints, deliveries and redelivery of this portal's database."""
        return Webhooks(self.store, self.settings, self.clock)

    def add_webhook_endpoint(
        self, tenant_id: str, url: str, events: Iterable[str] | None = None
    ) -> NewWebhookEndpoint:
        """Add a webhook endpoint; its ``secret`` (``whsec_...``) is shown this once.

        :param events: event types to receive; all three by default.
        :raises InvalidWebhookEndpoint: bad URL or unknown event type.
        :raises UnsafeWebhookUrl: a non-public address (see ``webhook_allow_private_urls``).
        """
        return self.webhooks.add_endpoint(tenant_id, url, events)

    def list_webhook_endpoints(self, tenant_id: str) -> list[WebhookEndpoint]:
        """The tenant's webhook endpoints (never their secrets)."""
        return self.webhooks.list_endpoints(tenant_id)

    def disable_webhook_endpoint(self, tenant_id: str, endpoint_id: int) -> bool:
        """Stop sending to an endpoint; its pending deliveries wait until it is enabled."""
        return self.webhooks.set_endpoint_enabled(tenant_id, endpoint_id, False, "disabled")

    def enable_webhook_endpoint(self, tenant_id: str, endpoint_id: int) -> bool:
        """Send to an endpoint again, pending deliveries included."""
        return self.webhooks.set_endpoint_enabled(tenant_id, endpoint_id, True)

    def remove_webhook_endpoint(self, tenant_id: str, endpoint_id: int) -> bool:
        """Delete an endpoint with its deliveries; False if the tenant has no such endpoint."""
        return self.webhooks.remove_endpoint(tenant_id, endpoint_id)

    def list_webhook_deliveries(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[WebhookDelivery]:
        """The tenant's webhook deliveries, newest first; ``status``: pending, delivered, failed."""
        return self.webhooks.list_deliveries(tenant_id, status=status, limit=limit)

    def prune_webhook_history(self, older_than: timedelta = timedelta(days=30)) -> int:
        """Delete delivered and failed webhook messages older than ``older_than``
        (every tenant; pending ones are kept); returns how many. Run it from a
        periodic job: the outbox otherwise keeps every event forever."""
        return self.webhooks.prune(older_than)

    def redeliver_webhook(self, tenant_id: str, delivery_id: int) -> bool:
        """Send a finished (usually ``failed``) delivery again, same ``webhook-id``."""
        return self.webhooks.redeliver(tenant_id, delivery_id)

    def start_webhook_worker(self, poll_interval: float = 1.0) -> WebhookWorker:
        """Start delivering webhooks from a background thread of this process.

        For development and small hosts; production runs
        ``client-portal webhook-worker`` instead. Requests never wait for it.
        """
        worker: WebhookWorker | None = getattr(self, "_webhook_worker", None)
        if worker is None:
            worker = WebhookWorker(
                self.store, self.settings, clock=self.clock, poll_interval=poll_interval
            )
            self._webhook_worker: WebhookWorker | None = worker
        worker.start()
        return worker

    def stop_webhook_worker(self, timeout: float | None = 10.0) -> None:
        """Stop the background worker started by :meth:`start_webhook_worker`."""
        worker: WebhookWorker | None = getattr(self, "_webhook_worker", None)
        if worker is not None:
            self._webhook_worker = None
            worker.stop(timeout)
            worker.close()

    # -- directory ----------------------------------------------------------

    def find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient:
        """The tenant's contact or company, through the directory hook.

        :raises SubjectNotFound: the directory has none in this tenant.
        """
        recipient = self.plugin_manager.hook.client_portal_find_recipient(
            tenant_id=tenant_id, subject_type=subject_type, subject_id=subject_id
        )
        if recipient is None:
            raise SubjectNotFound(subject_type.value, subject_id)
        return recipient  # type: ignore[no-any-return]

    # -- portal tokens ------------------------------------------------------

    def portal_url(self, token: str) -> str:
        """The full portal URL of a token."""
        return f"{self.settings.public_url}{self.settings.portal_path}/{token}"

    def _issue(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> IssuedPortalToken:
        now = self.clock()
        # Unsealing costs a decryption: remember each token unsealed or minted
        # here so the answer below does not pay for it twice.
        known: dict[str, str] = {}

        def is_usable(row: StoredPortalToken) -> bool:
            if row.revoked_at is not None or row.expires_at <= now:
                return False
            token = self.codec.unseal(row.sealed)
            if token is not None:
                known[row.sealed] = token
            return token is not None

        # Read before the store's write transaction: mint() runs inside it, and
        # a second pooled connection there could exhaust the pool under load.
        days = self.get_config(tenant_id).token_expiration_days

        def mint() -> tuple[Any, datetime, datetime]:
            created_at = self.clock().replace(microsecond=0)
            new = self.codec.mint()
            known[new.sealed] = new.token
            return new, created_at, created_at + timedelta(days=days)

        def events(row: StoredPortalToken) -> list[DomainEvent]:
            return [DomainEvent(TOKEN_CREATED, tenant_id, row.created_at, self._token_data(row))]

        row, created = self.token_store.get_or_create_token(
            tenant_id,
            subject_type.value,
            subject_id,
            is_usable=is_usable,
            mint=mint,
            events=events,
        )
        token = known.get(row.sealed) or self.codec.unseal(row.sealed)
        if token is None:  # pragma: no cover - is_usable already checked it
            raise RuntimeError("stored portal token cannot be unsealed")
        if created:
            signals.send_safely(
                signals.token_created,
                self,
                tenant_id=tenant_id,
                token_id=row.id,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                created_at=row.created_at,
                expires_at=row.expires_at,
            )
        return IssuedPortalToken(
            token=token,
            url=self.portal_url(token),
            expires_at=row.expires_at,
            token_id=row.id,
            created=created,
        )

    @staticmethod
    def _token_data(row: StoredPortalToken) -> dict[str, Any]:
        return {
            "tenant_id": row.tenant_id,
            "token_id": row.id,
            "subject_type": row.subject_type,
            "subject_id": row.subject_id,
            "created_at": format_utc(row.created_at),
            "expires_at": format_utc(row.expires_at),
        }

    def get_or_create_token(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> IssuedPortalToken:
        """The subject's valid portal token, or a new one when none is valid.

        While a token is valid every call returns it unchanged (same string,
        same ``expires_at``); ``token_created`` fires only for a new one.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        kind = SubjectType(subject_type)
        recipient = self.find_recipient(tenant_id, kind, str(subject_id))
        return self._issue(tenant_id, kind, recipient.id)

    def verify_token(self, token: str) -> StoredPortalToken:
        """Check a portal token: signature first, then one indexed lookup.

        :raises TokenInvalid: tampered, unknown or revoked (no query when tampered).
        :raises TokenExpired: it was valid and has expired.
        """
        row = self.token_store.find_token_by_lookup_hash(self.codec.verify(token))
        if row is None or row.revoked_at is not None:
            raise TokenInvalid()
        if row.expires_at <= self.clock():
            raise TokenExpired()
        return row

    def revoke_token(self, tenant_id: str, token_id: int) -> bool:
        """Revoke one of the tenant's portal tokens; its links answer 404 from now on."""
        return self.token_store.revoke_token(tenant_id, token_id, self.clock())

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
            row = self.verify_token(token)
            config = self.get_config(row.tenant_id)
            if not config.is_active:
                raise PortalInactive()
            # A subject the host deleted loses its portal at once, not at expiry.
            recipient = self.plugin_manager.hook.client_portal_find_recipient(
                tenant_id=row.tenant_id,
                subject_type=SubjectType(row.subject_type),
                subject_id=row.subject_id,
            )
            if recipient is None:
                raise TokenInvalid()
        except (TokenInvalid, TokenExpired, PortalInactive) as exc:
            return self.error_page(exc.status, exc.message)
        if record_access:
            self._record_access(row, ip, (user_agent or "")[:512] or None)
        html = self.templates.get_template("portal.html").render(
            config=config, recipient=recipient, expires_at_text=_human_date(row.expires_at)
        )
        return PortalPage(200, html, dict(_PAGE_HEADERS))

    def _record_access(
        self, row: StoredPortalToken, ip: str | None, user_agent: str | None
    ) -> None:
        """Count one access, with its outbox event, then fire ``token_accessed``."""
        accessed_at = self.clock()

        def events(stored: StoredPortalToken) -> list[DomainEvent]:
            data = {
                "tenant_id": stored.tenant_id,
                "token_id": stored.id,
                "subject_type": stored.subject_type,
                "subject_id": stored.subject_id,
                "accessed_at": format_utc(accessed_at),
                "ip": ip,
                "user_agent": user_agent,
            }
            return [DomainEvent(TOKEN_ACCESSED, stored.tenant_id, accessed_at, data)]

        self.token_store.record_token_access(row.id, accessed_at, events)
        signals.send_safely(
            signals.token_accessed,
            self,
            tenant_id=row.tenant_id,
            token_id=row.id,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            accessed_at=accessed_at,
            ip=ip,
            user_agent=user_agent,
        )

    def error_page(self, status: int, message: str) -> PortalPage:
        """An HTML error page of the portal route."""
        titles = {
            403: "Portal unavailable",
            404: "Link not valid",
            405: "Page not available",
            410: "Link expired",
            429: "Too many visits",
            503: "Portal unavailable",
        }
        html = self.templates.get_template("portal_error.html").render(
            title=titles.get(status, "Something went wrong"),
            message=message,
            ask_for_new_link=status in (404, 410),
        )
        return PortalPage(status, html, dict(_PAGE_HEADERS))

    # -- invitations --------------------------------------------------------

    def invite(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str | int,
        custom_message: str | None = None,
    ) -> InvitationResult:
        """Email the subject an invitation with its (possibly new) portal token.

        The invitation is recorded before sending and marked ``sent`` or
        ``failed`` after, so a failed send is never lost (see
        :meth:`retry_invitation`).

        :raises SubjectNotFound: no such contact or company in the tenant.
        :raises RecipientHasNoEmail: it exists but has no email.
        :raises InvitationFailed: the mailer failed; the record says why.
        """
        kind = SubjectType(subject_type)
        return self._deliver(*self._prepare_invitation(tenant_id, kind, subject_id, custom_message))

    def _prepare_invitation(
        self,
        tenant_id: str,
        kind: SubjectType,
        subject_id: str | int,
        custom_message: str | None,
    ) -> tuple[InvitationRecord, Recipient, IssuedPortalToken]:
        """Find the recipient, get or create its token, record a ``pending`` invitation.

        Shared by :meth:`invite` and bulk invitations; :meth:`_deliver` sends it.
        """
        recipient, email, issued = self._invitable(tenant_id, kind, str(subject_id))
        record = self.store.add_invitation(
            tenant_id,
            kind.value,
            recipient.id,
            email,
            issued.token_id,
            custom_message,
            self.clock(),
        )
        return record, recipient, issued

    def retry_invitation(self, tenant_id: str, invitation_id: int) -> InvitationResult:
        """Send an invitation again (usually a ``failed`` one), with a valid token.

        A ``sent`` invitation is sent again too: that is how a host resends.

        :raises NotFound: the tenant has no such invitation.
        :raises InvitationFailed: it failed again.
        """
        record = self.store.get_invitation(tenant_id, invitation_id)
        if record is None:
            raise NotFound("Invitation not found")
        recipient, _email, issued = self._invitable(
            tenant_id, SubjectType(record.subject_type), record.subject_id
        )
        return self._deliver(record, recipient, issued)

    def _invitable(
        self, tenant_id: str, kind: SubjectType, subject_id: str
    ) -> tuple[Recipient, str, IssuedPortalToken]:
        """The recipient, its email address (required) and its valid token.

        :raises SubjectNotFound: no such subject in the tenant.
        :raises RecipientHasNoEmail: it has no email address.
        """
        recipient = self.find_recipient(tenant_id, kind, subject_id)
        if not recipient.email:
            raise RecipientHasNoEmail(kind.value, recipient.id)
        return recipient, recipient.email, self._issue(tenant_id, kind, recipient.id)

    def list_invitations(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first (``status``: pending, sent, failed, unknown)."""
        return self.store.list_invitations(tenant_id, status, limit)

    def invite_many(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        *,
        custom_message: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkReport:
        """Invite many of the tenant's subjects as one resumable bulk job.

        One mail connection for the whole run when the mailer offers it;
        failures (unknown subject, no email, refused recipient) are in the
        report, not raised. See :mod:`client_portal_core.bulk`.

        :param subjects: ``(type, id)`` pairs; ``BulkInviter(portal).directory_subjects``
            lists all of a tenant's contacts or companies.
        :param progress: called with a :class:`BulkProgress` after each subject.
        """
        return BulkInviter(self).invite_many(
            tenant_id, subjects, custom_message=custom_message, progress=progress
        )

    def resume_invite_many(
        self,
        tenant_id: str,
        job_id: int,
        *,
        progress: Callable[[BulkProgress], None] | None = None,
        resend_unknown: bool = False,
        retry_failed: bool = False,
        force: bool = False,
    ) -> BulkReport:
        """Go on with an interrupted bulk job; a subject already sent is never sent again.

        See :meth:`client_portal_core.bulk.BulkInviter.resume` for the options.
        """
        return BulkInviter(self).resume(
            tenant_id,
            job_id,
            progress=progress,
            resend_unknown=resend_unknown,
            retry_failed=retry_failed,
            force=force,
        )

    def render_invitation(
        self,
        config: PortalConfig,
        recipient: Recipient,
        issued: IssuedPortalToken,
        custom_message: str | None,
    ) -> OutgoingEmail:
        """The invitation email: subject, text and autoescaped HTML from the templates."""
        context = {
            "config": config,
            "recipient": recipient,
            "portal_url": issued.url,
            "expires_at": issued.expires_at,
            "expires_at_text": _human_date(issued.expires_at),
            "custom_message": custom_message,
        }
        subject = self.templates.get_template("invitation_subject.txt").render(context)
        return OutgoingEmail(
            to=recipient.email or "",
            subject=" ".join(subject.split()),
            text=self.templates.get_template("invitation.txt").render(context),
            html=self.templates.get_template("invitation.html").render(context),
            sender=self.settings.mail_from,
        )

    def _invitation_email(
        self, record: InvitationRecord, recipient: Recipient, issued: IssuedPortalToken
    ) -> OutgoingEmail:
        config = self.get_config(record.tenant_id)
        return self.render_invitation(config, recipient, issued, record.custom_message)

    def _deliver(
        self,
        record: InvitationRecord,
        recipient: Recipient,
        issued: IssuedPortalToken,
        email: OutgoingEmail | None = None,
    ) -> InvitationResult:
        """Send the recorded invitation (``email``: already rendered) and record the outcome."""
        if email is None:
            email = self._invitation_email(record, recipient, issued)
        try:
            self.mailer.send(email)
        except MailDeliveryError as exc:
            uncertain = isinstance(exc, MailDeliveryUncertain)
            self.store.finish_invitation(
                record.id, at=self.clock(), error=exc.reason, uncertain=uncertain
            )
            raise InvitationFailed(exc.reason, record.id) from exc
        except Exception as exc:
            logger.exception("mailer %r raised an unexpected error", self.mailer)
            self.store.finish_invitation(
                record.id, at=self.clock(), error="unexpected mailer error"
            )
            raise InvitationFailed("unexpected mailer error", record.id) from exc
        sent_at = self.clock()
        data = {
            "tenant_id": record.tenant_id,
            "invitation_id": record.id,
            "subject_type": record.subject_type,
            "subject_id": record.subject_id,
            "email": email.to,
            "token_id": issued.token_id,
            "sent_at": format_utc(sent_at),
        }
        finished = self.store.finish_invitation(
            record.id,
            at=sent_at,
            error=None,
            events=[DomainEvent(INVITATION_SENT, record.tenant_id, sent_at, data)],
        )
        signals.send_safely(
            signals.invitation_sent,
            self,
            tenant_id=record.tenant_id,
            invitation_id=record.id,
            subject_type=record.subject_type,
            subject_id=record.subject_id,
            email=email.to,
            token_id=issued.token_id,
            sent_at=sent_at,
        )
        return InvitationResult(invitation=finished, token=issued)


def _human_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%B %d, %Y at %H:%M UTC")
