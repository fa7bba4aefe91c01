"""Staff previews: see a client's portal as the client does, read-only, for 15 minutes.

``POST /token/preview`` (:meth:`StaffPreviews.create`) answers a link
``{public_url}{portal_path}/{link}``. The link is a random id signed with
itsdangerous's ``TimestampSigner`` (its own salt, the portal's clock); the
database holds only the id's SHA-256, with the subject and the preview's end
(at most :data:`PREVIEW_LIFETIME` after it was made). ``GET
{portal_path}/{link}`` (:meth:`StaffPreviews.open_link`) turns it into a
preview session, like a client's link into a session: ``303`` to the
token-free home page with a session cookie. The session is flagged
(:attr:`PortalClient.preview`): every page carries a "staff preview" banner,
the host's pages can refuse writes, and it ends when the preview does.

What a preview never does: count a client visit (no ``access_count``, no
``last_accessed_at``), fire ``token_accessed`` or write the webhook outbox,
mint a token, or request a renewal (a preview link is no portal token: the
renew path answers 404 and sends nothing). Each opening is logged in the
access log with ``preview=True`` (``GET /accesses``).

What ends it: its 15 minutes; revoking the subject's tokens (the link and
every session opened with it); revoking the token it was made with; the
host's directory losing the subject; the portal being switched off.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from ._i18n import N_
from .directory import Directory
from .errors import PortalInactive, TokenInvalid, TokenStoreLacksAbility
from .portal_pages import PortalPage, PortalPages
from .portal_sessions import PortalSessions
from .portal_tokens import PortalTokens
from .rendering import DEFAULT_LOCALE
from .schemas import SubjectType
from .settings import Settings
from .storage import AccessStore, PreviewStore, StoredPreview, TokenQuery
from .tenant_config import TenantConfigs
from .tokens import is_canonical_signature

__all__ = ["PREVIEW_LIFETIME", "PreviewLink", "StaffPreviews", "is_preview_link"]

#: How long a staff preview link (and every session opened with it) lasts.
PREVIEW_LIFETIME: Final = timedelta(minutes=15)
_SALT = b"client-portal-core.staff-preview"
_MAX_LINK = 256

_ENDED = N_("This staff preview has ended. Ask for a new preview link to look again.")
_EXPIRED = N_("This staff preview link has expired. Ask for a new preview link to look again.")


def is_preview_link(segment: str) -> bool:
    """Whether a portal path segment has the shape of a preview link
    (``id.timestamp.signature``; a portal token is ``id.signature``)."""
    return segment.count(".") == 2 and len(segment) <= _MAX_LINK


@dataclass(frozen=True, slots=True)
class PreviewLink:
    """A staff preview link, as ``POST /token/preview`` answers it.

    :param url: opens the subject's portal read-only (no usable portal token in it).
    :param expires_at: when the link and its sessions end (aware UTC).
    :param preview_id: the preview's row id.
    """

    url: str
    expires_at: datetime
    preview_id: int


class _ClockedSigner(TimestampSigner):
    """A ``TimestampSigner`` that reads the portal's (injectable) clock."""

    def __init__(self, clock: Callable[[], datetime], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


def _hash(link_id: str) -> str:
    return hashlib.sha256(link_id.encode()).hexdigest()


class StaffPreviews:
    """Makes and opens staff preview links, and ends them with a revocation.

    :param store: the preview rows.
    :param sessions: opens the preview sessions (and checks them on every request).
    :param tokens: the subject's token (its language; whether it was revoked).
    :param accesses: the access log (one ``preview`` row per opening).
    :param configs: the tenants' configurations (on/off).
    :param directory: the host's contacts and companies.
    :param pages: renders the error pages of a link.
    :param settings: keys and URLs.
    :param clock: the portal's clock.
    """

    def __init__(
        self,
        store: PreviewStore,
        sessions: PortalSessions,
        tokens: PortalTokens,
        *,
        accesses: AccessStore,
        configs: TenantConfigs,
        directory: Directory,
        pages: PortalPages,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.tokens = tokens
        self.accesses = accesses
        self.configs = configs
        self.directory = directory
        self.pages = pages
        self.settings = settings
        self.clock = clock
        self._signer = _ClockedSigner(
            clock,
            settings.key_bytes(),
            salt=_SALT,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )

    # -- making a link ------------------------------------------------------

    def create(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> PreviewLink:
        """A preview link of the subject's portal, valid for :data:`PREVIEW_LIFETIME`.

        Mints, counts and sends nothing; writes one preview row.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        kind = SubjectType(subject_type)
        recipient = self.directory.require(tenant_id, kind, str(subject_id))
        now = self.clock().replace(microsecond=0)
        link_id = secrets.token_urlsafe(24)
        row = self.store.add_preview(
            link_hash=_hash(link_id),
            tenant_id=tenant_id,
            subject_type=kind.value,
            subject_id=recipient.id,
            token_id=self._active_token_id(tenant_id, kind.value, recipient.id),
            created_at=now,
            expires_at=now + PREVIEW_LIFETIME,
        )
        link = self._signer.sign(link_id.encode()).decode("ascii")
        url = f"{self.settings.public_url}{self.settings.portal_path}/{link}"
        return PreviewLink(url=url, expires_at=row.expires_at, preview_id=row.id)

    def _active_token_id(self, tenant_id: str, subject_type: str, subject_id: str) -> int | None:
        """The subject's newest active token (``None``: none, or a token store
        that cannot list tokens)."""
        query = TokenQuery(
            now=self.clock(),
            tenant_id=tenant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            status="active",
            limit=1,
        )
        try:
            rows = self.tokens.list_tokens(query)
        except TokenStoreLacksAbility:
            return None
        return rows[0].id if rows else None

    # -- opening a link -----------------------------------------------------

    def open_link(
        self,
        link: str,
        *,
        cookie: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        record_access: bool = True,
        locale: str = DEFAULT_LOCALE,
    ) -> PortalPage:
        """The answer to ``GET {portal_path}/{link}`` of a preview link.

        Valid: one ``preview`` access logged, ``303`` to the home page with a
        preview session's cookie. Tampered or unknown: 404; ended (a
        revocation) or subject gone: 404; expired: 410 (no renewal button);
        portal off: 403.

        :param record_access: False (``HEAD``) answers the same status without
            logging or setting a cookie.
        """
        if not is_canonical_signature(link.rpartition(".")[2]):
            # Another spelling of a signature (spare bits, padding): a forgery.
            return self.pages.error(404, TokenInvalid.default_message, locale=locale)
        try:
            link_id = self._signer.unsign(
                link.encode(), max_age=int(PREVIEW_LIFETIME.total_seconds())
            )
            expired = False
        except SignatureExpired as exc:
            link_id, expired = exc.payload or b"", True
        except (BadSignature, UnicodeError):
            return self.pages.error(404, TokenInvalid.default_message, locale=locale)
        row = self.store.find_by_link_hash(_hash(link_id.decode("ascii", "replace")))
        if row is None:
            return self.pages.error(404, TokenInvalid.default_message, locale=locale)
        locale = self.pages.page_locale(None, row.tenant_id, locale)
        problem = self._problem(row, expired)
        if problem is not None:
            status, message = problem
            return self.pages.error(status, message, tenant_id=row.tenant_id, locale=locale)
        if not record_access:
            return self.sessions.home_redirect()
        self.accesses.add_access(
            tenant_id=row.tenant_id,
            token_id=row.token_id,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            accessed_at=self.clock(),
            ip=ip,
            user_agent=user_agent,
            preview=True,
        )
        return self.sessions.start_preview(row, cookie)

    def _problem(self, row: StoredPreview, expired: bool) -> tuple[int, str] | None:
        """Why a preview opens nothing (``None``: it opens the portal)."""
        if row.ended_at is not None:
            return 404, _ENDED
        if row.token_id is not None:
            token = self.tokens.get(row.tenant_id, row.token_id)
            if token is None or token.revoked_at is not None:
                return 404, _ENDED
        if expired or row.expires_at <= self.clock():
            return 410, _EXPIRED
        if not self.configs.get(row.tenant_id).is_active:
            return PortalInactive.status, PortalInactive.default_message
        kind = SubjectType(row.subject_type)
        if self.directory.find(row.tenant_id, kind, row.subject_id) is None:
            return 404, TokenInvalid.default_message
        return None

    # -- ending -------------------------------------------------------------

    def end_for_subject(self, tenant_id: str, subject_type: str, subject_id: str) -> int:
        """End every live preview of a subject with its sessions (its tokens were
        revoked); how many previews ended."""
        return self.store.end_subject_previews(tenant_id, subject_type, subject_id, self.clock())

    def prune(self) -> int:
        """Delete the previews whose link has expired (run it now and then); how many."""
        return self.store.prune_previews(self.clock())
