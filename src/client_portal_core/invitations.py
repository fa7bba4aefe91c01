"""Invitations: email a subject its portal link, recorded from ``pending`` to its outcome.

An invitation is recorded before the mail is sent and marked ``sent``,
``failed`` or ``unknown`` after, so a failed send is never lost (see
:meth:`Invitations.retry`). ``invitation_sent`` is written to the outbox in
the transaction that marks it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from limits import parse as parse_rate_limit

from . import signals
from .directory import Directory
from .errors import (
    InvitationFailed,
    InvitationRateLimited,
    MailDeliveryError,
    MailDeliveryUncertain,
    NotFound,
    RecipientHasNoEmail,
)
from .events import INVITATION_SENT, DomainEvent
from .mail import Mailer, OutgoingEmail
from .portal_tokens import PortalTokens
from .ratelimit import RateLimiter
from .rendering import Renderer, human_date
from .schemas import IssuedPortalToken, PortalConfig, Recipient, SubjectType, format_utc
from .settings import Settings
from .storage import InvitationRecord, InvitationStore
from .tenant_config import TenantConfigs
from .validation import require_custom_message

__all__ = ["InvitationResult", "Invitations"]

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
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.configs = configs
        self.directory = directory
        self.mailer = mailer
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.limiter = limiter
        self._invite_rate = (
            None if settings.invite_limit is None else parse_rate_limit(settings.invite_limit)
        )

    def invite(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str | int,
        custom_message: str | None = None,
    ) -> InvitationResult:
        """Email the subject an invitation with its (possibly new) portal token.

        :raises SubjectNotFound: no such contact or company in the tenant (or
            an id the directory is never asked about, see :mod:`.validation`).
        :raises RecipientHasNoEmail: it exists but has no email.
        :raises InvalidInput: a ``custom_message`` the library refuses.
        :raises InvitationFailed: the mailer failed; the record says why.
        """
        kind = SubjectType(subject_type)
        return self.deliver(*self.prepare(tenant_id, kind, subject_id, custom_message))

    def prepare(
        self,
        tenant_id: str,
        kind: SubjectType,
        subject_id: str | int,
        custom_message: str | None,
    ) -> tuple[InvitationRecord, Recipient, IssuedPortalToken]:
        """Find the recipient, get or create its token, record a ``pending`` invitation.

        Shared by :meth:`invite` and bulk invitations; :meth:`deliver` sends it.

        :raises InvalidInput: ``custom_message`` is too long or holds control
            or bidirectional formatting characters (nothing is recorded).
        :raises InvitationRateLimited: the subject was invited ``invite_limit``
            times in this window (nothing is recorded).
        """
        custom_message = require_custom_message(custom_message)
        recipient = self.directory.require(tenant_id, kind, subject_id)
        self._count_invitation(tenant_id, kind, recipient.id)
        recipient, email, issued = self._invitable(tenant_id, kind, recipient.id, recipient)
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
        return recipient, recipient.email, self.tokens.issue(tenant_id, kind, recipient.id)

    def list_invitations(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first (``status``: pending, sent, failed, unknown)."""
        return self.store.list_invitations(tenant_id, status, limit)

    def render(
        self,
        config: PortalConfig,
        recipient: Recipient,
        issued: IssuedPortalToken,
        custom_message: str | None,
    ) -> OutgoingEmail:
        """The invitation email: subject, text and autoescaped HTML from the templates."""
        context: dict[str, Any] = {
            "config": config,
            "recipient": recipient,
            "portal_url": issued.url,
            "expires_at": issued.expires_at,
            "expires_at_text": human_date(issued.expires_at),
            "custom_message": custom_message,
        }
        render = self.renderer.render
        subject = render("invitation_subject.txt", **context)
        return OutgoingEmail(
            to=recipient.email or "",
            subject=" ".join(subject.split()),
            text=render("invitation.txt", **context),
            html=render("invitation.html", **context),
            sender=self.settings.mail_from,
        )

    def email_for(
        self, record: InvitationRecord, recipient: Recipient, issued: IssuedPortalToken
    ) -> OutgoingEmail:
        """The email of a recorded invitation, in its tenant's branding."""
        config = self.configs.get(record.tenant_id)
        return self.render(config, recipient, issued, record.custom_message)

    def deliver(
        self,
        record: InvitationRecord,
        recipient: Recipient,
        issued: IssuedPortalToken,
        email: OutgoingEmail | None = None,
    ) -> InvitationResult:
        """Send the recorded invitation (``email``: already rendered) and record the outcome."""
        if email is None:
            email = self.email_for(record, recipient, issued)
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
