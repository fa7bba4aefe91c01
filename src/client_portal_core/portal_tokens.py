"""Portal tokens: issue (get-or-create), verify, revoke, regenerate, renew, count accesses.

A subject has at most one current token. While it is valid every issue
returns it unchanged (same string, same ``expires_at``); a new one is minted,
with its ``token_created`` event in the same transaction, only when none is.
Renewal mints a successor before the current token expires: the successor
becomes current, and the old token keeps opening the portal until it expires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import signals
from .directory import Directory
from .errors import TokenExpired, TokenInvalid, TokenStoreLacksAbility
from .events import TOKEN_ACCESSED, TOKEN_CREATED, TOKEN_REVOKED, DomainEvent
from .schemas import IssuedPortalToken, SubjectType, format_utc
from .settings import Settings
from .storage import (
    StoredPortalToken,
    SubjectRevocationStore,
    TokenExpiryStore,
    TokenListingStore,
    TokenLocaleStore,
    TokenQuery,
    TokenRenewalStore,
    TokenStore,
)
from .tenant_config import TenantConfigs
from .tokens import UNSEALABLE_REASON, PortalTokenCodec

__all__ = ["PortalTokens", "token_event_data"]

logger = logging.getLogger("client_portal_core.tokens")


def token_event_data(row: StoredPortalToken) -> dict[str, Any]:
    """The ids and times of a token, as its events carry them (never the token)."""
    return {
        "tenant_id": row.tenant_id,
        "token_id": row.id,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "created_at": format_utc(row.created_at),
        "expires_at": format_utc(row.expires_at),
    }


class PortalTokens:
    """The portal tokens of one portal.

    :param store: where tokens live (the ``client_portal_token_store`` hook's choice).
    :param codec: signs, verifies and seals tokens.
    :param configs: the tenants' configurations (token lifetime).
    :param directory: the host's contacts and companies.
    :param settings: the portal's settings (link URLs).
    :param clock: the portal's clock.
    :param sender: the sender of the signals (the :class:`ClientPortal`).
    :param on_unsealable: called with the id of a valid token that no listed
        key opens any more (its key left ``secret_keys``); it marks the row.
        Get-or-create then issues a new token, and logs an error once.
    """

    def __init__(
        self,
        store: TokenStore,
        codec: PortalTokenCodec,
        *,
        configs: TenantConfigs,
        directory: Directory,
        settings: Settings,
        clock: Callable[[], datetime],
        sender: object,
        on_unsealable: Callable[[int], bool] | None = None,
    ) -> None:
        self.store = store
        self.on_unsealable = on_unsealable
        self._reported_unsealable: set[int] = set()
        self.codec = codec
        self.configs = configs
        self.directory = directory
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self._warned_no_locale = False
        #: Called with ``(tenant_id, subject_type, subject_id)`` after every
        #: revocation of a subject's tokens (revoke, regenerate), even of none:
        #: what else the subject's access ends with (its staff previews).
        self.subject_revoked: list[Callable[[str, str, str], Any]] = []

    def portal_url(self, token: str) -> str:
        """The full portal URL of a token."""
        return f"{self.settings.public_url}{self.settings.portal_path}/{token}"

    def get_or_create(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> IssuedPortalToken:
        """The subject's valid portal token, or a new one when none is valid.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        kind = SubjectType(subject_type)
        recipient = self.directory.require(tenant_id, kind, subject_id)
        return self.issue(tenant_id, kind, recipient.id)

    def issue(
        self,
        tenant_id: str,
        subject_type: SubjectType,
        subject_id: str,
        *,
        fresh_for: timedelta = timedelta(0),
    ) -> IssuedPortalToken:
        """Get or create the token of a subject the directory already found.

        :param fresh_for: a current token expiring sooner than this from now
            counts as unusable: a successor is minted (the old token stays
            valid until it expires), as a renewal would.
        """
        now = self.clock()
        # Unsealing costs a decryption: remember each token unsealed or minted
        # here so the answer below does not pay for it twice.
        known: dict[str, str] = {}
        unsealable: list[int] = []

        def is_usable(row: StoredPortalToken) -> bool:
            if row.revoked_at is not None or row.expires_at <= now + fresh_for:
                return False
            token = self.codec.unseal(row.sealed)
            if token is None:
                unsealable.append(row.id)
                return False
            known[row.sealed] = token
            return True

        mint = self._minter(tenant_id, known)
        row, created = self.store.get_or_create_token(
            tenant_id,
            subject_type.value,
            subject_id,
            is_usable=is_usable,
            mint=mint,
            events=self._created_events,
        )
        for token_id in unsealable:
            self._report_unsealable(token_id)
        return self._issued(row, created, known)

    def _report_unsealable(self, token_id: int) -> None:
        """Make a valid token that no key opens visible: marked, and logged once."""
        marked = self.on_unsealable(token_id) if self.on_unsealable is not None else True
        if marked and token_id not in self._reported_unsealable:
            self._reported_unsealable.add(token_id)
            logger.error(
                "portal token %s cannot be unsealed (%s); a new one was issued for its "
                "subject, and links to the old one stop working",
                token_id,
                UNSEALABLE_REASON,
            )

    def _minter(self, tenant_id: str, known: dict[str, str]) -> Callable[[], Any]:
        """A ``mint`` for the store: a token of the tenant's lifetime, kept in ``known``."""
        # Read before the store's write transaction: mint() runs inside it, and
        # a second pooled connection there could exhaust the pool under load.
        days = self.configs.get(tenant_id).token_expiration_days

        def mint() -> tuple[Any, datetime, datetime]:
            created_at = self.clock().replace(microsecond=0)
            new = self.codec.mint()
            known[new.sealed] = new.token
            return new, created_at, created_at + timedelta(days=days)

        return mint

    @staticmethod
    def _created_events(row: StoredPortalToken) -> list[DomainEvent]:
        return [DomainEvent(TOKEN_CREATED, row.tenant_id, row.created_at, token_event_data(row))]

    def _issued(
        self, row: StoredPortalToken, created: bool, known: dict[str, str]
    ) -> IssuedPortalToken:
        """The answer for ``row``; fires ``token_created`` when it is new."""
        token = known.get(row.sealed) or self.codec.unseal(row.sealed)
        if token is None:  # pragma: no cover - is_usable already checked it
            raise RuntimeError("stored portal token cannot be unsealed")
        if created:
            signals.send_safely(
                signals.token_created,
                self.sender,
                tenant_id=row.tenant_id,
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

    def lookup(self, token: str) -> StoredPortalToken | None:
        """The row of a token with a valid signature, in whatever state, or ``None``.

        :raises TokenInvalid: tampered or malformed (no query is made).
        """
        return self.store.find_token_by_lookup_hash(self.codec.verify(token))

    def get(self, tenant_id: str, token_id: int) -> StoredPortalToken | None:
        """One of the tenant's token rows by id (any state), through the token store."""
        return self.store.get_token(tenant_id, token_id)

    def revoke_subject(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> list[StoredPortalToken]:
        """Revoke every unrevoked token of a subject; their links answer 404 at once.

        Expired tokens are revoked too, so none of them can ask for a renewal.
        One ``token_revoked`` per token, in the revocation's transaction.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        kind = SubjectType(subject_type)
        recipient = self.directory.require(tenant_id, kind, str(subject_id))
        store: SubjectRevocationStore = self._store_able(SubjectRevocationStore, "revoke")
        revoked, _new = store.revoke_subject_tokens(
            tenant_id,
            kind.value,
            recipient.id,
            self.clock(),
            mint=None,
            events=self._revoked_events,
        )
        self._signal_revoked(revoked)
        self._subject_revoked(tenant_id, kind.value, recipient.id)
        return revoked

    def regenerate(
        self, tenant_id: str, subject_type: SubjectType | str, subject_id: str | int
    ) -> IssuedPortalToken:
        """Revoke every token of a subject and mint its new one, in one transaction.

        :raises SubjectNotFound: the directory has no such subject in the tenant.
        """
        kind = SubjectType(subject_type)
        recipient = self.directory.require(tenant_id, kind, str(subject_id))
        known: dict[str, str] = {}
        mint = self._minter(tenant_id, known)

        def events(
            revoked: Sequence[StoredPortalToken], new: StoredPortalToken | None
        ) -> list[DomainEvent]:
            created = [] if new is None else self._created_events(new)
            return [*self._revoked_events(revoked, None), *created]

        store: SubjectRevocationStore = self._store_able(SubjectRevocationStore, "regenerate")
        revoked, new = store.revoke_subject_tokens(
            tenant_id, kind.value, recipient.id, self.clock(), mint=mint, events=events
        )
        if new is None:  # pragma: no cover - the store mints when given mint
            raise RuntimeError("the token store did not mint a token")
        self._signal_revoked(revoked)
        self._subject_revoked(tenant_id, kind.value, recipient.id)
        return self._issued(new, True, known)

    def _subject_revoked(self, tenant_id: str, subject_type: str, subject_id: str) -> None:
        for listener in self.subject_revoked:
            listener(tenant_id, subject_type, subject_id)

    def renew(self, row: StoredPortalToken) -> IssuedPortalToken | None:
        """Mint the successor of a current token, which stays valid until it expires.

        Exactly once per token, across threads and processes: ``None`` when
        another renewal claimed it first (or it is no longer current).
        """
        store: TokenRenewalStore = self._store_able(TokenRenewalStore, "renew")
        known: dict[str, str] = {}
        new = store.renew_token(
            row.id,
            self.clock(),
            mint=self._minter(row.tenant_id, known),
            events=self._created_events,
        )
        return None if new is None else self._issued(new, True, known)

    def list_tokens(self, query: TokenQuery) -> list[StoredPortalToken]:
        """The token rows ``query`` selects, newest first (see :class:`TokenQuery`)."""
        store: TokenListingStore = self._store_able(TokenListingStore, "list tokens")
        return store.list_tokens(query)

    def _store_able(self, ability: Any, operation: str) -> Any:
        """The token store, when it has the optional ``ability`` (a protocol of
        :mod:`client_portal_core.token_store`) that ``operation`` needs.

        :raises TokenStoreLacksAbility: it has not (answered 501).
        """
        if not isinstance(self.store, ability):
            raise TokenStoreLacksAbility(operation, type(self.store).__name__, ability.__name__)
        return self.store

    @staticmethod
    def _revoked_events(
        revoked: Sequence[StoredPortalToken], _new: StoredPortalToken | None
    ) -> list[DomainEvent]:
        return [
            DomainEvent(
                TOKEN_REVOKED,
                row.tenant_id,
                row.revoked_at or row.created_at,
                {
                    "tenant_id": row.tenant_id,
                    "token_id": row.id,
                    "subject_type": row.subject_type,
                    "subject_id": row.subject_id,
                    "revoked_at": format_utc(row.revoked_at or row.created_at),
                },
            )
            for row in revoked
        ]

    def _signal_revoked(self, revoked: Sequence[StoredPortalToken]) -> None:
        for row in revoked:
            signals.send_safely(
                signals.token_revoked,
                self.sender,
                tenant_id=row.tenant_id,
                token_id=row.id,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                revoked_at=row.revoked_at,
            )

    def verify(self, token: str) -> StoredPortalToken:
        """Check a portal token: signature first, then one indexed lookup.

        :raises TokenInvalid: tampered, unknown or revoked (no query when tampered).
        :raises TokenExpired: it was valid and has expired.
        """
        row = self.lookup(token)
        if row is None or row.revoked_at is not None:
            raise TokenInvalid()
        if row.expires_at <= self.clock():
            raise TokenExpired()
        return row

    def set_expiry(self, token: str, expires_at: datetime) -> StoredPortalToken:
        """Move a token's expiry (extend a link, or end it early); same token string.

        Sessions opened with it follow at once: they never outlive their token.

        :raises TokenInvalid: tampered, unknown or revoked.
        :raises ValueError: ``expires_at`` is naive.
        """
        row = self.lookup(token)
        if row is None or row.revoked_at is not None:
            raise TokenInvalid()
        updated = self.set_expiry_by_id(row.tenant_id, row.id, expires_at)
        if updated is None:  # revoked meanwhile
            raise TokenInvalid()
        return updated

    def set_expiry_by_id(
        self, tenant_id: str, token_id: int, expires_at: datetime
    ) -> StoredPortalToken | None:
        """Move the expiry of one of the tenant's unrevoked tokens; ``None`` if none.

        :raises ValueError: ``expires_at`` is naive.
        :raises TokenStoreLacksAbility: the token store cannot move expiries.
        """
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be an aware datetime (UTC)")
        store = self.store
        if not isinstance(store, TokenExpiryStore):
            raise TokenStoreLacksAbility(
                "set-token-expiry", type(store).__name__, TokenExpiryStore.__name__
            )
        moment = expires_at.astimezone(UTC).replace(microsecond=0)
        return store.set_token_expiry(tenant_id, token_id, moment)

    def remember_locale(self, token_id: int, locale: str) -> None:
        """Remember the language of an invitation with the token it carries: the
        portal pages of that link speak it.

        A replacement token store written before ``set_token_locale`` existed
        keeps working: the language is then not remembered (logged once).
        """
        store = self.store
        if not isinstance(store, TokenLocaleStore):
            if not self._warned_no_locale:
                self._warned_no_locale = True
                logger.warning(
                    "token store %r has no set_token_locale: portal pages will not "
                    "remember the invitation's language",
                    self.store,
                )
            return
        store.set_token_locale(token_id, locale)

    def revoke(self, tenant_id: str, token_id: int) -> bool:
        """Revoke one of the tenant's portal tokens; its links answer 404 from now on."""
        return self.store.revoke_token(tenant_id, token_id, self.clock())

    def record_access(self, row: StoredPortalToken, ip: str | None, user_agent: str | None) -> None:
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

        self.store.record_token_access(row.id, accessed_at, events)
        signals.send_safely(
            signals.token_accessed,
            self.sender,
            tenant_id=row.tenant_id,
            token_id=row.id,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            accessed_at=accessed_at,
            ip=ip,
            user_agent=user_agent,
        )
