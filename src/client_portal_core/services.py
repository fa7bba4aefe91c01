"""The Client Portal of one host app, behind one object: :class:`ClientPortal`.

A host builds one ``ClientPortal`` per app, hands it to an adapter, and uses
its methods directly for everything that has no HTTP endpoint (API tokens,
configuration changes, retries). Nothing here knows about a web framework.

``ClientPortal`` is a facade: it builds one service per capability and hands
each what it needs (:mod:`.tenant_config`, :mod:`.api_tokens`,
:mod:`.portal_tokens`, :mod:`.invitations`, :mod:`.bulk`,
:mod:`.portal_content`, :mod:`.portal_pages`, :mod:`.portal_sessions`,
:mod:`.portal_renewal`, :mod:`.portal_previews`, :mod:`.webhooks`,
:mod:`.management`, :mod:`.renewal`);
its methods are one-line shortcuts to them. No capability imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from ._assembly import PortalParts
from .api_tokens import IssuedApiToken
from .bulk import BulkProgress, BulkReport, SubjectRef
from .invitations import InvitationResult
from .key_rotation import KeyRotation, RotationReport
from .mail import OutgoingEmail
from .portal_pages import PortalPage
from .portal_previews import PreviewLink
from .renewal import RenewalReport
from .schema_creation import create_schema
from .schemas import (
    IssuedPortalToken,
    PortalConfig,
    PortalConfigUpdate,
    Recipient,
    SubjectType,
    utc_now,
)
from .scopes import ApiPrincipal, Scope
from .storage import (
    InvitationRecord,
    StoredApiToken,
    StoredPortalToken,
)
from .webhooks import (
    NewWebhookEndpoint,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookWorker,
)

__all__ = ["ClientPortal", "InvitationResult", "IssuedApiToken", "PortalPage", "utc_now"]

logger = logging.getLogger("client_portal_core.plugins")


class ClientPortal(PortalParts):
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
    :param monotonic: seconds from a monotonic clock, for what ages by elapsed
        time (the configuration cache, the rate limiter's outage window);
        ``time.monotonic`` by default, inject one in tests.

    The capabilities are attributes: :attr:`configs`, :attr:`api_tokens`,
    :attr:`tokens`, :attr:`invitations`, :attr:`bulk`, :attr:`content`,
    :attr:`pages`, :attr:`sessions`, :attr:`renewal` (a client asking for a new
    link), :attr:`previews` (staff previews), :attr:`accesses`, :attr:`webhooks`,
    :attr:`management` (the paginated lists) and :attr:`renewals` (links
    renewed before they expire).
    """

    # -- schema -------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the library's tables that do not exist yet (SQLite, PostgreSQL...)."""
        create_schema(self.db)

    # -- configuration ------------------------------------------------------

    def get_config(self, tenant_id: str) -> PortalConfig:
        """The tenant's portal configuration; defaults when it never set one.

        Served from a per-process cache for ``settings.config_cache_seconds``.
        """
        return self.configs.get(tenant_id)

    def update_config(
        self, tenant_id: str, update: PortalConfigUpdate | None = None, **changes: Any
    ) -> PortalConfig:
        """Change some of the tenant's settings and return the new configuration.

        Pass a :class:`PortalConfigUpdate` or keyword arguments.

        :raises pydantic.ValidationError: a value is out of range.
        """
        return self.configs.update(tenant_id, update, **changes)

    # -- API tokens ---------------------------------------------------------

    def create_api_token(
        self,
        tenant_id: str,
        name: str = "default",
        scopes: Iterable[str | Scope] | None = None,
    ) -> IssuedApiToken:
        """Create an API token bound to ``tenant_id``; only its hash is stored.

        :param scopes: what it may do, among ``read``, ``invite`` and
            ``admin`` (see :mod:`client_portal_core.scopes`); all three by default.
        :raises ValueError: an unknown scope, or none.
        """
        return self.api_tokens.create(tenant_id, name, scopes)

    def list_api_tokens(self, tenant_id: str) -> list[StoredApiToken]:
        """The tenant's API tokens (hints only, never the tokens)."""
        return self.api_tokens.list_tokens(tenant_id)

    def revoke_api_token(self, tenant_id: str, token_id: int) -> bool:
        """Revoke an API token; False when the tenant has no such live token."""
        return self.api_tokens.revoke(tenant_id, token_id)

    def authenticate(self, api_key: str | None) -> str:
        """The tenant of an API key, through the ``client_portal_authenticate`` hook.

        :raises Unauthorized: no key, or no plugin accepts it.
        """
        return self.api_tokens.authenticate(api_key)

    def authenticate_principal(self, api_key: str | None) -> ApiPrincipal:
        """The tenant and scopes of an API key, through the ``client_portal_authenticate`` hook.

        :raises Unauthorized: no key, or no plugin accepts it.
        """
        return self.api_tokens.principal(api_key)

    # -- keys ---------------------------------------------------------------

    def rotate_keys(self, *, remint_old_links: bool = False) -> RotationReport:
        """Re-seal stored webhook secrets and portal tokens under the newest key.

        See :mod:`client_portal_core.key_rotation`; ``remint_old_links`` gives
        subjects whose token an old key signed a new link (links change).
        """
        return KeyRotation(self.db, self.settings, self.clock).rotate(
            remint_old_links=remint_old_links
        )

    # -- webhooks -----------------------------------------------------------

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
        worker = self._webhook_worker
        if worker is None:
            worker = WebhookWorker(
                self.db, self.settings, clock=self.clock, poll_interval=poll_interval
            )
            self._webhook_worker = worker
        worker.start()
        return worker

    def stop_webhook_worker(self, timeout: float | None = 10.0) -> None:
        """Stop the background worker started by :meth:`start_webhook_worker`."""
        worker = self._webhook_worker
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
        return self.directory.require(tenant_id, subject_type, subject_id)

    # -- portal tokens ------------------------------------------------------

    def portal_url(self, token: str) -> str:
        """The full portal URL of a token."""
        return self.tokens.portal_url(token)

    def get_or_create_token(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> IssuedPortalToken:
        """The subject's valid portal token, or a new one when none is valid.

        While a token is valid every call returns it unchanged (same string,
        same ``expires_at``); ``token_created`` fires only for a new one.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        return self.tokens.get_or_create(tenant_id, subject_type, subject_id)

    def verify_token(self, token: str) -> StoredPortalToken:
        """Check a portal token: signature first, then one indexed lookup.

        :raises TokenInvalid: tampered, unknown or revoked (no query when tampered).
        :raises TokenExpired: it was valid and has expired.
        """
        return self.tokens.verify(token)

    def revoke_token(self, tenant_id: str, token_id: int) -> bool:
        """Revoke one of the tenant's portal tokens; its links answer 404 from now on,
        and the portal sessions opened with it end at their next request."""
        return self.tokens.revoke(tenant_id, token_id)

    def set_token_expiry(self, token: str, expires_at: datetime) -> StoredPortalToken:
        """Move a portal link's expiry (extend it, or end it early); see
        :meth:`PortalTokens.set_expiry`."""
        return self.tokens.set_expiry(token, expires_at)

    def revoke_subject_tokens(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> list[StoredPortalToken]:
        """Revoke every unrevoked token of a subject (``token_revoked`` for each).

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        return self.tokens.revoke_subject(tenant_id, subject_type, subject_id)

    def regenerate_token(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> IssuedPortalToken:
        """Revoke the subject's tokens and mint a new one, in one transaction.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        return self.tokens.regenerate(tenant_id, subject_type, subject_id)

    def create_preview(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> PreviewLink:
        """A read-only staff preview link of the subject's portal (15 minutes); see
        :mod:`.portal_previews`. :raises SubjectNotFound: no such subject in the tenant."""
        return self.previews.create(tenant_id, subject_type, subject_id)

    def renew_expiring_tokens(
        self, within_days: int, tenant_id: str | None = None
    ) -> RenewalReport:
        """Renew (once each) and mail every current token expiring within ``within_days``.

        ``tenant_id=None`` renews every tenant's (a cron job). See :mod:`.renewal`.
        """
        return self.renewals.renew_expiring(within_days, tenant_id)

    # -- portal pages -------------------------------------------------------

    def open_portal(
        self,
        token: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        record_access: bool = True,
        accept_language: str | None = None,
    ) -> PortalPage:
        """The answer to ``GET {portal_path}/{token}`` (a 303 with a session cookie
        when valid); see :meth:`PortalSessions.open_link`.

        :param accept_language: the request's ``Accept-Language``: the language
            of its pages when neither the token nor the tenant names one.
        """
        return self.sessions.open_link(
            token,
            ip=ip,
            user_agent=user_agent,
            record_access=record_access,
            locale=self.renderer.negotiate(accept_language=accept_language),
        )

    def error_page(
        self,
        status: int,
        message: str,
        *,
        locale: str | None = None,
        accept_language: str | None = None,
    ) -> PortalPage:
        """An HTML error page of the portal route, in ``locale`` or the browser's language."""
        return self.pages.error_page(
            status, message, locale=locale, accept_language=accept_language
        )

    # -- invitations --------------------------------------------------------

    def invite(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str | int,
        custom_message: str | None = None,
        *,
        locale: str | None = None,
    ) -> InvitationResult:
        """Email the subject an invitation with its (possibly new) portal token.

        The invitation is recorded before sending and marked ``sent`` or
        ``failed`` after, so a failed send is never lost (see
        :meth:`retry_invitation`).

        :param locale: the language of the email and of its link's portal pages
            (an installed catalog, see :attr:`Renderer.locales`); ``None``: the
            tenant's ``locale``, else English.
        :raises ValidationFailed: ``locale`` names no installed catalog.
        :raises SubjectNotFound: no such contact or company in the tenant.
        :raises RecipientHasNoEmail: it exists but has no email.
        :raises InvitationFailed: the mailer failed; the record says why.
        """
        return self.invitations.invite(
            tenant_id, subject_type, subject_id, custom_message, locale=locale
        )

    def preview_invitation(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str | int,
        custom_message: str | None = None,
        locale: str | None = None,
    ) -> OutgoingEmail:
        """The invitation email the subject would get, rendered, never sent.

        Mints, changes and records nothing: the link is a placeholder that
        opens nothing. See :meth:`InvitationEmails.preview`.
        """
        emails = self.invitations.emails
        return emails.preview(tenant_id, subject_type, subject_id, custom_message, locale)

    def retry_invitation(self, tenant_id: str, invitation_id: int) -> InvitationResult:
        """Send an invitation again (usually a ``failed`` one), with a valid token.

        A ``sent`` invitation is sent again too: that is how a host resends.

        :raises NotFound: the tenant has no such invitation.
        :raises InvitationFailed: it failed again.
        """
        return self.invitations.retry(tenant_id, invitation_id)

    def list_invitations(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first (``status``: pending, sent, failed, unknown)."""
        return self.invitations.list_invitations(tenant_id, status, limit)

    def invite_many(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        *,
        custom_message: str | None = None,
        locale: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkReport:
        """Invite many of the tenant's subjects as one resumable bulk job.

        One mail connection for the whole run when the mailer offers it;
        failures (unknown subject, no email, refused recipient) are in the
        report, not raised. See :mod:`client_portal_core.bulk`.

        :param subjects: ``(type, id)`` pairs; ``portal.bulk.directory_subjects``
            lists all of a tenant's contacts or companies.
        :param locale: the language of every email and of its link's pages
            (an installed catalog); ``None``: the tenant's.
        :param progress: called with a :class:`BulkProgress` after each subject.
        :raises ValidationFailed: ``locale`` names no installed catalog.
        """
        return self.bulk.invite_many(
            tenant_id, subjects, custom_message=custom_message, locale=locale, progress=progress
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
        return self.bulk.resume(
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
        locale: str | None = None,
    ) -> OutgoingEmail:
        """The invitation email: subject, text and autoescaped HTML from the templates."""
        return self.invitations.emails.render(config, recipient, issued, custom_message, locale)
