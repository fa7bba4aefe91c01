"""Retiring a secret key: re-seal what is stored under the newest key, and say
what cannot be.

Keys rotate the itsdangerous way (``secret_keys``, oldest first, the last one
signs and seals). Appending a key is not enough to retire the old one: stored
webhook secrets and portal tokens stay sealed with it, and get-or-create
keeps handing out tokens it signed. :meth:`KeyRotation.rotate` (the
``client-portal rotate-keys`` command):

* re-seals every webhook endpoint secret and every portal token under the
  newest key, so the old key can then leave the list;
* reports (and marks, ``seal_status = "unsealable"`` with the reason) each
  endpoint and each live token that no listed key opens any more;
* with ``remint_old_links=True``, gives each subject whose current token was
  *signed* by an old key a new token (same expiry) signed by the newest one.
  Links already sent keep working while the old key is listed; new
  invitations and ``POST /token`` hand out the new link. This changes links,
  so it is never done without being asked.

It also keeps :class:`KeyFingerprints`: an HMAC of a constant per signing key
used on the database, so a command run with another key can tell.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .events import TOKEN_CREATED, DomainEvent
from .portal_tokens import token_event_data
from .schemas import utc_now
from .settings import Settings
from .storage import Database
from .storage._records import TOKEN_FIELDS, StoredPortalToken, token_from_row
from .tokens import UNSEALABLE, UNSEALABLE_REASON, PortalTokenCodec, Sealer
from .webhooks import webhook_sealer

__all__ = [
    "UNSEALABLE",
    "UNSEALABLE_REASON",
    "KeyFingerprints",
    "KeyRotation",
    "RotationReport",
    "key_fingerprint",
    "mark_token_unsealable",
]

logger = logging.getLogger("client_portal_core.keys")

_FINGERPRINT_INPUT = b"client-portal-core key fingerprint v1"


def key_fingerprint(key: bytes) -> str:
    """An HMAC-SHA256 of a constant under ``key`` (hex): tells keys apart, reveals none."""
    return hmac.new(key, _FINGERPRINT_INPUT, hashlib.sha256).hexdigest()


class KeyFingerprints:
    """The fingerprints of the signing keys processes used on one database.

    :param db: the portal's database.
    :param clock: the portal's clock.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    def known(self) -> set[str]:
        """Every fingerprint recorded so far."""
        table = self.db.tables.key_fingerprints
        with self.db.read() as conn:
            return set(conn.execute(sa.select(table.c.fingerprint)).scalars())

    def record(self, key: bytes) -> None:
        """Note that ``key`` signs on this database (idempotent)."""
        table = self.db.tables.key_fingerprints
        fingerprint, now = key_fingerprint(key), self.clock()
        seen = sa.update(table).where(table.c.fingerprint == fingerprint)
        with self.db.write() as conn:
            if conn.execute(seen.values(last_seen_at=now)).rowcount:
                return
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(table).values(
                        fingerprint=fingerprint, first_seen_at=now, last_seen_at=now
                    )
                )
        except IntegrityError:
            pass  # processes starting together: another one recorded it first

    def is_foreign(self, key: bytes) -> bool:
        """True when other keys were recorded here and ``key`` is not one of them."""
        known = self.known()
        return bool(known) and key_fingerprint(key) not in known


def mark_token_unsealable(db: Database, token_id: int) -> bool:
    """Mark one portal token row ``unsealable``; True when it was not marked yet."""
    table = db.tables.portal_tokens
    with db.write() as conn:
        changed = conn.execute(
            sa.update(table)
            .where(table.c.id == token_id, table.c.seal_status.is_distinct_from(UNSEALABLE))
            .values(seal_status=UNSEALABLE, seal_error=UNSEALABLE_REASON)
        ).rowcount
    return bool(changed)


@dataclass
class RotationReport:
    """What :meth:`KeyRotation.rotate` did, and what it could not do."""

    endpoints_resealed: int = 0
    tokens_resealed: int = 0
    tokens_reminted: int = 0
    #: Live tokens still signed by an old key (not re-minted: links unchanged).
    tokens_signed_by_old_key: int = 0
    unsealable_endpoints: list[dict[str, Any]] = field(default_factory=list)
    unsealable_tokens: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything stored opens with the keys."""
        return not (self.unsealable_endpoints or self.unsealable_tokens)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``client-portal rotate-keys`` prints."""
        return {
            "webhook_endpoints": {
                "resealed": self.endpoints_resealed,
                "unsealable": self.unsealable_endpoints,
            },
            "portal_tokens": {
                "resealed": self.tokens_resealed,
                "reminted": self.tokens_reminted,
                "signed_by_old_key": self.tokens_signed_by_old_key,
                "unsealable": self.unsealable_tokens,
            },
        }


class KeyRotation:
    """Re-seals one database's stored secrets and tokens under the newest key.

    :param db: the portal's database.
    :param settings: the secret keys (oldest first) and token settings.
    :param clock: the portal's clock (expiry of tokens, times of re-minted ones).
    """

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        keys = settings.key_bytes()
        self._codec = PortalTokenCodec(keys)
        self._newest = PortalTokenCodec(keys[-1:])
        self._token_sealer = Sealer(keys, purpose=b"portal-token")
        self._webhook_sealer = webhook_sealer(settings)

    def rotate(self, *, remint_old_links: bool = False) -> RotationReport:
        """Re-seal everything under the newest key; see the module's documentation."""
        report = RotationReport()
        self._rotate_endpoints(report)
        self._rotate_tokens(report, remint_old_links=remint_old_links)
        KeyFingerprints(self.db, self.clock).record(self.settings.key_bytes()[-1])
        for item in report.unsealable_endpoints:
            logger.error("webhook endpoint %s: %s", item["id"], UNSEALABLE_REASON)
        for item in report.unsealable_tokens:
            logger.error("portal token %s: %s", item["id"], UNSEALABLE_REASON)
        return report

    def _rotate_endpoints(self, report: RotationReport) -> None:
        table = self.db.tables.webhook_endpoints
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(table.c.id, table.c.tenant_id, table.c.sealed_secret).order_by(table.c.id)
            ).all()
        for endpoint_id, tenant_id, sealed in rows:
            secret = self._webhook_sealer.unseal(sealed)
            if secret is None:
                values: dict[str, Any] = {
                    "seal_status": UNSEALABLE,
                    "seal_error": UNSEALABLE_REASON,
                }
                report.unsealable_endpoints.append(
                    {"id": endpoint_id, "tenant_id": tenant_id, "reason": UNSEALABLE_REASON}
                )
            else:
                values = {
                    "sealed_secret": self._webhook_sealer.seal(secret),
                    "seal_status": None,
                    "seal_error": None,
                }
                report.endpoints_resealed += 1
            with self.db.write() as conn:
                conn.execute(sa.update(table).where(table.c.id == endpoint_id).values(values))

    def _rotate_tokens(self, report: RotationReport, *, remint_old_links: bool) -> None:
        table = self.db.tables.portal_tokens
        now = self.clock()
        with self.db.read() as conn:
            rows = [
                token_from_row(row)
                for row in conn.execute(
                    sa.select(*(table.c[name] for name in TOKEN_FIELDS)).order_by(table.c.id)
                )
            ]
        for row in rows:
            live = row.current and row.revoked_at is None and row.expires_at > now
            token = self._open(row.sealed)
            if token is None:
                if live:
                    mark_token_unsealable(self.db, row.id)
                    report.unsealable_tokens.append(
                        {
                            "id": row.id,
                            "tenant_id": row.tenant_id,
                            "type": row.subject_type,
                            "subject_id": row.subject_id,
                            "reason": UNSEALABLE_REASON,
                        }
                    )
                continue
            signed_by_old_key = not self._signed_by_newest(token)
            if live and signed_by_old_key and remint_old_links:
                self._remint(row)
                report.tokens_reminted += 1
                continue
            if live and signed_by_old_key:
                report.tokens_signed_by_old_key += 1
            with self.db.write() as conn:
                conn.execute(
                    sa.update(table)
                    .where(table.c.id == row.id)
                    .values(
                        sealed=self._token_sealer.seal(token), seal_status=None, seal_error=None
                    )
                )
            report.tokens_resealed += 1

    def _open(self, sealed: str) -> str | None:
        """The token in ``sealed`` if a listed key opens it and signed it."""
        token = self._token_sealer.unseal(sealed)
        if token is None:
            return None
        try:
            self._codec.verify(token)
        except Exception:
            return None
        return token

    def _signed_by_newest(self, token: str) -> bool:
        try:
            self._newest.verify(token)
        except Exception:
            return False
        return True

    def _remint(self, row: StoredPortalToken) -> None:
        """Retire ``row`` as its subject's current token and give it a new one, same expiry."""
        table = self.db.tables.portal_tokens
        new = self._newest.mint()
        created_at = self.clock().replace(microsecond=0)
        with self.db.write() as conn:
            retired = conn.execute(
                sa.update(table)
                .where(table.c.id == row.id, table.c.current.is_(True))
                .values(current=None)
            ).rowcount
            if not retired:
                return  # replaced meanwhile: nothing to re-mint
            inserted = conn.execute(
                sa.insert(table)
                .values(
                    tenant_id=row.tenant_id,
                    subject_type=row.subject_type,
                    subject_id=row.subject_id,
                    lookup_hash=new.lookup_hash,
                    sealed=new.sealed,
                    current=True,
                    created_at=created_at,
                    expires_at=row.expires_at,
                    access_count=0,
                )
                .returning(*(table.c[name] for name in TOKEN_FIELDS))
            ).one()
            stored = token_from_row(inserted)
            self.db.write_events(
                conn,
                [DomainEvent(TOKEN_CREATED, row.tenant_id, created_at, token_event_data(stored))],
            )
