"""Self-service renewal: "Email me a new link" on the expired-link page.

``POST {portal_path}/{token}/renew`` with a genuine, expired, unrevoked token
whose subject the host's directory still finds with an email sends a fresh
invitation through the normal invitation path (recorded, new token,
``invitation_sent`` and ``token_created`` as usual) to the address the
directory has *now*: the visitor never types an address. The page names
it masked (``a•••@example.com``).

Why no CSRF field: the form has no session to tie one to. What protects it
is the token itself (only someone holding a genuine link can ask, and the
link's owner is the only one who receives anything), ``SameSite=Lax``
(no cookie is involved at all), and the throttle: at most one renewal per
subject per ``portal_renewal_interval_seconds``, counted in the rate-limit
storage so that it holds across processes. A forged cross-site POST can at
worst send the owner one more invitation per interval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from .directory import Directory
from .errors import (
    InvitationFailed,
    PortalError,
    RecipientHasNoEmail,
    SubjectNotFound,
    TokenInvalid,
)
from .invitations import Invitations
from .portal_content import mask_email
from .portal_pages import PAGE_HEADERS, PortalPage, PortalPages
from .portal_tokens import PortalTokens
from .ratelimit import RateLimiter
from .rendering import DEFAULT_LOCALE
from .schemas import SubjectType
from .settings import Settings
from .tenant_config import TenantConfigs

__all__ = ["PortalRenewal"]

_NOT_OFFERED = "New links cannot be requested here. Please ask the sender for a new invitation."
_CANNOT_SEND = "We cannot send a new link for this invitation. Please ask the sender for one."
_THROTTLED = "A new link was sent a short while ago. Please check your email, or try again later."
_SEND_FAILED = "The email could not be sent right now. Please try again in a few minutes."


class PortalRenewal:
    """Sends a fresh invitation for an expired link, at most once per subject per interval.

    :param tokens: looks the expired token up (signature first).
    :param invitations: the normal invitation path.
    :param configs: the tenants' configurations (on/off).
    :param directory: the host's contacts and companies (the current address).
    :param pages: renders the answers.
    :param limiter: its storage holds the once-per-interval claims.
    :param settings: the portal's settings (on/off, interval, paths).
    :param clock: the portal's clock (it decides the interval's buckets).
    """

    def __init__(
        self,
        tokens: PortalTokens,
        invitations: Invitations,
        *,
        configs: TenantConfigs,
        directory: Directory,
        pages: PortalPages,
        limiter: RateLimiter,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.tokens = tokens
        self.invitations = invitations
        self.configs = configs
        self.directory = directory
        self.pages = pages
        self.limiter = limiter
        self.settings = settings
        self.clock = clock

    def claims(self, tenant_id: str, kind: str, subject_id: str) -> tuple[list[str], int]:
        """The storage keys a renewal of this subject claims now, and seconds until
        both are free again at the latest.

        Time is cut into buckets of one interval (by the portal's clock); a
        renewal claims its bucket and the next one, and needs both unclaimed.
        So two renewals are always at least one interval apart, and a second
        one becomes possible between one and two intervals after the first.
        """
        interval = self.settings.portal_renewal_interval_seconds
        now = int(self.clock().timestamp())
        bucket = now // interval
        subject = hashlib.sha256(f"{tenant_id}\0{kind}\0{subject_id}".encode()).hexdigest()[:32]
        keys = [f"renew/{subject}/{bucket}", f"renew/{subject}/{bucket + 1}"]
        return keys, (bucket + 2) * interval - now

    def renew(self, token: str, *, locale: str = DEFAULT_LOCALE) -> PortalPage:
        """The answer to ``POST {portal_path}/{token}/renew`` (see the module)."""
        try:
            row = self.tokens.lookup(token)
        except TokenInvalid as exc:
            return self.pages.error(exc.status, exc.message, locale=locale)
        if row is None:
            return self.pages.error(404, TokenInvalid.default_message, locale=locale)
        tenant = row.tenant_id

        def refuse(status: int, message: str) -> PortalPage:
            return self.pages.error(status, message, tenant_id=tenant, locale=locale)

        if row.revoked_at is not None:
            return refuse(404, TokenInvalid.default_message)
        if not self.configs.get(tenant).is_active:
            return refuse(403, "Client portal is not active")
        if row.expires_at > self.clock():
            page = PortalPage(303, "", dict(PAGE_HEADERS))
            page.headers["Location"] = f"{self.settings.portal_path}/{token}"
            return page
        if not self.settings.portal_renewal_enabled:
            return refuse(404, _NOT_OFFERED)
        kind = SubjectType(row.subject_type)
        recipient = self.directory.find(tenant, kind, row.subject_id)
        if recipient is None:
            return refuse(404, TokenInvalid.default_message)
        if not recipient.email:
            return refuse(404, _CANNOT_SEND)
        keys, retry_after = self.claims(tenant, kind.value, row.subject_id)
        if not self.limiter.claim(keys, 2 * self.settings.portal_renewal_interval_seconds):
            page = refuse(429, _THROTTLED)
            page.headers["Retry-After"] = str(retry_after)
            return page
        try:
            result = self.invitations.invite(tenant, kind, row.subject_id)
        except (SubjectNotFound, RecipientHasNoEmail):
            self.limiter.release(keys)
            return refuse(404, _CANNOT_SEND)
        except InvitationFailed:
            self.limiter.release(keys)
            return refuse(503, _SEND_FAILED)
        except PortalError:
            self.limiter.release(keys)
            raise
        return self.pages.renewal_sent(tenant, mask_email(result.invitation.email), locale)
