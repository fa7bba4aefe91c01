"""Several machines, clocks apart by minutes: leases and takeovers follow the
database's clock, so a worker or a bulk run whose own clock is ahead never
takes over what another one is still doing: no webhook attempt and no bulk
item is sent twice (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import Recipient, SubjectType, hookimpl
from client_portal_core.bulk import BulkInviter
from client_portal_core.errors import BulkJobBusy
from client_portal_core.webhooks import WebhookWorker
from conftest import PortalFactory
from test_bulk import EVERYONE, TENANT, BulkDirectory, Smtp
from test_bulk import smtp as smtp
from webhook_support import PortalMaker, Receiver, wait_until
from webhook_support import receiver as receiver
from webhook_support import wh as wh
from webhook_support import wh_database_url as wh_database_url
from webhook_support import wh_postgresql_url as wh_postgresql_url

SKEW = timedelta(minutes=10)


def ahead() -> datetime:
    """A machine's clock ten minutes fast."""
    return datetime.now(UTC) + SKEW


def behind() -> datetime:
    """A machine's clock ten minutes slow."""
    return datetime.now(UTC) - SKEW


def on_time() -> datetime:
    """A machine's clock that is right."""
    return datetime.now(UTC)


def test_a_worker_with_its_clock_minutes_ahead_never_sends_an_attempt_twice(
    wh: PortalMaker, receiver: Receiver
) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    first = WebhookWorker.from_settings(wh.settings(), clock=on_time, poll_interval=0.02)
    fast = WebhookWorker.from_settings(wh.settings(), clock=ahead, poll_interval=0.02)
    wh.workers += [first, fast]
    receiver.hang()  # the first worker's attempt stays in flight
    sending = threading.Thread(target=first.run_once)
    sending.start()
    wait_until(lambda: receiver.snapshot(), timeout=30)

    second = threading.Thread(target=fast.run_once)
    second.start()
    second.join(30)
    receiver.release()
    sending.join(30)

    assert len(receiver.snapshot()) == 1
    (delivery,) = portal.list_webhook_deliveries("t1")
    assert (delivery.status, delivery.attempt_count) == ("delivered", 1)


def test_a_lease_expires_on_the_database_clock(wh: PortalMaker, receiver: Receiver) -> None:
    portal = wh.portal()
    portal.add_webhook_endpoint("t1", receiver.url)
    portal.get_or_create_token("t1", "contact", "1")
    crashed = WebhookWorker.from_settings(wh.settings(webhook_lease_seconds=11), clock=ahead)
    fast = WebhookWorker.from_settings(wh.settings(), clock=ahead, poll_interval=0.02)
    wh.workers += [crashed, fast]
    assert len(crashed._claim()) == 1  # then "crashes": never sends

    assert fast._claim() == []  # its clock is 10 min ahead, the lease still holds
    deliveries = portal.tables.webhook_deliveries
    with portal.engine.begin() as conn:  # what 11 s on the database's clock do
        (locked_until,) = conn.execute(sa.select(deliveries.c.locked_until)).one()
        conn.execute(
            sa.update(deliveries).values(locked_until=locked_until - timedelta(seconds=12))
        )
    assert len(fast._claim()) == 1


class PausingDirectory(BulkDirectory):
    """Holds the lookup of ``pause_on`` until :attr:`release` is set."""

    def __init__(self, pause_on: str) -> None:
        super().__init__()
        self.pause_on = pause_on
        self.paused = threading.Event()
        self.release = threading.Event()

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        if subject_id == self.pause_on and not self.release.is_set():
            self.paused.set()
            assert self.release.wait(30)
        return super().client_portal_find_recipient(tenant_id, subject_type, subject_id)


def test_a_bulk_run_on_a_clock_minutes_ahead_never_takes_over_a_live_run(
    make_portal: PortalFactory, smtp: Smtp
) -> None:
    directory = PausingDirectory("p3")
    honest = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url, clock=behind)
    fast = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url, clock=ahead)
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["report"] = honest.invite_many(TENANT, EVERYONE)

    running = threading.Thread(target=run)
    running.start()
    assert directory.paused.wait(30)
    job_id = BulkInviter(honest.invitations).list_jobs(TENANT)[0].job_id

    with pytest.raises(BulkJobBusy, match="another process"):
        fast.resume_invite_many(TENANT, job_id)
    directory.release.set()
    running.join(60)

    assert outcome["report"].ok
    assert outcome["report"].unknown == []
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(12)})


def test_a_bulk_run_is_taken_over_once_stale_on_the_database_clock(
    make_portal: PortalFactory, smtp: Smtp
) -> None:
    crashed = make_portal(plugins=(BulkDirectory(),), mailer=None, smtp_url=smtp.url, clock=ahead)
    slow = make_portal(plugins=(BulkDirectory(),), mailer=None, smtp_url=smtp.url, clock=behind)
    inviter = BulkInviter(crashed.invitations)
    job_id = inviter.create_job(TENANT, EVERYONE)
    inviter.jobs.claim_run(job_id, force=False)  # then killed outright

    with pytest.raises(BulkJobBusy):
        slow.resume_invite_many(TENANT, job_id)
    jobs = crashed.tables.bulk_jobs
    with crashed.engine.begin() as conn:  # what the takeover time does on the database's clock
        (updated_at,) = conn.execute(sa.select(jobs.c.updated_at).where(jobs.c.id == job_id)).one()
        stale = updated_at - inviter.takeover_after - timedelta(seconds=1)
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(updated_at=stale))

    assert slow.resume_invite_many(TENANT, job_id).ok
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(12)})
