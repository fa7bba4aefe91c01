"""Webhook endpoints, deliveries and attempts: the management API of one database.

Secrets are generated here and stored sealed (encrypted with a key derived
from the portal's secret keys); they are shown once, when an endpoint is
added, and unsealed only by the worker to sign.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..events import ALL_EVENT_TYPES
from ..schemas import utc_now
from ..settings import Settings
from ..storage import Database
from ..tokens import Sealer
from ._signing import generate_secret
from ._urls import InvalidWebhookEvents, check_webhook_url

__all__ = [
    "NewWebhookEndpoint",
    "RotatedWebhookSecret",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Webhooks",
    "webhook_sealer",
]

#: Delivery statuses: waiting for an attempt, answered 2xx, given up.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def webhook_sealer(settings: Settings) -> Sealer:
    """The sealer of endpoint secrets, from the portal's secret keys."""
    return Sealer(settings.key_bytes(), purpose=b"webhook-secret")


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A tenant's webhook endpoint; the secret is never part of it.

    ``disabled_reason`` says why it was switched off (by hand, or after the
    receiver answered 410 Gone). ``seal_status`` is ``"unsealable"`` (and
    ``seal_error`` says why) once no listed secret key opens its stored
    secret: its deliveries then fail at once, until the key is listed again
    (or ``client-portal rotate-keys`` ran while it still was).
    """

    id: int
    tenant_id: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    seal_status: str | None = None
    seal_error: str | None = None


@dataclass(frozen=True, slots=True)
class NewWebhookEndpoint:
    """A newly added endpoint and its signing secret, shown this once."""

    id: int
    tenant_id: str
    url: str
    events: tuple[str, ...]
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RotatedWebhookSecret:
    """An endpoint's new signing secret, shown this once.

    Until ``previous_expires_at`` every delivery is signed by the new and the
    previous secret (two ``v1,`` signatures); only by the new one after.
    """

    id: int
    secret: str = field(repr=False)
    previous_expires_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One message for one endpoint: ``pending``, ``delivered`` or ``failed``."""

    id: int
    msg_id: str
    endpoint_id: int
    tenant_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One HTTP attempt of a delivery: status code or error, duration, response start."""

    id: int
    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_snippet: str | None


def _check_tenant(tenant_id: str) -> None:
    if not tenant_id or len(tenant_id) > 64:
        raise ValueError("tenant_id must be 1 to 64 characters")


def _check_events(events: Iterable[str] | None) -> tuple[str, ...]:
    if events is None:
        return ALL_EVENT_TYPES
    chosen = tuple(dict.fromkeys(events))
    unknown = [name for name in chosen if name not in ALL_EVENT_TYPES]
    if unknown or not chosen:
        raise InvalidWebhookEvents(
            f"unknown or no event types {unknown}; choose among {list(ALL_EVENT_TYPES)}"
        )
    return chosen


class Webhooks:
    """Endpoints, deliveries and manual redelivery for every tenant of one database.

    :param db: the portal's database (its engine and tables).
    :param settings: the secret keys and webhook settings.
    :param clock: returns the current aware UTC time.
    """

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.sealer = webhook_sealer(settings)

    # -- endpoints ----------------------------------------------------------

    def add_endpoint(
        self, tenant_id: str, url: str, events: Iterable[str] | None = None
    ) -> NewWebhookEndpoint:
        """Add an enabled endpoint with a new ``whsec_`` secret.

        :param events: event types to receive; all of them by default.
        :raises InvalidWebhookEndpoint: bad URL or unknown event type.
        :raises UnsafeWebhookUrl: the URL resolves to a non-public address
            and ``webhook_allow_private_urls`` is off.
        """
        _check_tenant(tenant_id)
        chosen = _check_events(events)
        check_webhook_url(url, allow_private=self.settings.webhook_allow_private_urls)
        secret = generate_secret()
        t = self.db.tables.webhook_endpoints
        with self.db.write() as conn:
            new_id = conn.execute(
                sa.insert(t)
                .values(
                    tenant_id=tenant_id,
                    url=url,
                    sealed_secret=self.sealer.seal(secret),
                    events=json.dumps(list(chosen)),
                    enabled=True,
                    disabled_reason=None,
                    created_at=self.clock(),
                )
                .returning(t.c.id)
            ).scalar_one()
        return NewWebhookEndpoint(new_id, tenant_id, url, chosen, secret)

    @staticmethod
    def _endpoint(row: sa.Row[Any]) -> WebhookEndpoint:
        m = row._mapping
        return WebhookEndpoint(
            id=m["id"],
            tenant_id=m["tenant_id"],
            url=m["url"],
            events=tuple(json.loads(m["events"])),
            enabled=bool(m["enabled"]),
            disabled_reason=m["disabled_reason"],
            created_at=m["created_at"],
            seal_status=m["seal_status"],
            seal_error=m["seal_error"],
        )

    def list_endpoints(self, tenant_id: str) -> list[WebhookEndpoint]:
        """The tenant's endpoints, oldest first."""
        t = self.db.tables.webhook_endpoints
        query = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.id)
        with self.db.read() as conn:
            return [self._endpoint(row) for row in conn.execute(query)]

    def endpoints_page(
        self, tenant_id: str, *, before_id: int | None = None, limit: int = 100
    ) -> list[WebhookEndpoint]:
        """The tenant's endpoints, newest first, with ids below ``before_id``."""
        t = self.db.tables.webhook_endpoints
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit))
            return [self._endpoint(row) for row in rows]

    def update_endpoint(
        self,
        tenant_id: str,
        endpoint_id: int,
        *,
        url: str | None = None,
        events: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint | None:
        """Change an endpoint's URL, events or state; ``None`` when the tenant has none.

        The URL goes through the same checks as :meth:`add_endpoint`;
        enabling clears ``disabled_reason``, disabling sets it to ``disabled``.

        :raises InvalidWebhookEndpoint: bad URL or event type.
        :raises UnsafeWebhookUrl: a non-public address.
        """
        values: dict[str, Any] = {}
        if url is not None:
            check_webhook_url(url, allow_private=self.settings.webhook_allow_private_urls)
            values["url"] = url
        if events is not None:
            values["events"] = json.dumps(list(_check_events(events)))
        if enabled is not None:
            values.update(enabled=enabled, disabled_reason=None if enabled else "disabled")
        t = self.db.tables.webhook_endpoints
        if values:
            with self.db.write() as conn:
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == endpoint_id, t.c.tenant_id == tenant_id)
                    .values(values)
                )
        return self.get_endpoint(tenant_id, endpoint_id)

    def rotate_secret(self, tenant_id: str, endpoint_id: int) -> RotatedWebhookSecret | None:
        """Give an endpoint a new secret; the current one keeps signing for a grace period.

        For ``Settings.webhook_secret_grace_seconds`` every delivery carries a
        signature by each secret; a second rotation within the period drops
        the oldest one. ``None`` when the tenant has no such endpoint.
        """
        t = self.db.tables.webhook_endpoints
        secret = generate_secret()
        until = self.clock() + timedelta(seconds=self.settings.webhook_secret_grace_seconds)
        with self.db.write() as conn:
            updated = conn.execute(
                sa.update(t)
                .where(t.c.id == endpoint_id, t.c.tenant_id == tenant_id)
                .values(
                    previous_sealed_secret=t.c.sealed_secret,
                    previous_secret_expires_at=until,
                    sealed_secret=self.sealer.seal(secret),
                )
            ).rowcount
        return RotatedWebhookSecret(endpoint_id, secret, until) if updated else None

    def get_endpoint(self, tenant_id: str, endpoint_id: int) -> WebhookEndpoint | None:
        """One of the tenant's endpoints, or ``None``."""
        t = self.db.tables.webhook_endpoints
        query = sa.select(t).where(t.c.id == endpoint_id, t.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._endpoint(row)

    def set_endpoint_enabled(
        self, tenant_id: str, endpoint_id: int, enabled: bool, reason: str | None = None
    ) -> bool:
        """Switch an endpoint on or off; False when the tenant has no such endpoint.

        A disabled endpoint gets no new deliveries and its pending ones wait;
        enabling it again sends them.
        """
        t = self.db.tables.webhook_endpoints
        values = {"enabled": enabled, "disabled_reason": None if enabled else reason or "disabled"}
        with self.db.write() as conn:
            updated = conn.execute(
                sa.update(t).where(t.c.id == endpoint_id, t.c.tenant_id == tenant_id).values(values)
            ).rowcount
        return bool(updated)

    def remove_endpoint(self, tenant_id: str, endpoint_id: int) -> bool:
        """Delete an endpoint with its deliveries and attempts; False if there is none."""
        e, d = self.db.tables.webhook_endpoints, self.db.tables.webhook_deliveries
        a = self.db.tables.webhook_attempts
        with self.db.write() as conn:
            # Explicit deletes: ON DELETE CASCADE depends on the backend's settings.
            deliveries = sa.select(d.c.id).where(d.c.endpoint_id == endpoint_id)
            owned = e.c.id == endpoint_id, e.c.tenant_id == tenant_id
            if conn.execute(sa.select(e.c.id).where(*owned)).first() is None:
                return False
            conn.execute(sa.delete(a).where(a.c.delivery_id.in_(deliveries)))
            conn.execute(sa.delete(d).where(d.c.endpoint_id == endpoint_id))
            conn.execute(sa.delete(e).where(*owned))
        return True

    # -- deliveries ---------------------------------------------------------

    def _delivery_query(self) -> sa.Select[Any]:
        d, m = self.db.tables.webhook_deliveries, self.db.tables.webhook_messages
        return sa.select(
            d.c.id,
            m.c.msg_id,
            d.c.endpoint_id,
            d.c.tenant_id,
            m.c.event_type,
            d.c.status,
            d.c.attempt_count,
            d.c.next_attempt_at,
            d.c.last_error,
            d.c.created_at,
            d.c.finished_at,
        ).join(m, m.c.id == d.c.message_id)

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        endpoint_id: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[WebhookDelivery]:
        """The tenant's deliveries, newest first, optionally of one status or
        endpoint, with ids below ``before_id``."""
        d = self.db.tables.webhook_deliveries
        query = self._delivery_query().where(d.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(d.c.status == status)
        if endpoint_id is not None:
            query = query.where(d.c.endpoint_id == endpoint_id)
        if before_id is not None:
            query = query.where(d.c.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(d.c.id.desc()).limit(limit)).all()
        return [WebhookDelivery(*row) for row in rows]

    def get_delivery(
        self, tenant_id: str, delivery_id: int, *, endpoint_id: int | None = None
    ) -> WebhookDelivery | None:
        """One of the tenant's deliveries (of ``endpoint_id``, when given), or ``None``."""
        d = self.db.tables.webhook_deliveries
        query = self._delivery_query().where(d.c.id == delivery_id, d.c.tenant_id == tenant_id)
        if endpoint_id is not None:
            query = query.where(d.c.endpoint_id == endpoint_id)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else WebhookDelivery(*row)

    def list_attempts(self, tenant_id: str, delivery_id: int) -> list[WebhookAttempt]:
        """Every attempt of one of the tenant's deliveries, oldest first."""
        a, d = self.db.tables.webhook_attempts, self.db.tables.webhook_deliveries
        query = (
            sa.select(
                a.c.id,
                a.c.delivery_id,
                a.c.attempted_at,
                a.c.status_code,
                a.c.duration_ms,
                a.c.error,
                a.c.response_snippet,
            )
            .join(d, d.c.id == a.c.delivery_id)
            .where(a.c.delivery_id == delivery_id, d.c.tenant_id == tenant_id)
            .order_by(a.c.id)
        )
        with self.db.read() as conn:
            return [WebhookAttempt(*row) for row in conn.execute(query)]

    def redeliver(self, tenant_id: str, delivery_id: int) -> bool:
        """Queue a finished delivery again, now, with a fresh retry schedule.

        The receiver gets the same ``webhook-id`` and body, with a new
        timestamp and signature. False when the tenant has no such delivery
        or it is still pending.
        """
        d = self.db.tables.webhook_deliveries
        with self.db.write() as conn:
            updated = conn.execute(
                sa.update(d)
                .where(d.c.id == delivery_id, d.c.tenant_id == tenant_id, d.c.status != PENDING)
                .values(
                    status=PENDING,
                    attempt_count=0,
                    next_attempt_at=self.clock(),
                    locked_by=None,
                    locked_until=None,
                    finished_at=None,
                )
            ).rowcount
        return bool(updated)

    def redeliver_failed(self, tenant_id: str, endpoint_id: int | None = None) -> int:
        """Queue every ``failed`` delivery of the tenant (or of one endpoint) again."""
        d = self.db.tables.webhook_deliveries
        query = sa.update(d).where(d.c.tenant_id == tenant_id, d.c.status == FAILED)
        if endpoint_id is not None:
            query = query.where(d.c.endpoint_id == endpoint_id)
        values = {
            "status": PENDING,
            "attempt_count": 0,
            "next_attempt_at": self.clock(),
            "finished_at": None,
        }
        with self.db.write() as conn:
            return int(conn.execute(query.values(values)).rowcount)

    # -- housekeeping -------------------------------------------------------

    def prune(self, older_than: timedelta, *, batch_size: int = 1000) -> int:
        """Delete finished webhook history older than ``older_than``, for every tenant.

        A message goes, with its deliveries and their attempts, once it is
        older than the cutoff and none of its deliveries is still pending
        (messages left without any delivery, after an endpoint was removed,
        go too). Deletes in batches of ``batch_size`` messages, one short
        transaction each. Returns the number of messages deleted.
        """
        if older_than < timedelta(0):
            raise ValueError("older_than must not be negative")
        t = self.db.tables
        m, d, a = t.webhook_messages, t.webhook_deliveries, t.webhook_attempts
        cutoff = self.clock() - older_than
        waiting = sa.select(d.c.id).where(d.c.message_id == m.c.id, d.c.status == PENDING)
        prunable = (
            sa.select(m.c.id)
            .where(m.c.created_at < cutoff, ~sa.exists(waiting))
            .order_by(m.c.id)
            .limit(batch_size)
        )
        deleted = 0
        while True:
            with self.db.write() as conn:
                ids = list(conn.execute(prunable).scalars())
                if not ids:
                    return deleted
                deliveries = sa.select(d.c.id).where(d.c.message_id.in_(ids))
                conn.execute(sa.delete(a).where(a.c.delivery_id.in_(deliveries)))
                conn.execute(sa.delete(d).where(d.c.message_id.in_(ids)))
                conn.execute(sa.delete(m).where(m.c.id.in_(ids)))
            deleted += len(ids)
