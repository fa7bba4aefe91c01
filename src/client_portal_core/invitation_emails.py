"""The invitation and renewal emails: rendered from the templates, in the
tenant's branding and the recipient's language (:class:`InvitationEmails`).

Rendering writes nothing: :meth:`InvitationEmails.preview` shows the email a
subject would get now without minting a token or recording an invitation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from .directory import Directory
from .errors import RecipientHasNoEmail, ValidationFailed
from .mail import OutgoingEmail, format_sender
from .portal_tokens import PortalTokens
from .rendering import Renderer
from .schemas import (
    IssuedPortalToken,
    PortalConfig,
    Recipient,
    SubjectType,
    unknown_locale_message,
)
from .settings import Settings
from .storage import InvitationRecord
from .tenant_config import TenantConfigs

__all__ = ["AUTOMATED_EMAIL_HEADERS", "PREVIEW_TOKEN", "RENEWAL", "InvitationEmails"]

#: The ``kind`` of a renewal invitation (the others are ``invitation``).
RENEWAL = "renewal"

#: Headers of every invitation: an automated message, so no auto-replies
#: (RFC 3834; ``X-Auto-Response-Suppress`` for Exchange and Outlook).
AUTOMATED_EMAIL_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
#: What a preview puts where the token goes: as long as a real one, and opens nothing.
PREVIEW_TOKEN = "PREVIEW-ONLY.this-is-not-a-portal-link.it-opens-nothing.0000000000000"


class InvitationEmails:
    """Renders invitation and renewal emails, and previews them.

    :param configs: the tenants' configurations (branding, default locale).
    :param directory: the host's contacts and companies (for previews).
    :param tokens: builds portal URLs.
    :param renderer: renders the email templates.
    :param settings: the portal's settings (``mail_from``).
    :param clock: the portal's clock (a preview's expiry).
    """

    def __init__(
        self,
        *,
        configs: TenantConfigs,
        directory: Directory,
        tokens: PortalTokens,
        renderer: Renderer,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.configs = configs
        self.directory = directory
        self.tokens = tokens
        self.renderer = renderer
        self.settings = settings
        self.clock = clock

    def check_locale(self, locale: str | None) -> str | None:
        """The installed catalog ``locale`` asks for (``None`` stays ``None``).

        :raises ValidationFailed: it names no installed catalog (422, field ``locale``).
        """
        if locale is None:
            return None
        match = self.renderer.match_locale(locale)
        if match is None:
            message = unknown_locale_message(locale, self.renderer.locales)
            raise ValidationFailed({"locale": [message]})
        return match

    def render(
        self,
        config: PortalConfig,
        recipient: Recipient,
        issued: IssuedPortalToken,
        custom_message: str | None,
        locale: str | None = None,
    ) -> OutgoingEmail:
        """The invitation email: subject, text and autoescaped HTML from the templates.

        In ``locale`` if installed, else the tenant's ``config.locale``, else
        English. From: the tenant's portal name at ``Settings.mail_from``'s
        address; Reply-To: the tenant's ``reply_to``.
        """
        return self._render(
            config, recipient, issued.url, issued.expires_at, custom_message, locale
        )

    def _render(
        self,
        config: PortalConfig,
        recipient: Recipient,
        portal_url: str,
        expires_at: datetime,
        custom_message: str | None,
        locale: str | None,
        *,
        preview: bool = False,
        template: str = "invitation",
        previous_expires_at: datetime | None = None,
    ) -> OutgoingEmail:
        """One email of ``template`` (``invitation`` or ``renewal``): its subject,
        text and HTML templates, sender, Reply-To and headers."""
        chosen = self.renderer.negotiate(locale, config.locale)
        sender_address = parseaddr(self.settings.mail_from)[1]
        context: dict[str, Any] = {
            "config": config,
            "recipient": recipient,
            "portal_url": portal_url,
            "expires_at": expires_at,
            "expires_at_text": self.renderer.format_datetime(expires_at, chosen),
            "custom_message": custom_message,
            "sender_address": sender_address,
            "preview": preview,
            "previous_expires_at": previous_expires_at,
        }
        render = self.renderer.render
        subject = render(f"{template}_subject.txt", locale=chosen, **context)
        return OutgoingEmail(
            to=recipient.email or "",
            subject=" ".join(subject.split()),
            text=render(f"{template}.txt", locale=chosen, **context),
            html=render(f"{template}.html", locale=chosen, **context),
            sender=format_sender(config.portal_name, sender_address),
            reply_to=config.reply_to,
            headers=dict(AUTOMATED_EMAIL_HEADERS),
        )

    def preview(
        self,
        tenant_id: str,
        subject_type: SubjectType | str,
        subject_id: str | int,
        custom_message: str | None = None,
        locale: str | None = None,
    ) -> OutgoingEmail:
        """The invitation the subject would get now, rendered and not sent.

        Nothing is written or minted: no token (the link is the placeholder
        :data:`PREVIEW_TOKEN`, which opens nothing), no invitation record, no
        signal. The expiry shown is the tenant's token lifetime from now.

        :raises ValidationFailed: ``locale`` names no installed catalog.
        :raises SubjectNotFound: no such contact or company in the tenant.
        :raises RecipientHasNoEmail: it exists but has no email.
        """
        kind = SubjectType(subject_type)
        chosen = self.check_locale(locale)
        recipient = self.directory.require(tenant_id, kind, str(subject_id))
        if not recipient.email:
            raise RecipientHasNoEmail(kind.value, recipient.id)
        config = self.configs.get(tenant_id)
        expires_at = self.clock().replace(microsecond=0) + timedelta(
            days=config.token_expiration_days
        )
        url = self.tokens.portal_url(PREVIEW_TOKEN)
        return self._render(
            config, recipient, url, expires_at, custom_message, chosen, preview=True
        )

    def render_renewal(
        self,
        config: PortalConfig,
        recipient: Recipient,
        issued: IssuedPortalToken,
        previous_expires_at: datetime | None,
        locale: str | None = None,
    ) -> OutgoingEmail:
        """The renewal email (``renewal_subject.txt``, ``renewal.txt``, ``renewal.html``):
        the new link, and when the old one stops working."""
        return self._render(
            config,
            recipient,
            issued.url,
            issued.expires_at,
            None,
            locale,
            template="renewal",
            previous_expires_at=previous_expires_at,
        )

    def email_for(
        self, record: InvitationRecord, recipient: Recipient, issued: IssuedPortalToken
    ) -> OutgoingEmail:
        """The email of a recorded invitation (or renewal), in its tenant's branding
        and its language."""
        config = self.configs.get(record.tenant_id)
        if record.kind == RENEWAL:
            return self.render_renewal(
                config, recipient, issued, record.previous_expires_at, record.locale
            )
        return self.render(config, recipient, issued, record.custom_message, record.locale)
