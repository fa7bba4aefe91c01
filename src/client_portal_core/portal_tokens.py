"""Portal tokens: issue (get-or-create), verify, revoke, and count accesses.

A subject has at most one current token. While it is valid every issue
returns it unchanged (same string, same ``expires_at``); a new one is minted,
with its ``token_created`` event in the same transaction, only when none is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import signals
from .directory import Directory
from .errors import TokenExpired, TokenInvalid
from .events import TOKEN_ACCESSED, TOKEN_CREATED, DomainEvent
from .schemas import IssuedPortalToken, SubjectType, format_utc
from .settings import Settings
from .storage import StoredPortalToken, TokenStore
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
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> IssuedPortalToken:
        """Get or create the token of a subject the directory already found."""
        now = self.clock()
        # Unsealing costs a decryption: remember each token unsealed or minted
        # here so the answer below does not pay for it twice.
        known: dict[str, str] = {}
        unsealable: list[int] = []

        def is_usable(row: StoredPortalToken) -> bool:
            if row.revoked_at is not None or row.expires_at <= now:
                return False
            token = self.codec.unseal(row.sealed)
            if token is None:
                unsealable.append(row.id)
                return False
            known[row.sealed] = token
            return True

        # Read before the store's write transaction: mint() runs inside it, and
        # a second pooled connection there could exhaust the pool under load.
        days = self.configs.get(tenant_id).token_expiration_days

        def mint() -> tuple[Any, datetime, datetime]:
            created_at = self.clock().replace(microsecond=0)
            new = self.codec.mint()
            known[new.sealed] = new.token
            return new, created_at, created_at + timedelta(days=days)

        def events(row: StoredPortalToken) -> list[DomainEvent]:
            return [DomainEvent(TOKEN_CREATED, tenant_id, row.created_at, token_event_data(row))]

        row, created = self.store.get_or_create_token(
            tenant_id,
            subject_type.value,
            subject_id,
            is_usable=is_usable,
            mint=mint,
            events=events,
        )
        for token_id in unsealable:
            self._report_unsealable(token_id)
        token = known.get(row.sealed) or self.codec.unseal(row.sealed)
        if token is None:  # pragma: no cover - is_usable already checked it
            raise RuntimeError("stored portal token cannot be unsealed")
        if created:
            signals.send_safely(
                signals.token_created,
                self.sender,
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

    def verify(self, token: str) -> StoredPortalToken:
        """Check a portal token: signature first, then one indexed lookup.

        :raises TokenInvalid: tampered, unknown or revoked (no query when tampered).
        :raises TokenExpired: it was valid and has expired.
        """
        row = self.store.find_token_by_lookup_hash(self.codec.verify(token))
        if row is None or row.revoked_at is not None:
            raise TokenInvalid()
        if row.expires_at <= self.clock():
            raise TokenExpired()
        return row

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
