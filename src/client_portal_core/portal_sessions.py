"""Portal sessions: a portal link opened once signs the browser in.

``GET {portal_path}/{token}`` with a valid token counts one access and
answers ``303 See Other`` to the token-free home page with a session cookie,
so the token leaves the address bar, the history and every later page.

The cookie holds only a random session id signed with itsdangerous (its own
salt); the database holds its SHA-256. On every request the session is
checked again, in this order: its row (and its own maximum age), its token
through the token store (revoked, expired or gone ends it), the host's
directory (a deleted subject ends it), and the tenant's configuration (a
portal switched off ends it). A session therefore never outlives its token.

State-changing portal forms carry a CSRF field: an HMAC of the session id
(itsdangerous again, another salt), checked in constant time.

A staff preview (:mod:`client_portal_core.portal_previews`) opens a session
of the same kind, flagged by its preview: its own maximum age (the preview's
end, 15 minutes at most), checked against its preview row (ended when the
subject's tokens are revoked) instead of a token's validity.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie

from itsdangerous import BadSignature, Signer

from ._i18n import N_
from .directory import Directory
from .errors import (
    CsrfRejected,
    PortalError,
    PortalInactive,
    PortalSignInRequired,
    TokenExpired,
    TokenInvalid,
)
from .portal_models import PortalClient
from .portal_pages import PAGE_HEADERS, PortalPage, PortalPages
from .portal_tokens import PortalTokens
from .rendering import DEFAULT_LOCALE
from .schemas import Recipient, SubjectType
from .settings import Settings
from .storage import PreviewStore, SessionStore, StoredPortalToken, StoredPreview, StoredSession
from .tenant_config import TenantConfigs
from .tokens import is_canonical_signature

__all__ = ["SESSION_COOKIE", "PortalSessions"]

#: Name of the session cookie (scoped to ``Settings.portal_path``).
SESSION_COOKIE = "client_portal_session"
_SESSION_SALT = b"client-portal-core.portal-session"
_CSRF_SALT = b"client-portal-core.portal-csrf"
_BRANDING_SALT = b"client-portal-core.portal-signed-out"
_MAX_COOKIE = 512

_ENDED = N_("Your portal session has ended. Please open the link in your invitation email again.")
_PREVIEW_ENDED = N_("This staff preview has ended. Ask for a new preview link to look again.")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class PortalSessions:
    """Opens links into sessions, tells who is signed in, and signs out.

    :param store: the session rows.
    :param tokens: the portal tokens (looked up through the token store).
    :param configs: the tenants' configurations (on/off, branding).
    :param directory: the host's contacts and companies.
    :param pages: renders the pages answered here.
    :param settings: the portal's settings (keys, paths, maximum age).
    :param clock: the portal's clock.
    :param previews: the staff preview rows (preview sessions end with them);
        without it no preview session is ever alive.
    """

    def __init__(
        self,
        store: SessionStore,
        tokens: PortalTokens,
        *,
        configs: TenantConfigs,
        directory: Directory,
        pages: PortalPages,
        settings: Settings,
        clock: Callable[[], datetime],
        previews: PreviewStore | None = None,
    ) -> None:
        self.store = store
        self.previews = previews
        self.tokens = tokens
        self.configs = configs
        self.directory = directory
        self.pages = pages
        self.settings = settings
        self.clock = clock
        keys = settings.key_bytes()

        def signer(salt: bytes) -> Signer:
            return Signer(keys, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)

        self._cookie_signer = signer(_SESSION_SALT)
        self._csrf_signer = signer(_CSRF_SALT)
        self._branding_signer = signer(_BRANDING_SALT)
        self.max_age = timedelta(seconds=settings.portal_session_max_age_seconds)

    # -- cookies ------------------------------------------------------------

    def _cookie_attributes(self, max_age: int) -> str:
        secure = "; Secure" if self.settings.public_url.startswith("https://") else ""
        return (
            f"Path={self.settings.portal_path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        )

    def _set_cookie(self, session_id: str, max_age: timedelta | None = None) -> str:
        value = self._cookie_signer.sign(session_id).decode("ascii")
        seconds = int((self.max_age if max_age is None else max_age).total_seconds())
        return f"{SESSION_COOKIE}={value}; {self._cookie_attributes(seconds)}"

    def clear_cookie_header(self) -> str:
        """The ``Set-Cookie`` value that removes the session cookie."""
        return f"{SESSION_COOKIE}=; {self._cookie_attributes(0)}"

    def _session_id(self, cookie: str | None) -> str | None:
        """The verified session id of a raw ``Cookie`` header, or ``None``."""
        if not cookie:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except CookieError:
            return None
        morsel = jar.get(SESSION_COOKIE)
        if morsel is None or not morsel.value or len(morsel.value) > _MAX_COOKIE:
            return None
        return _strict_unsign(self._cookie_signer, morsel.value)

    # -- opening a link -----------------------------------------------------

    def _redirect(self, location: str, set_cookie: str | None = None) -> PortalPage:
        page = PortalPage(303, "", dict(PAGE_HEADERS))
        page.headers["Location"] = location
        if set_cookie is not None:
            page.headers["Set-Cookie"] = set_cookie
        return page

    def home_redirect(self) -> PortalPage:
        """``303`` to the home page, setting no cookie."""
        return self._redirect(self.home_path)

    @property
    def home_path(self) -> str:
        """The token-free URL path of the portal's home page."""
        return self.settings.portal_path + "/"

    def open_link(
        self,
        token: str,
        *,
        cookie: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        record_access: bool = True,
        locale: str = DEFAULT_LOCALE,
    ) -> PortalPage:
        """The answer to ``GET {portal_path}/{token}``.

        Valid: one access counted (``token_accessed``), ``303`` to the home
        page with a new session cookie (none when ``cookie`` already holds a
        live session of this token). Unknown, tampered or revoked: 404;
        subject gone: 404; portal off: 403; expired: 410 with the renewal
        form. Error pages are branded when the signature is valid.

        :param record_access: False (``HEAD``) answers the same status without
            counting, writing the outbox, firing a signal or setting a cookie.
        """
        try:
            row = self.tokens.lookup(token)
        except TokenInvalid as exc:
            return self.pages.error(exc.status, exc.message, locale=locale)
        if row is None:
            return self.pages.error(404, TokenInvalid.default_message, locale=locale)
        # The link's own pages speak its invitation's language (else the tenant's).
        locale = self.pages.page_locale(row.locale, row.tenant_id, locale)
        problem = self._link_problem(row)
        if problem is not None:
            if isinstance(problem, TokenExpired):
                renew = f"{self.settings.portal_path}/{token}/renew"
                enabled = self.settings.portal_renewal_enabled
                return self.pages.expired(row.tenant_id, renew if enabled else None, locale)
            return self.pages.error(
                problem.status, problem.message, tenant_id=row.tenant_id, locale=locale
            )
        if not record_access:
            return self._redirect(self.home_path)
        self.tokens.record_access(row, ip, (user_agent or "")[:512] or None)
        current = self._live_row(cookie)
        # A staff preview's session is never reused for the client's own link.
        ours = (row.tenant_id, row.id, None)
        if (
            current is not None
            and (current.tenant_id, current.token_id, current.preview_id) == ours
        ):
            return self._redirect(self.home_path)
        if current is not None:
            self.store.end_session(current.id)
        return self._redirect(self.home_path, self._set_cookie(self._start(row)))

    def _link_problem(self, row: StoredPortalToken) -> PortalError | None:
        """Why a looked-up token opens nothing (``None``: it opens the portal)."""
        if row.revoked_at is not None:
            return TokenInvalid()
        if not self.configs.get(row.tenant_id).is_active:
            return PortalInactive()
        # A subject the host deleted loses its portal at once, not at expiry.
        kind = SubjectType(row.subject_type)
        if self.directory.find(row.tenant_id, kind, row.subject_id) is None:
            return TokenInvalid()
        if row.expires_at <= self.clock():
            return TokenExpired()
        return None

    def _start(self, row: StoredPortalToken) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self.store.add_session(
            id_hash=_hash(session_id),
            tenant_id=row.tenant_id,
            token_id=row.id,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            created_at=now,
            expires_at=now + self.max_age,
        )
        return session_id

    def start_preview(self, preview: StoredPreview, cookie: str | None = None) -> PortalPage:
        """Sign the browser in to a staff preview: ``303`` to the home page with
        a cookie of a new preview session, which ends when the preview does (or
        at the portal's session maximum age, if sooner). A session the browser
        already had ends."""
        current = self._live_row(cookie)
        if current is not None:
            self.store.end_session(current.id)
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = min(now + self.max_age, preview.expires_at)
        self.store.add_session(
            id_hash=_hash(session_id),
            tenant_id=preview.tenant_id,
            token_id=preview.token_id,
            subject_type=preview.subject_type,
            subject_id=preview.subject_id,
            created_at=now,
            expires_at=expires_at,
            preview_id=preview.id,
        )
        cookie_header = self._set_cookie(session_id, expires_at - now)
        return self._redirect(self.home_path, cookie_header)

    # -- who is signed in ---------------------------------------------------

    def _live_row(self, cookie: str | None) -> StoredSession | None:
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        row = self.store.find_session(_hash(session_id))
        return row if row is not None and row.expires_at > self.clock() else None

    def current_client(self, cookie: str | None, *, locale: str = DEFAULT_LOCALE) -> PortalClient:
        """The client signed in by this ``Cookie`` header (as sent by the browser).

        Checks, on every call: the session (and its maximum age), its token
        through the token store, the directory, and the portal being on.
        Any failure ends the session for good. A staff preview's session gives
        a client with ``preview=True`` (see :mod:`.portal_previews`).

        :raises PortalSignInRequired: no live session; its ``page`` is the 401
            page to answer with (branded when the tenant is known; it clears
            the cookie).
        """
        try:
            return self._resolve(cookie)
        except PortalSignInRequired as exc:
            exc.page = self.sign_in_page(exc, locale)
            raise

    def sign_in_page(self, error: PortalSignInRequired, locale: str = DEFAULT_LOCALE) -> PortalPage:
        """The 401 page of ``error``, clearing the session cookie."""
        page = self.pages.sign_in(error.message, error.tenant_id, locale)
        page.headers["Set-Cookie"] = self.clear_cookie_header()
        return page

    def _resolve(self, cookie: str | None) -> PortalClient:
        session_id = self._session_id(cookie)
        if session_id is None:
            raise PortalSignInRequired()
        row = self.store.find_session(_hash(session_id))
        if row is None:
            raise PortalSignInRequired(_ENDED, ended=True)
        if row.preview_id is not None:
            return self._resolve_preview(row, session_id)
        now = self.clock()
        token = None if row.token_id is None else self.tokens.get(row.tenant_id, row.token_id)
        kind = SubjectType(row.subject_type)
        recipient = None
        alive = (
            row.expires_at > now
            and token is not None
            and token.revoked_at is None
            and token.expires_at > now
            and (token.subject_type, token.subject_id) == (row.subject_type, row.subject_id)
            and self.configs.get(row.tenant_id).is_active
        )
        if alive:
            recipient = self.directory.find(row.tenant_id, kind, row.subject_id)
        if not alive or recipient is None or token is None:
            self.store.end_session(row.id)
            raise PortalSignInRequired(_ENDED, tenant_id=row.tenant_id, ended=True)
        return self._client(row, session_id, recipient, token.id, token.expires_at, token.locale)

    def _resolve_preview(self, row: StoredSession, session_id: str) -> PortalClient:
        """The client of a staff preview's session: alive while its preview is
        (not ended, not expired), its token (if it had one) is not revoked, the
        portal is on and the directory still finds the subject."""
        now = self.clock()
        preview_id = row.preview_id
        preview = None
        if self.previews is not None and preview_id is not None:
            preview = self.previews.get_preview(preview_id)
        token = None if row.token_id is None else self.tokens.get(row.tenant_id, row.token_id)
        alive = (
            preview is not None
            and row.expires_at > now
            and preview.ended_at is None
            and preview.expires_at > now
            and (row.token_id is None or (token is not None and token.revoked_at is None))
            and self.configs.get(row.tenant_id).is_active
        )
        kind = SubjectType(row.subject_type)
        recipient = self.directory.find(row.tenant_id, kind, row.subject_id) if alive else None
        if preview is None or recipient is None:
            self.store.end_session(row.id)
            raise PortalSignInRequired(_PREVIEW_ENDED, tenant_id=row.tenant_id, ended=True)
        return self._client(
            row,
            session_id,
            recipient,
            row.token_id,
            preview.expires_at,
            None if token is None else token.locale,
            preview=True,
        )

    def _client(
        self,
        row: StoredSession,
        session_id: str,
        recipient: Recipient,
        token_id: int | None,
        expires_at: datetime,
        locale: str | None,
        *,
        preview: bool = False,
    ) -> PortalClient:
        """The signed-in client of a session row that was found alive."""
        return PortalClient(
            tenant_id=row.tenant_id,
            subject_type=SubjectType(row.subject_type),
            subject_id=row.subject_id,
            recipient=recipient,
            token_id=token_id,
            expires_at=expires_at,
            session_expires_at=row.expires_at,
            csrf_token=self._csrf(session_id),
            locale=locale,
            preview=preview,
        )

    def _csrf(self, session_id: str) -> str:
        return self._csrf_signer.get_signature(session_id).decode("ascii")

    # -- signing out --------------------------------------------------------

    def sign_out(
        self, cookie: str | None, form: Mapping[str, list[str]], *, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """``POST {portal_path}/logout``: end the session, clear the cookie, 303
        to the signed-out page. Without the session's CSRF field: 403, nothing ends.

        A request without a live session has nothing to end: it is sent to
        the signed-out page too (with the cookie cleared).
        """
        session_id = self._session_id(cookie)
        row = None if session_id is None else self.store.find_session(_hash(session_id))
        if session_id is None or row is None:
            return self._redirect(self.signed_out_path(None), self.clear_cookie_header())
        sent = form.get("csrf_token", [""])
        if len(sent) != 1 or not self._csrf_ok(session_id, sent[0]):
            error = CsrfRejected()
            return self.pages.error(
                error.status, error.message, tenant_id=row.tenant_id, locale=locale
            )
        self.store.end_session(row.id)
        return self._redirect(self.signed_out_path(row.tenant_id), self.clear_cookie_header())

    def _csrf_ok(self, session_id: str, sent: str) -> bool:
        # itsdangerous compares signatures with hmac.compare_digest, under every key;
        # only the canonical spelling of a signature is one.
        if not is_canonical_signature(sent):
            return False
        try:
            return self._csrf_signer.verify_signature(session_id.encode(), sent.encode("ascii"))
        except UnicodeError:
            return False

    def signed_out_path(self, tenant_id: str | None) -> str:
        """Where sign-out lands: ``{portal_path}/signed-out``, with the tenant signed
        into the query (``?b=...``) so that the page can carry its branding."""
        path = f"{self.settings.portal_path}/signed-out"
        if tenant_id is None:
            return path
        return f"{path}?b={self._branding_signer.sign(tenant_id.encode()).decode()}"

    def signed_out_page(
        self, query: Mapping[str, list[str]], *, locale: str = DEFAULT_LOCALE
    ) -> PortalPage:
        """``GET {portal_path}/signed-out``: branded when ``b`` is a signature of ours."""
        tenant_id = None
        values = query.get("b", [])
        if len(values) == 1 and len(values[0]) <= _MAX_COOKIE:
            tenant_id = _strict_unsign(self._branding_signer, values[0])
        return self.pages.signed_out(tenant_id, locale)

    def prune(self) -> int:
        """Delete the sessions past their maximum age (run it now and then); how many."""
        return self.store.prune_sessions(self.clock())


def _strict_unsign(signer: Signer, value: str) -> str | None:
    """The payload of ``value`` when its signature is valid and canonically
    spelled (one value, one spelling), else ``None``."""
    _payload, sep, signature = value.rpartition(".")
    if not sep or not is_canonical_signature(signature):
        return None
    try:
        return signer.unsign(value.encode("ascii")).decode("ascii")
    except (BadSignature, UnicodeError):
        return None
