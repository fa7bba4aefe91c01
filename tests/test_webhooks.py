"""Webhook delivery against a real HTTP receiver on 127.0.0.1, on SQLite and PostgreSQL.

Signatures are recomputed here with ``hmac``/``hashlib`` (and cross-checked
with the ``standardwebhooks`` package), never with the library's signer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from client_portal_core import (
    INVITATION_SENT,
    TOKEN_ACCESSED,
    TOKEN_CREATED,
    ClientPortal,
    InvalidWebhookEndpoint,
    UnsafeWebhookUrl,
    WebhookVerificationError,
    token_created,
    verify,
)
from client_portal_core.webhooks import WebhookWorker
from webhook_support import *  # noqa: F403
from webhook_support import SECRET_KEY, PortalMaker, Receiver, expected_signature, wait_until


def deliveries(portal: ClientPortal, tenant_id: str = "t1", status: str | None = None) -> list[Any]:
    return portal.list_webhook_deliveries(tenant_id, status=status, limit=1000)


def all_delivered(portal: ClientPortal, tenant_id: str, count: int) -> bool:
    rows = deliveries(portal, tenant_id)
    return len(rows) == count and all(row.status == "delivered" for row in rows)


def pump(worker: WebhookWorker, until: Any, timeout: float = 15.0) -> Any:
    """Run the worker in this thread until ``until()`` holds (bounded)."""

    def step() -> Any:
        worker.run_once()
        return until()

    return wait_until(step, timeout)


# -- format and signature -------------------------------------------------------


def test_delivery_is_signed_per_standard_webhooks(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    endpoint = portal.add_webhook_endpoint("t1", receiver.url)
    issued = portal.get_or_create_token("t1", "contact", "42")
    pump(wh.worker(), lambda: receiver.snapshot())

    (got,) = receiver.snapshot()
    headers = got.headers
    assert endpoint.secret.startswith("whsec_")
    assert got.msg_id.startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"] == expected_signature(
        endpoint.secret, got.msg_id, headers["webhook-timestamp"], got.body
    )
    assert headers["content-type"] == "application/json"
    Webhook(endpoint.secret).verify(got.body, headers)  # an independent implementation
    body = json.loads(got.body)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == TOKEN_CREATED
    assert body["data"]["token_id"] == issued.token_id
    assert body["data"]["subject_id"] == "42"
    assert issued.token not in got.body.decode()
    assert issued.token.split(".")[0] not in got.body.decode()


def test_verify_accepts_the_real_message_and_refuses_forgeries(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    secret = portal.add_webhook_endpoint("t1", receiver.url).secret
    portal.get_or_create_token("t1", "contact", "1")
    pump(wh.worker(), lambda: receiver.snapshot())
    got = receiver.snapshot()[0]

    assert verify(got.body, got.headers, secret)["type"] == TOKEN_CREATED
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(got.body.replace(b'"1"', b'"2"'), got.headers, secret)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(got.body, got.headers, portal.add_webhook_endpoint("t1", receiver.url).secret)
    with pytest.raises(WebhookVerificationError, match="stale"):
        verify(got.body, got.headers, secret, now=time.time() + 3600)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(got.body, {"webhook-id": got.msg_id}, secret)


def test_secret_is_stored_sealed(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    endpoint = portal.add_webhook_endpoint("t1", receiver.url)
    table = portal.tables.webhook_endpoints
    with portal.engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.sealed_secret)).scalar_one()
    assert endpoint.secret not in stored
    assert endpoint.secret.removeprefix("whsec_") not in stored
    assert len(endpoint.secret.removeprefix("whsec_")) >= 32  # 24+ random bytes


# -- events ---------------------------------------------------------------------


def test_all_three_events_are_delivered(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    result = portal.invite("t1", "contact", "7")
    page = portal.open_portal(result.token.token, ip="203.0.113.9", user_agent="pytest")
    assert page.status == 303
    pump(wh.worker(), lambda: len(receiver.snapshot()) == 3)

    bodies = {json.loads(got.body)["type"]: json.loads(got.body) for got in receiver.snapshot()}
    assert set(bodies) == {INVITATION_SENT, TOKEN_CREATED, TOKEN_ACCESSED}
    assert bodies[INVITATION_SENT]["data"]["email"] == "c7@example.com"
    assert bodies[TOKEN_ACCESSED]["data"]["ip"] == "203.0.113.9"
    for got in receiver.snapshot():
        assert result.token.token not in got.body.decode()


def test_event_filter_limits_what_an_endpoint_receives(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url, events=[TOKEN_ACCESSED])
    issued = portal.get_or_create_token("t1", "contact", "1")
    portal.open_portal(issued.token)
    pump(wh.worker(), lambda: receiver.snapshot())
    assert [json.loads(got.body)["type"] for got in receiver.snapshot()] == [TOKEN_ACCESSED]
    with pytest.raises(InvalidWebhookEndpoint, match="unknown"):
        portal.add_webhook_endpoint("t1", receiver.url, events=["client_portal.nope"])


def test_endpoints_are_isolated_per_tenant(wh: PortalMaker, receiver: Receiver) -> None:
    other = Receiver()
    other.up()
    try:
        portal = wh.portal()
        portal.add_webhook_endpoint("t1", receiver.url)
        portal.add_webhook_endpoint("t2", other.url)
        portal.get_or_create_token("t1", "contact", "1")
        portal.get_or_create_token("t2", "contact", "1")
        portal.get_or_create_token("t2", "company", "9")
        pump(wh.worker(), lambda: len(receiver.snapshot()) + len(other.snapshot()) == 3)
        tenants = [json.loads(got.body)["data"]["tenant_id"] for got in receiver.snapshot()]
        others = [json.loads(got.body)["data"]["tenant_id"] for got in other.snapshot()]
        assert tenants == ["t1"]
        assert others == ["t2", "t2"]
        assert [e.tenant_id for e in portal.list_webhook_endpoints("t1")] == ["t1"]
        assert not portal.disable_webhook_endpoint("t1", portal.list_webhook_endpoints("t2")[0].id)
    finally:
        other.down()


def test_a_raising_signal_receiver_breaks_neither_request_nor_webhook(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)

    def explode(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    heard: list[Any] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    token_created.connect(explode, sender=portal)
    token_created.connect(listen, sender=portal)
    try:
        portal.get_or_create_token("t1", "contact", "1")
    finally:
        token_created.disconnect(explode, sender=portal)
        token_created.disconnect(listen, sender=portal)
    assert heard
    assert heard[0]["tenant_id"] == "t1"
    pump(wh.worker(), lambda: receiver.snapshot())


# -- the request path never waits ------------------------------------------------


def test_requests_send_no_webhook_themselves(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)

    portal.get_or_create_token("t1", "contact", "1")
    portal.invite("t1", "contact", "2")

    # No worker runs: every event waits in the outbox, untouched.
    assert receiver.snapshot() == []
    waiting = deliveries(portal)
    assert len(waiting) == 3  # two token_created, one invitation_sent
    assert {(row.status, row.attempt_count) for row in waiting} == {("pending", 0)}
    pump(wh.worker(), lambda: all_delivered(portal, "t1", 3))
    assert len(receiver.snapshot()) == 3


def test_slow_receiver_does_not_slow_the_api(wh: PortalMaker, receiver: Receiver) -> None:
    receiver.hang()  # every answer waits for release(), or 30 s
    portal = wh.portal(webhook_timeout_seconds=40.0, webhook_lease_seconds=60.0)
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.start_webhook_worker(poll_interval=0.02)
    try:
        portal.get_or_create_token("t1", "contact", "1")
        wait_until(lambda: receiver.snapshot())  # the worker now waits on the receiver

        portal.get_or_create_token("t1", "contact", "2")
        portal.invite("t1", "contact", "3")

        # Both calls returned while the receiver held every request: had either
        # waited for a delivery, it would have returned only after an answer.
        assert receiver.answered == 0
    finally:
        receiver.release()
    wait_until(lambda: all_delivered(portal, "t1", 4), timeout=30)


# -- retries --------------------------------------------------------------------


def test_the_first_schedule_entry_delays_the_first_attempt(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal(webhook_retry_schedule=[3600.0, 1.0])
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")

    [delivery] = deliveries(portal)
    assert delivery.next_attempt_at == delivery.created_at + timedelta(hours=1)
    assert wh.worker().run_once() == 0  # not due yet
    assert receiver.snapshot() == []


def test_retries_after_500_keep_the_same_webhook_id(wh: PortalMaker, receiver: Receiver) -> None:
    answers = iter([500, 500])
    receiver.reply = lambda _got: (next(answers, 200), {}, b"boom" * 400)
    portal = wh.portal()
    secret = portal.add_webhook_endpoint("t1", receiver.url).secret
    portal.get_or_create_token("t1", "contact", "1")
    pump(wh.worker(), lambda: all_delivered(portal, "t1", 1))

    got = receiver.snapshot()
    assert len(got) == 3
    assert len({received.msg_id for received in got}) == 1
    assert [received.headers["webhook-attempt"] for received in got] == ["1", "2", "3"]
    assert len({received.body for received in got}) == 1
    for received in got:
        assert received.headers["webhook-signature"] == expected_signature(
            secret, received.msg_id, received.headers["webhook-timestamp"], received.body
        )
    (delivery,) = deliveries(portal)
    attempts = portal.webhooks.list_attempts("t1", delivery.id)
    assert [attempt.status_code for attempt in attempts] == [500, 500, 200]
    assert all(len(attempt.response_snippet or "") <= 1024 for attempt in attempts)
    assert attempts[0].response_snippet
    assert attempts[0].response_snippet.startswith("boom")
    assert delivery.attempt_count == 3


def test_receiver_down_for_a_while_then_up_receives_everything(wh: PortalMaker) -> None:
    receiver = Receiver()
    receiver.up()
    receiver.down()  # keeps its port, refuses connections
    try:
        portal = wh.portal()
        portal.add_webhook_endpoint("t1", receiver.url)
        for subject in range(5):
            portal.get_or_create_token("t1", "contact", str(subject))
        worker = wh.worker()
        worker.start()
        wait_until(lambda: all(row.attempt_count >= 2 for row in deliveries(portal)))
        assert receiver.snapshot() == []
        receiver.up()
        wait_until(lambda: all_delivered(portal, "t1", 5), timeout=30)
        assert receiver.msg_ids() == {row.msg_id for row in deliveries(portal)}
        errors = portal.webhooks.list_attempts("t1", deliveries(portal)[0].id)[0].error
        assert errors
        assert "Connect" in errors
    finally:
        receiver.release()
        receiver.down()


def test_retry_after_is_honoured(wh: PortalMaker, receiver: Receiver) -> None:
    answers = iter([(503, {"Retry-After": "2"}, b"busy")])
    receiver.reply = lambda _got: next(answers, (200, {}, b"ok"))
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    # A generous timeout: on a loaded machine the 503 must still be read, not timed out.
    worker = wh.worker(webhook_timeout_seconds=10.0, webhook_lease_seconds=30.0)
    pump(worker, lambda: all_delivered(portal, "t1", 1))
    assert len(receiver.snapshot()) == 2
    [delivery] = deliveries(portal)
    first, second = portal.webhooks.list_attempts("t1", delivery.id)
    assert [first.status_code, second.status_code] == [503, 200]
    # The schedule alone would retry after 0.2 s. Measured on the worker's own
    # clock: the receiver's would add the request's varying transit times.
    assert second.attempted_at - first.attempted_at >= timedelta(seconds=2)


def test_a_dripping_receiver_cannot_hold_an_attempt_past_its_deadline(
    wh: PortalMaker, receiver: Receiver
) -> None:
    # One byte every 0.3 s: each read is well within the 1 s timeout, the answer never ends.
    receiver.drip = 0.3
    fast = {
        "webhook_timeout_seconds": 1.0,
        # Far past the timeout: a stalled machine must not let the other worker take over.
        "webhook_lease_seconds": 10.0,
        "webhook_retry_schedule": [0, 0.1, 0.1],
    }
    portal = wh.portal(**fast)
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    workers = [wh.worker(**fast), wh.worker(**fast)]
    for worker in workers:
        worker.start()
    wait_until(lambda: receiver.snapshot(), timeout=10)
    # Without the 1 s deadline the endless answer would hold the attempt forever.
    wait_until(lambda: deliveries(portal)[0].attempt_count >= 1, timeout=8)
    (failed,) = wait_until(lambda: deliveries(portal, status="failed"), timeout=20)

    assert failed.attempt_count == 3
    attempts = portal.webhooks.list_attempts("t1", failed.id)
    assert len(attempts) == 3
    for attempt in attempts:
        assert attempt.status_code is None
        # Cut off by its own 1 s budget, not by the lease.
        assert attempt.error == "timed out after 1s"
    seen = Counter((got.msg_id, got.headers["webhook-attempt"]) for got in receiver.snapshot())
    assert sorted(attempt for _msg, attempt in seen) == ["1", "2", "3"]
    assert set(seen.values()) == {1}  # no attempt was ever sent twice
    # Nothing is left blocking the pools: closing returns long before the
    # receiver's 30 s drip would have ended.
    closing = threading.Thread(target=lambda: [worker.close() for worker in workers], daemon=True)
    closing.start()
    closing.join(timeout=20)
    assert not closing.is_alive()


#: Header values as http.server writes them (latin-1): "²" as latin-1, "²" and
#: Arabic-Indic "12" as UTF-8 bytes, and a date that is not one.
_BAD_RETRY_AFTER = [
    "\u00b2",
    "\u00b2".encode().decode("latin-1"),
    "\u0661\u0662".encode().decode("latin-1"),
    "Mon, 99 Foo 2030 99:99:99",
]


@pytest.mark.parametrize("retry_after", _BAD_RETRY_AFTER)
def test_a_malformed_retry_after_is_ignored_and_the_attempt_recorded(
    wh: PortalMaker, receiver: Receiver, retry_after: str
) -> None:
    receiver.reply = lambda _got: (503, {"Retry-After": retry_after}, b"busy")
    portal = wh.portal(webhook_retry_schedule=[0, 0.1])
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    worker = wh.worker(webhook_retry_schedule=[0, 0.1])
    assert worker.run_once() == 1

    (delivery,) = deliveries(portal)
    assert delivery.status == "pending"
    assert delivery.attempt_count == 1
    assert delivery.last_error == "HTTP 503"
    (attempt,) = portal.webhooks.list_attempts("t1", delivery.id)
    assert attempt.status_code == 503
    (failed,) = pump(worker, lambda: deliveries(portal, status="failed"), timeout=10)
    assert failed.attempt_count == 2
    assert len(receiver.snapshot()) == 2


def test_an_attempt_whose_lease_expired_is_not_sent(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    worker = wh.worker()
    (claimed,) = worker._claim()
    # The worker stalled past its 30 s lease, on the database's clock (which
    # leases follow): another worker may hold the delivery now.
    table = portal.tables.webhook_deliveries
    with portal.engine.begin() as conn:
        (locked_until,) = conn.execute(sa.select(table.c.locked_until)).one()
        conn.execute(sa.update(table).values(locked_until=locked_until - timedelta(seconds=31)))
    worker._attempt(claimed)
    assert receiver.snapshot() == []
    (delivery,) = deliveries(portal)
    assert delivery.attempt_count == 0
    assert portal.webhooks.list_attempts("t1", delivery.id) == []


def test_retry_after_parsing_never_raises() -> None:
    from client_portal_core.webhooks._worker import _retry_after_seconds

    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert _retry_after_seconds("120", now) == 120
    assert _retry_after_seconds("99999999999", now) == 86400
    assert _retry_after_seconds("Tue, 01 Jan 2030 12:00:30 GMT", now) == 30
    for value in ["\u00b2", "\u0661", "1.5", "-1", "Mon, 99 Foo", "Tue, 01 Jan 99999 12:00:00 GMT"]:
        assert _retry_after_seconds(value, now) is None


def test_an_unexpected_error_while_sending_is_recorded(
    wh: PortalMaker, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    worker = wh.worker()

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the transport")

    monkeypatch.setattr(worker._client, "stream", explode)
    assert worker.run_once() == 1
    (delivery,) = deliveries(portal)
    assert delivery.attempt_count == 1
    (attempt,) = portal.webhooks.list_attempts("t1", delivery.id)
    assert "RuntimeError: bug in the transport" in (attempt.error or "")


def test_410_stops_and_disables_the_endpoint(wh: PortalMaker, receiver: Receiver) -> None:
    receiver.reply = lambda _got: (410, {}, b"gone")
    portal = wh.portal()
    endpoint = portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    pump(wh.worker(), lambda: deliveries(portal, status="failed"))

    (listed,) = portal.list_webhook_endpoints("t1")
    assert listed.id == endpoint.id
    assert not listed.enabled
    assert "410" in (listed.disabled_reason or "")
    assert len(receiver.snapshot()) == 1
    portal.get_or_create_token("t1", "contact", "2")
    assert len(deliveries(portal)) == 1  # a disabled endpoint gets no new deliveries


def test_410_fails_the_endpoints_other_waiting_deliveries(
    wh: PortalMaker, receiver: Receiver
) -> None:
    receiver.reply = lambda _got: (410, {}, b"gone")
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    for subject in ("1", "2", "3"):
        portal.get_or_create_token("t1", "contact", subject)

    wh.worker(batch_size=1).run_until_idle()

    assert len(receiver.snapshot()) == 1  # one answer was enough
    rows = deliveries(portal)
    assert {row.status for row in rows} == {"failed"}
    assert sum("not attempted" in (row.last_error or "") for row in rows) == 2


def test_failed_after_the_last_attempt_then_redelivered_by_hand(
    wh: PortalMaker, receiver: Receiver
) -> None:
    receiver.reply = lambda _got: (500, {}, b"down")
    portal = wh.portal(webhook_retry_schedule=[0, 0.1])
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    worker = wh.worker(webhook_retry_schedule=[0, 0.1])
    (failed,) = pump(worker, lambda: deliveries(portal, status="failed"))
    assert failed.attempt_count == 2
    assert failed.last_error == "HTTP 500"

    receiver.reply = lambda _got: (204, {}, b"")
    assert portal.redeliver_webhook("t1", failed.id)
    assert not portal.redeliver_webhook("t2", failed.id)  # another tenant's delivery
    pump(worker, lambda: all_delivered(portal, "t1", 1))
    assert receiver.msg_ids() == {failed.msg_id}
    assert len(portal.webhooks.list_attempts("t1", failed.id)) == 3


def test_disabled_endpoint_keeps_pending_deliveries_until_enabled(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    endpoint = portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    assert portal.disable_webhook_endpoint("t1", endpoint.id)
    worker = wh.worker()
    assert worker.run_until_idle() == 0
    assert portal.enable_webhook_endpoint("t1", endpoint.id)
    pump(worker, lambda: all_delivered(portal, "t1", 1))
    assert portal.remove_webhook_endpoint("t1", endpoint.id)
    assert portal.list_webhook_endpoints("t1") == []
    assert deliveries(portal) == []


# -- workers --------------------------------------------------------------------


def test_two_workers_never_deliver_one_attempt_twice(wh: PortalMaker, receiver: Receiver) -> None:
    receiver.delay = 0.02
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.add_webhook_endpoint("t1", receiver.url + "?second")
    for subject in range(15):
        portal.get_or_create_token("t1", "contact", str(subject))
    workers = [wh.worker(batch_size=3), wh.worker(batch_size=3)]
    claimed = Counter[str]()
    for worker in workers:
        # Count each worker's batches: the test means something only if both worked.
        def counting(run_once: Any = worker.run_once, worker_id: str = worker.worker_id) -> int:
            done: int = run_once()
            claimed[worker_id] += done
            return done

        worker.run_once = counting  # type: ignore[method-assign]
    for worker in workers:
        worker.start()
    wait_until(lambda: all_delivered(portal, "t1", 30), timeout=60)
    for worker in workers:  # a batch is counted after it is recorded: let each finish
        worker.stop(30)

    assert len(claimed) == 2, claimed
    assert min(claimed.values()) > 0, claimed
    assert sum(claimed.values()) == 30

    seen = Counter(
        (got.msg_id, got.path, got.headers["webhook-attempt"]) for got in receiver.snapshot()
    )
    assert len(seen) == 30
    assert set(seen.values()) == {1}
    with portal.engine.connect() as conn:
        attempts = conn.execute(
            sa.select(sa.func.count()).select_from(portal.tables.webhook_attempts)
        ).scalar_one()
    assert attempts == 30


def _worker_process(wh: PortalMaker) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        CLIENT_PORTAL_WEBHOOK_RETRY_SCHEDULE="0,0.2,0.2",
        CLIENT_PORTAL_WEBHOOK_TIMEOUT_SECONDS="2",
        CLIENT_PORTAL_WEBHOOK_LEASE_SECONDS="3",
        CLIENT_PORTAL_LOAD_ENTRY_POINTS="false",
    )
    command = [
        sys.executable,
        "-m",
        "client_portal_core",
        "webhook-worker",
        "--database-url",
        wh.database_url,
        "--secret-key",
        SECRET_KEY,
        "--table-prefix",
        wh.prefix,
        "--allow-private-urls",
        "--poll-interval",
        "0.05",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_batch_loses_nothing(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    for subject in range(5):
        portal.get_or_create_token("t1", "contact", str(subject))
    receiver.hang()
    process = _worker_process(wh)
    try:
        wait_until(lambda: receiver.snapshot() or process.poll() is not None, timeout=30)
        assert process.poll() is None, process.stdout.read() if process.stdout else b""
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout:
            process.stdout.close()
    in_flight = [row for row in deliveries(portal) if row.status == "pending"]
    assert in_flight  # the kill happened before anything was recorded as delivered
    receiver.release()

    replacement = _worker_process(wh)
    try:
        wait_until(lambda: all_delivered(portal, "t1", 5), timeout=30)
    finally:
        replacement.send_signal(signal.SIGTERM)
        replacement.wait(15)
        if replacement.stdout:
            replacement.stdout.close()
    assert receiver.msg_ids() == {row.msg_id for row in deliveries(portal)}
    assert replacement.returncode == 0


def test_in_process_worker_thread_starts_and_stops(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    worker = portal.start_webhook_worker(poll_interval=0.02)
    assert portal.start_webhook_worker() is worker
    portal.get_or_create_token("t1", "contact", "1")
    wait_until(lambda: all_delivered(portal, "t1", 1))
    portal.stop_webhook_worker()
    assert not any(t.name == "client-portal-webhook-worker" for t in threading.enumerate())


# -- SSRF guard -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo of 10.0.0.1
    ],
)
def test_private_urls_are_refused_by_default(wh: PortalMaker, url: str) -> None:
    portal = wh.portal(webhook_allow_private_urls=False)
    with pytest.raises(UnsafeWebhookUrl, match="resolves to"):
        portal.add_webhook_endpoint("t1", url)
    assert portal.list_webhook_endpoints("t1") == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com", ""])
def test_only_http_urls_are_accepted(wh: PortalMaker, url: str) -> None:
    with pytest.raises(InvalidWebhookEndpoint):
        wh.portal().add_webhook_endpoint("t1", url)


@pytest.mark.parametrize(
    "url", ["https://user:secret@hooks.example.com/x", "https://token@hooks.example.com/x"]
)
def test_urls_with_credentials_are_refused(wh: PortalMaker, url: str) -> None:
    portal = wh.portal()
    with pytest.raises(InvalidWebhookEndpoint, match="no user name or password"):
        portal.add_webhook_endpoint("t1", url)
    assert portal.list_webhook_endpoints("t1") == []


def test_delivery_refuses_private_addresses_when_not_allowed(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()  # private URLs allowed here, to register the endpoint...
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    worker = wh.worker(webhook_allow_private_urls=False)  # ...but not for this worker
    assert worker.run_until_idle() == 1
    (delivery,) = deliveries(portal)
    (attempt,) = portal.webhooks.list_attempts("t1", delivery.id)
    assert attempt.status_code is None
    assert "loopback" in (attempt.error or "")
    assert receiver.snapshot() == []


# -- command line ---------------------------------------------------------------


def test_cli_adds_an_endpoint_and_prints_its_secret(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "client_portal_core",
            "add-webhook",
            "--database-url",
            wh.database_url,
            "--secret-key",
            SECRET_KEY,
            "--table-prefix",
            wh.prefix,
            "--allow-private-urls",
            "--tenant",
            "t1",
            "--url",
            receiver.url,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    printed = json.loads(output)
    assert printed["secret"].startswith("whsec_")
    assert [endpoint.id for endpoint in portal.list_webhook_endpoints("t1")] == [printed["id"]]


# -- housekeeping -----------------------------------------------------------------


def _message_count(portal: ClientPortal) -> int:
    with portal.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(portal.tables.webhook_messages)
            ).scalar_one()
        )


def test_prune_deletes_finished_history_and_keeps_what_is_pending(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    held = portal.add_webhook_endpoint("t2", receiver.url)
    portal.get_or_create_token("t2", "contact", "1")
    portal.webhooks.set_endpoint_enabled("t2", held.id, False)  # t2's delivery waits
    for subject in ("1", "2"):
        portal.get_or_create_token("t1", "contact", subject)
    wh.worker().run_until_idle()  # t1's two messages: delivered

    assert portal.prune_webhook_history(timedelta(days=1)) == 0  # all younger than a day
    assert portal.prune_webhook_history(timedelta(0)) == 2

    assert deliveries(portal, "t1") == []
    assert [row.status for row in deliveries(portal, "t2")] == ["pending"]
    assert _message_count(portal) == 1


def test_prune_keeps_a_message_while_any_delivery_is_pending(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    first = portal.add_webhook_endpoint("t1", receiver.url)
    portal.add_webhook_endpoint("t1", receiver.url + "?second")
    portal.get_or_create_token("t1", "contact", "1")
    portal.webhooks.set_endpoint_enabled("t1", first.id, False)  # holds its delivery
    wh.worker().run_until_idle()  # the second endpoint's delivery goes out

    assert portal.prune_webhook_history(timedelta(0)) == 0
    assert _message_count(portal) == 1

    portal.remove_webhook_endpoint("t1", first.id)  # its pending delivery goes with it
    assert portal.prune_webhook_history(timedelta(0)) == 1
    assert _message_count(portal) == 0
    assert deliveries(portal) == []


def test_cli_prunes_webhook_history(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    wh.worker().run_until_idle()
    command = [
        sys.executable, "-m", "client_portal_core", "prune-webhooks",
        "--database-url", wh.database_url, "--secret-key", SECRET_KEY,
        "--table-prefix", wh.prefix, "--older-than-days", "0",
    ]  # fmt: skip

    output = subprocess.run(command, check=True, capture_output=True, timeout=60).stdout

    assert json.loads(output) == {"deleted_messages": 1}
    assert _message_count(portal) == 0
