"""The delivery worker: claims due deliveries, signs, POSTs, records, schedules.

Claiming is one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING id`` in a write transaction: on PostgreSQL concurrent workers skip
each other's rows, on SQLite the write transaction starts with ``BEGIN
IMMEDIATE`` so claims are serialized. A claim is a lease (``locked_by``,
``locked_until``), timed by the database's clock (``now()`` on PostgreSQL,
``strftime(..., 'now')`` on SQLite), never a process's own, so workers on
machines whose clocks disagree still agree on it: a worker that dies loses
its lease and another worker retries the delivery; every result is written
only while the lease is still held (``locked_by`` is the fencing token). No network I/O ever happens
inside a database transaction.

An attempt has a deadline for all of its I/O (``webhook_timeout_seconds``,
and never past the lease), so it cannot still be sending once its lease has
expired and another worker may send the same attempt; an attempt whose lease
has already expired is skipped.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..schemas import format_utc, utc_now
from ..settings import Settings
from ..storage import Database, build_tables, create_engine_from_url, db_now
from ..tokens import UNSEALABLE, UNSEALABLE_REASON
from ._endpoints import DELIVERED, FAILED, PENDING, webhook_sealer
from ._signing import sign, signature_headers
from ._urls import attempt_deadline, build_http_client

__all__ = ["WebhookWorker", "message_body"]

logger = logging.getLogger("client_portal_core.webhooks")

_SNIPPET_BYTES = 1024
_UNSEALABLE_ERROR = f"endpoint secret cannot be unsealed: {UNSEALABLE_REASON}"
_MAX_RETRY_AFTER = 86400.0
_JITTER = 0.1
_random = secrets.SystemRandom()


def message_body(payload: str, created_at: datetime) -> bytes:
    """The exact bytes POSTed for an outbox message: ``{"data","timestamp","type"}``.

    Built from the stored message only, so every retry sends the same bytes.
    """
    stored = json.loads(payload)
    body = {"type": stored["type"], "timestamp": format_utc(created_at), "data": stored["data"]}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: "²".isdigit() is true, but float("²") raises.
    if value.isascii() and value.isdecimal():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return min(max((when - now).total_seconds(), 0.0), _MAX_RETRY_AFTER)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # not a valid HTTP-date: ignore the header


@dataclass(frozen=True, slots=True)
class _Result:
    attempted_at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None
    snippet: str | None = None
    retry_after: float | None = None
    #: No listed key opens the endpoint's secret: fail now, retrying cannot help.
    unsealable: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookWorker:
    """Delivers the outbox of one database; run it in a thread or a process.

    It needs the database and settings only (no directory plugin): build it with
    :meth:`from_settings` in a worker process, or get the portal's own with
    :meth:`ClientPortal.start_webhook_worker`.

    :param db: the portal's database.
    :param settings: secret keys (to unseal endpoint secrets) and webhook settings.
    :param clock: returns the current aware UTC time.
    :param batch_size: deliveries claimed at once, and sent concurrently.
    :param poll_interval: seconds to wait when nothing is due.
    :param worker_id: names this worker's claims; unique by default.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = 10,
        poll_interval: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.worker_id = (
            worker_id or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(6)}"
        )[:64]
        self._sealer = webhook_sealer(settings)
        self._client = build_http_client(
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private_urls,
        )
        self._pool = ThreadPoolExecutor(batch_size, thread_name_prefix="client-portal-webhook")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: Engine | None = None, **options: Any
    ) -> WebhookWorker:
        """A worker on ``settings.database_url`` (or ``engine``), for a worker process."""
        engine = engine or create_engine_from_url(settings.database_url)
        db = Database(engine, build_tables(settings.table_prefix))
        return cls(db, settings, **options)

    # -- running ------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch of due deliveries, attempt each, and return how many."""
        claimed = self._claim()
        if claimed:
            list(self._pool.map(self._attempt, claimed))
        return len(claimed)

    def run_until_idle(self, max_batches: int = 1_000_000) -> int:
        """Run batches until nothing is due; return the number of attempts."""
        total = 0
        for _batch in range(max_batches):
            done = self.run_once()
            total += done
            if not done or self._stop.is_set():
                break
        return total

    def run(self, stop: threading.Event | None = None) -> None:
        """Deliver until ``stop`` (or :meth:`stop`) is set; errors are logged, not raised."""
        stop = stop or self._stop
        while not stop.is_set() and not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                logger.exception("webhook worker %s: batch failed; retrying", self.worker_id)
                busy = 0
            if not busy:
                stop.wait(self.poll_interval)

    def start(self) -> None:
        """Run in a daemon thread of this process (development, example hosts)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, name="client-portal-webhook-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Stop, then release the HTTP connections and threads."""
        self.stop()
        self._pool.shutdown(wait=True)
        self._client.close()

    # -- claiming -----------------------------------------------------------

    def _claim(self) -> list[int]:
        d, e = self.db.tables.webhook_deliveries, self.db.tables.webhook_endpoints
        # Due by the portal's clock; leased, and a lease expired, by the
        # database's: it is the one clock every worker shares.
        due = (
            sa.select(d.c.id)
            .join(e, e.c.id == d.c.endpoint_id)
            .where(
                d.c.status == PENDING,
                d.c.next_attempt_at <= self.clock(),
                sa.or_(d.c.locked_until.is_(None), d.c.locked_until <= db_now()),
                e.c.enabled.is_(True),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(self.batch_size)
            .with_for_update(of=d, skip_locked=True)
        )
        claim = (
            sa.update(d)
            .where(d.c.id.in_(due))
            .values(
                locked_by=self.worker_id,
                locked_until=db_now(self.settings.webhook_lease_seconds),
            )
            .returning(d.c.id)
        )
        with self.db.write() as conn:
            return sorted(conn.execute(claim).scalars())

    # -- one attempt --------------------------------------------------------

    def _load(self, delivery_id: int) -> Any:
        t = self.db.tables
        d, m, e = t.webhook_deliveries, t.webhook_messages, t.webhook_endpoints
        query = (
            sa.select(
                d.c.id,
                d.c.endpoint_id,
                d.c.attempt_count,
                d.c.locked_until,
                m.c.msg_id,
                m.c.payload,
                m.c.created_at,
                e.c.url,
                e.c.sealed_secret,
                e.c.previous_sealed_secret,
                e.c.previous_secret_expires_at,
                e.c.seal_status,
                db_now().label("db_now"),
            )
            .join(m, m.c.id == d.c.message_id)
            .join(e, e.c.id == d.c.endpoint_id)
            .where(d.c.id == delivery_id, d.c.locked_by == self.worker_id)
        )
        with self.db.read() as conn:
            return conn.execute(query).first()

    def _attempt(self, delivery_id: int) -> None:
        try:
            row = self._load(delivery_id)
            if row is None:  # removed, or the lease was lost
                return
            result = self._send(row)
            if result is None:
                logger.warning("webhook delivery %s: lease expired before sending", delivery_id)
                return
            self._record(row, result)
        except Exception:
            # The lease expires and another attempt follows; never kill the batch.
            logger.exception("webhook delivery %s: attempt failed unexpectedly", delivery_id)

    def _send(self, row: sa.Row[Any]) -> _Result | None:
        """Send one attempt and describe what happened; ``None`` if the lease has expired.

        Never raises: whatever goes wrong becomes the attempt's recorded error.
        """
        attempted_at = self.clock()
        # Both on the database's clock (read with the row): this process's
        # clock may be minutes off, the lease's time left is not.
        lease_left = (row.locked_until - row.db_now).total_seconds() if row.locked_until else 0
        if lease_left <= 0:
            return None
        budget = min(self.settings.webhook_timeout_seconds, lease_left)
        started = time.monotonic()
        try:
            with attempt_deadline(budget):
                return self._post(row, attempted_at, started)
        except httpx.TimeoutException:
            error = f"timed out after {budget:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:
            logger.exception("webhook delivery %s: unexpected error while sending", row.id)
            error = f"unexpected {type(exc).__name__}: {exc}"[:500]
        return _Result(
            attempted_at, duration_ms=int((time.monotonic() - started) * 1000), error=error
        )

    def _post(self, row: sa.Row[Any], attempted_at: datetime, started: float) -> _Result:
        secret = self._sealer.unseal(row.sealed_secret)
        if secret is None:
            return _Result(attempted_at, error=_UNSEALABLE_ERROR, unsealable=True)
        body = message_body(row.payload, row.created_at)
        timestamp = int(attempted_at.timestamp())
        headers = signature_headers(row.msg_id, timestamp, body, secret)
        previous = self._previous_secret(row, attempted_at)
        if previous is not None:
            # Standard Webhooks: space-separated signatures, any one may match.
            headers["webhook-signature"] += " " + sign(row.msg_id, timestamp, body, previous)
        headers["content-type"] = "application/json"
        headers["user-agent"] = "client-portal-core-webhooks"
        headers["webhook-attempt"] = str(row.attempt_count + 1)
        with self._client.stream("POST", row.url, content=body, headers=headers) as response:
            snippet = bytearray()
            for chunk in response.iter_raw():
                snippet += chunk
                if len(snippet) >= _SNIPPET_BYTES:
                    break
            return _Result(
                attempted_at,
                status_code=response.status_code,
                duration_ms=int((time.monotonic() - started) * 1000),
                snippet=bytes(snippet[:_SNIPPET_BYTES]).decode("utf-8", "replace") or None,
                retry_after=_retry_after_seconds(response.headers.get("retry-after"), attempted_at),
            )

    def _previous_secret(self, row: sa.Row[Any], at: datetime) -> str | None:
        """The rotated-out secret while its grace period lasts, else ``None``."""
        until = row.previous_secret_expires_at
        if row.previous_sealed_secret is None or until is None or until <= at:
            return None
        return self._sealer.unseal(row.previous_sealed_secret)

    def _next_delay(self, attempt: int, result: _Result) -> float | None:
        """Seconds until the next attempt, or ``None`` when this was the last."""
        schedule = self.settings.webhook_retry_schedule
        if attempt >= len(schedule):
            return None
        delay = schedule[attempt] * _random.uniform(1 - _JITTER, 1 + _JITTER)
        if result.status_code in (429, 503) and result.retry_after is not None:
            delay = max(delay, result.retry_after)
        return delay

    def _record(self, row: sa.Row[Any], result: _Result) -> None:
        t = self.db.tables
        d, a, e = t.webhook_deliveries, t.webhook_attempts, t.webhook_endpoints
        attempt = row.attempt_count + 1
        gone = result.status_code == 410
        values: dict[str, Any] = {
            "attempt_count": attempt,
            "locked_by": None,
            "locked_until": None,
            "last_error": None if result.ok else result.error or f"HTTP {result.status_code}",
        }
        final = gone or result.unsealable
        delay = None if result.ok or final else self._next_delay(attempt, result)
        if result.ok:
            values.update(status=DELIVERED, next_attempt_at=None, finished_at=self.clock())
        elif delay is None:
            values.update(status=FAILED, next_attempt_at=None, finished_at=self.clock())
        else:
            values["next_attempt_at"] = result.attempted_at + timedelta(seconds=delay)
        with self.db.write() as conn:
            conn.execute(
                sa.insert(a).values(
                    delivery_id=row.id,
                    attempted_at=result.attempted_at,
                    status_code=result.status_code,
                    duration_ms=result.duration_ms,
                    error=result.error,
                    response_snippet=result.snippet,
                )
            )
            held = conn.execute(
                sa.update(d).where(d.c.id == row.id, d.c.locked_by == self.worker_id).values(values)
            ).rowcount
            if not held:
                logger.warning("webhook delivery %s: lease lost before recording", row.id)
            if held and (result.unsealable or (result.ok and row.seal_status == UNSEALABLE)):
                self._mark_endpoint(conn, row.endpoint_id, unsealable=result.unsealable)
            if gone and held:
                conn.execute(
                    sa.update(e)
                    .where(e.c.id == row.endpoint_id)
                    .values(enabled=False, disabled_reason="receiver answered 410 Gone")
                )
                # The receiver is gone for good: its other waiting deliveries fail
                # now (kept for redelivery by hand) instead of waiting forever.
                now = self.clock()
                conn.execute(
                    sa.update(d)
                    .where(
                        d.c.endpoint_id == row.endpoint_id,
                        d.c.status == PENDING,
                        sa.or_(d.c.locked_until.is_(None), d.c.locked_until <= db_now()),
                    )
                    .values(
                        status=FAILED,
                        next_attempt_at=None,
                        finished_at=now,
                        last_error="not attempted: the endpoint answered 410 Gone and was disabled",
                    )
                )
        if gone:
            logger.warning("webhook endpoint %s answered 410 Gone: disabled", row.endpoint_id)
        if result.unsealable:
            # Loud: it never heals by itself (the id and the reason, never the secret).
            logger.error(
                "webhook delivery %s to endpoint %s failed: %s; list that key in "
                "secret_keys again (or seal the secret anew with client-portal rotate-keys "
                "while it is listed), then redeliver",
                row.id,
                row.endpoint_id,
                _UNSEALABLE_ERROR,
            )

    def _mark_endpoint(self, conn: Any, endpoint_id: int, *, unsealable: bool) -> None:
        """Record on the endpoint whether its secret opens; log the change once."""
        e = self.db.tables.webhook_endpoints
        status, error = (UNSEALABLE, UNSEALABLE_REASON) if unsealable else (None, None)
        changed = conn.execute(
            sa.update(e)
            .where(e.c.id == endpoint_id, e.c.seal_status.is_distinct_from(status))
            .values(seal_status=status, seal_error=error)
        ).rowcount
        if changed and unsealable:
            logger.error(
                "webhook endpoint %s marked unsealable: %s", endpoint_id, UNSEALABLE_REASON
            )
        elif changed:
            logger.warning("webhook endpoint %s: its secret opens again", endpoint_id)
