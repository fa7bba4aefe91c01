"""Invitations: email a subject its portal link, recorded from ``pending`` to its outcome.

An invitation is recorded before the mail is sent and marked ``sent``,
``failed`` or ``unknown`` after, so a failed send is never lost (see
:meth:`Invitations.retry`). ``invitation_sent`` (or ``invitation_failed``)
is written to the outbox in the transaction that records the outcome.

No invitation carries a dying link: when the subject's current token
expires within ``Settings.reissue_within_days``, a fresh one is minted first
(the old link stays valid until it expires). A ``renewal`` invitation (see
:mod:`client_portal_core.renewal`) has its own templates, which say when the
old link stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import parse as parse_rate_limit

from . import signals
from .async_mail import send_checked
from .directory import Directory
from .errors import (
    InvitationFailed,
    InvitationRateLimited,
    MailDeliveryError,
    MailDeliveryUncertain,
    NotFound,
    RecipientHasNoEmail,
)
from .events import INVITATION_FAILED, INVITATION_SENT, DomainEvent
from .invitation_emails import AUTOMATED_EMAIL_HEADERS, PREVIEW_TOKEN, RENEWAL, InvitationEmails
from .mail import Mailer, OutgoingEmail
from .portal_tokens import PortalTokens
from .ratelimit import RateLimiter
from .rendering import Renderer
from .schemas import (
    IssuedPortalToken,
    Recipient,
    SubjectType,
    format_utc,
)
from .settings import Settings
from .storage import InvitationRecord, InvitationStore
from .tenant_config import TenantConfigs
from .validation import require_custom_message

__all__ = [
    "AUTOMATED_EMAIL_HEADERS",
    "PREVIEW_TOKEN",
    "RENEWAL",
    "InvitationResult",
    "Invitations",
]

logger = logging.getLogger("client_portal_core")


@dataclass(frozen=True, slots=True)
class InvitationResult:
    """A sent invitation and the portal token it carries."""

    invitation: InvitationRecord
    token: IssuedPortalToken


class Invitations:
    """Invites subjects, retries failed invitations, renders the email.

    :param store: the invitation records.
    :param tokens: the portal tokens the invitations carry.
    :param configs: the tenants' configurations (branding).
    :param directory: the host's contacts and companies.
    :param mailer: sends the emails.
    :param renderer: renders the email templates.
    :param settings: the portal's settings (sender).
    :param clock: the portal's clock.
    :param sender: the sender of the signals (the :class:`ClientPortal`).
    :param limiter: counts invitations per subject, when ``settings.invite_limit`` is set.
    :param mailer_source: who provided the mailer, as logs name it
        (``plugin 'http_mailer' (acme-mailer 1.0)``).
    """

    def __init__(
        self,
        store: InvitationStore,
        tokens: PortalTokens,
        *,
        configs: TenantConfigs,
        directory: Directory,
        mailer: Mailer,
        renderer: Renderer,
        settings: Settings,
        clock: Callable[[], datetime],
        sender: object,
        mailer_source: str = "the host",
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.mailer_source = mailer_source
        self.configs = configs
        self.directory = directory
        self.mailer = mailer
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.limiter = limiter
        #: Renders (and previews) the emails.
        self.emails = InvitationEmails(
            configs=configs,
            directory=directory,
            tokens=tokens,
            renderer=renderer,
            settings=settings,
            clock=clock,
        )
        self._invite_rate = (
            None if settings.invite_limit is None else parse_rate_limit(settings.invite_limit)
        )

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

        :param locale: the language of the email and of its link's portal
            pages (an installed catalog, ``de-AT`` matches ``de``); ``None``:
            the tenant's configured locale, else English.
        :raises ValidationFailed: ``locale`` names no installed catalog.
        :raises SubjectNotFound: no such contact or company in the tenant.
        :raises RecipientHasNoEmail: it exists but has no email.
        :raises InvitationFailed: the mailer failed; the record says why.
        """
        kind = SubjectType(subject_type)
        chosen = self.emails.check_locale(locale)
        return self.deliver(
            *self.prepare(tenant_id, kind, subject_id, custom_message, locale=chosen)
        )

    def prepare(
        self,
        tenant_id: str,
        kind: SubjectType,
        subject_id: str | int,
        custom_message: str | None,
        *,
        locale: str | None = None,
    ) -> tuple[InvitationRecord, Recipient, IssuedPortalToken]:
        """Find the recipient, get or create its token, record a ``pending`` invitation.

        Shared by :meth:`invite` and bulk invitations; :meth:`deliver` sends it.
        A ``locale`` (already checked) is remembered with the token for its pages.

        :raises InvalidInput: ``custom_message`` is too long or holds control
            or bidirectional formatting characters (nothing is recorded).
        :raises InvitationRateLimited: the subject was invited ``invite_limit``
            times in this window (nothing is recorded).
        """
        custom_message = require_custom_message(custom_message)
        recipient = self.directory.require(tenant_id, kind, subject_id)
        self._count_invitation(tenant_id, kind, recipient.id)
        recipient, email, issued = self._invitable(tenant_id, kind, recipient.id, recipient)
        if locale is not None:
            self.tokens.remember_locale(issued.token_id, locale)
        record = self.store.add_invitation(
            tenant_id,
            kind.value,
            recipient.id,
            email,
            issued.token_id,
            custom_message,
            self.clock(),
            locale=locale,
        )
        return record, recipient, issued

    def retry(self, tenant_id: str, invitation_id: int) -> InvitationResult:
        """Send an invitation again (usually a ``failed`` one), with a valid token.

        :raises NotFound: the tenant has no such invitation.
        :raises InvitationFailed: it failed again.
        """
        record = self.store.get_invitation(tenant_id, invitation_id)
        if record is None:
            raise NotFound("Invitation not found")
        recipient, _email, issued = self._invitable(
            tenant_id, SubjectType(record.subject_type), record.subject_id
        )
        if record.locale is not None:
            self.tokens.remember_locale(issued.token_id, record.locale)
        return self.deliver(record, recipient, issued)

    def _count_invitation(self, tenant_id: str, kind: SubjectType, subject_id: str) -> None:
        """Count one invitation of the subject against ``invite_limit``, if set.

        :raises InvitationRateLimited: over the limit in this window.
        """
        if self._invite_rate is None or self.limiter is None:
            return
        key = f"invite:{tenant_id}:{kind.value}:{subject_id}"
        decision = self.limiter.hit(key, item=self._invite_rate)
        if not decision.allowed:
            raise InvitationRateLimited(kind.value, subject_id, decision.reset_after)

    def _invitable(
        self,
        tenant_id: str,
        kind: SubjectType,
        subject_id: str | int,
        found: Recipient | None = None,
    ) -> tuple[Recipient, str, IssuedPortalToken]:
        """The recipient (``found``, or looked up), its email address (required)
        and its valid token.

        :raises SubjectNotFound: no such subject in the tenant.
        :raises RecipientHasNoEmail: it has no email address.
        """
        recipient = found or self.directory.require(tenant_id, kind, subject_id)
        if not recipient.email:
            raise RecipientHasNoEmail(kind.value, recipient.id)
        issued = self.tokens.issue(
            tenant_id, kind, recipient.id, fresh_for=self.reissue_window(tenant_id)
        )
        return recipient, recipient.email, issued

    def reissue_window(self, tenant_id: str) -> timedelta:
        """How soon a current token may expire and still go out in an invitation.

        ``Settings.reissue_within_days``, at most half the tenant's token
        lifetime (otherwise every invitation would mint a token); 0 is off.
        """
        days = self.settings.reissue_within_days
        if days <= 0:
            return timedelta(0)
        lifetime = self.configs.get(tenant_id).token_expiration_days
        return min(timedelta(days=days), timedelta(days=lifetime) / 2)

    def list_invitations(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first (``status``: pending, sent, failed, unknown)."""
        return self.store.list_invitations(tenant_id, status, limit)

    def record_renewal(
        self,
        tenant_id: str,
        recipient: Recipient,
        kind: SubjectType,
        issued: IssuedPortalToken,
        previous_expires_at: datetime,
    ) -> InvitationRecord:
        """Record a ``pending`` renewal invitation carrying ``issued`` (see :meth:`deliver`)."""
        return self.store.add_invitation(
            tenant_id,
            kind.value,
            recipient.id,
            recipient.email or "",
            issued.token_id,
            None,
            self.clock(),
            kind=RENEWAL,
            previous_expires_at=previous_expires_at,
        )

    def deliver(
        self,
        record: InvitationRecord,
        recipient: Recipient,
        issued: IssuedPortalToken,
        email: OutgoingEmail | None = None,
    ) -> InvitationResult:
        """Send the recorded invitation (``email``: already rendered) and record the outcome."""
        if email is None:
            email = self.emails.email_for(record, recipient, issued)
        try:
            send_checked(self.mailer.send, email)
        except MailDeliveryError as exc:
            uncertain = isinstance(exc, MailDeliveryUncertain)
            # The reason is the mailer's own, written to be shown: safe to log.
            logger.warning(
                "invitation %s of tenant %s: the mailer of %s failed (%s): %s",
                record.id,
                record.tenant_id,
                self.mailer_source,
                type(exc).__name__,
                exc.reason,
            )
            self._record_failure(record, exc.reason, uncertain=uncertain)
            raise InvitationFailed(exc.reason, record.id) from exc
        except Exception as exc:
            # Any other exception's text (and traceback) may carry the
            # mailer's credentials or the email itself: only its type is logged.
            logger.error(
                "invitation %s of tenant %s: the mailer of %s raised %s, not a "
                "MailDeliveryError (its message is not logged: it may hold secrets)",
                record.id,
                record.tenant_id,
                self.mailer_source,
                type(exc).__name__,
            )
            self._record_failure(record, "unexpected mailer error", uncertain=False)
            raise InvitationFailed("unexpected mailer error", record.id) from None
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
            self.sender,
            tenant_id=record.tenant_id,
            invitation_id=record.id,
            subject_type=record.subject_type,
            subject_id=record.subject_id,
            email=email.to,
            token_id=issued.token_id,
            sent_at=sent_at,
        )
        return InvitationResult(invitation=finished, token=issued)

    def _record_failure(self, record: InvitationRecord, error: str, *, uncertain: bool) -> None:
        """Mark the invitation ``failed`` (with ``invitation_failed``) or ``unknown``."""
        failed_at = self.clock()
        events = []
        if not uncertain:
            data = {
                "tenant_id": record.tenant_id,
                "invitation_id": record.id,
                "subject_type": record.subject_type,
                "subject_id": record.subject_id,
                "error": error,
                "failed_at": format_utc(failed_at),
            }
            events.append(DomainEvent(INVITATION_FAILED, record.tenant_id, failed_at, data))
        self.store.finish_invitation(
            record.id, at=failed_at, error=error, uncertain=uncertain, events=events
        )
        if not uncertain:
            signals.send_safely(
                signals.invitation_failed,
                self.sender,
                tenant_id=record.tenant_id,
                invitation_id=record.id,
                subject_type=record.subject_type,
                subject_id=record.subject_id,
                error=error,
                failed_at=failed_at,
            )
