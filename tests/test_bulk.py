"""Bulk invitations against a real SMTP server: one connection, resumable, never twice."""

from __future__ import annotations

import email
import email.policy
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import (
    ClientPortal,
    ConfigurationError,
    Recipient,
    SMTPMailer,
    SubjectType,
    hookimpl,
)
from client_portal_core.bulk import BulkInviter, BulkProgress, BulkReport, ItemStatus
from client_portal_core.errors import BulkJobBusy, MailServerUnavailable, NotFound
from client_portal_core.mail import OutgoingEmail
from conftest import PortalFactory, free_port

TENANT = "tenant-bulk"
OTHER_TENANT = "tenant-other"
N = 12
REFUSED = "refuse-me@example.com"


class BulkDirectory:
    """A host directory with N contacts with an email, one without, one refused by SMTP."""

    def __init__(self) -> None:
        self.contacts: dict[str, str | None] = {f"p{i}": f"p{i}@example.com" for i in range(N)}
        self.extra: dict[str, str | None] = {"no-mail": None, "refused": REFUSED}
        self.crash_on: str | None = None

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        if subject_id == self.crash_on:
            raise RuntimeError("the host's directory database went away")
        if tenant_id != TENANT or subject_type is not SubjectType.CONTACT:
            return None
        everyone = {**self.contacts, **self.extra}
        if subject_id not in everyone:
            return None
        return Recipient(subject_id, f"Person {subject_id}", everyone[subject_id])

    @hookimpl
    def client_portal_list_subjects(
        self, tenant_id: str, subject_type: SubjectType
    ) -> list[str] | None:
        if tenant_id != TENANT or subject_type is not SubjectType.CONTACT:
            return []
        return list(self.contacts)


@dataclass
class CountingHandler:
    """aiosmtpd handler: every accepted message, and one EHLO per connection."""

    connections: int = 0
    received: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(str(message["To"]))
        return "250 Message accepted"

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.received)


@dataclass
class Smtp:
    handler: CountingHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield Smtp(handler, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def bulk_directory() -> BulkDirectory:
    return BulkDirectory()


@pytest.fixture
def bulk_portal(make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory) -> Any:
    return make_portal(plugins=(bulk_directory,), mailer=None, smtp_url=smtp.url)


def contacts(*ids: str) -> list[tuple[str, str]]:
    return [("contact", subject_id) for subject_id in ids]


EVERYONE = contacts(*(f"p{i}" for i in range(N)))


class StopAfter:
    """A progress callback that records each call and interrupts after ``limit`` items."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.calls: list[BulkProgress] = []

    def __call__(self, progress: BulkProgress) -> None:
        self.calls.append(progress)
        if self.limit is not None and len(self.calls) >= self.limit:
            raise KeyboardInterrupt


# -- one connection, progress, report ------------------------------------------------


def test_n_invitations_share_one_smtp_connection(bulk_portal: ClientPortal, smtp: Smtp) -> None:
    report = bulk_portal.invite_many(TENANT, EVERYONE)

    assert report.ok
    assert report.sent == report.total == N
    assert smtp.handler.connections == 1
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


def test_progress_is_reported_once_per_subject(bulk_portal: ClientPortal) -> None:
    progress = StopAfter()

    report = bulk_portal.invite_many(TENANT, EVERYONE, progress=progress)

    assert len(progress.calls) == N
    assert [call.done for call in progress.calls] == list(range(1, N + 1))
    assert {call.total for call in progress.calls} == {N}
    assert {call.job_id for call in progress.calls} == {report.job_id}
    assert [call.item.subject_id for call in progress.calls] == [f"p{i}" for i in range(N)]


def test_each_bulk_invitation_takes_the_single_invite_path(bulk_portal: ClientPortal) -> None:
    report = bulk_portal.invite_many(TENANT, contacts("p0", "p1"), custom_message="Welcome!")

    invitations = bulk_portal.list_invitations(TENANT, status="sent")
    assert {inv.subject_id for inv in invitations} == {"p0", "p1"}
    assert {inv.custom_message for inv in invitations} == {"Welcome!"}
    # The same token as a later single request: get-or-create, not a new one.
    token = bulk_portal.get_or_create_token(TENANT, "contact", "p0")
    assert token.token_id in {inv.portal_token_id for inv in invitations}
    assert report.ok


def test_failures_are_reported_with_their_reason(bulk_portal: ClientPortal, smtp: Smtp) -> None:
    subjects = contacts("p0", "no-mail", "ghost", "refused", "p1")

    report = bulk_portal.invite_many(TENANT, subjects)

    reasons = {item.subject_id: item.error for item in report.failures}
    assert reasons == {
        "no-mail": "Contact does not have an email address",
        "ghost": "Contact not found",
        "refused": "the mail server refused the recipient",
    }
    assert report.sent == 2
    assert report.status == "finished"
    assert not report.ok
    # The refused recipient did not break the shared connection.
    assert smtp.handler.connections == 1
    assert smtp.handler.counts() == Counter({"p0@example.com": 1, "p1@example.com": 1})


def test_duplicate_subjects_are_invited_once(bulk_portal: ClientPortal, smtp: Smtp) -> None:
    report = bulk_portal.invite_many(TENANT, [("contact", "p0"), (SubjectType.CONTACT, "p0")])

    assert report.total == 1
    assert smtp.handler.counts() == Counter({"p0@example.com": 1})


def test_invalid_subject_is_refused_before_any_job(bulk_portal: ClientPortal) -> None:
    with pytest.raises(ValueError, match="invalid contact id"):
        bulk_portal.invite_many(TENANT, [("contact", "x" * 65)])
    with pytest.raises(ValueError, match="robot"):
        bulk_portal.invite_many(TENANT, [("robot", "1")])


# -- interrupt and resume ------------------------------------------------------------


def test_interrupted_run_resumes_without_sending_twice(
    bulk_portal: ClientPortal, smtp: Smtp
) -> None:
    interrupt = StopAfter(limit=5)
    with pytest.raises(KeyboardInterrupt) as stopped:
        bulk_portal.invite_many(TENANT, EVERYONE, progress=interrupt)
    job_id = interrupt.calls[0].job_id
    assert any(f"bulk job {job_id}" in note for note in stopped.value.__notes__)
    assert sum(smtp.handler.counts().values()) == 5

    resumed = StopAfter()
    report = bulk_portal.resume_invite_many(TENANT, job_id, progress=resumed)

    assert len(resumed.calls) == N - 5
    assert report.ok
    assert report.status == "finished"
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})
    # A finished job resumed again sends nothing.
    bulk_portal.resume_invite_many(TENANT, job_id)
    assert sum(smtp.handler.counts().values()) == N


class CrashAfterSending(SMTPMailer):
    """A real SMTP mailer whose process "dies" right after the server accepted one email."""

    def __init__(self, port: int, crash_on: str) -> None:
        super().__init__("127.0.0.1", port)
        self.crash_on = crash_on

    def send(self, email: OutgoingEmail) -> None:
        super().send(email)
        if email.to == self.crash_on:
            self.crash_on = ""
            raise KeyboardInterrupt


def test_email_in_flight_at_a_crash_is_unknown_and_not_resent(
    make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    portal = make_portal(
        plugins=(bulk_directory,), mailer=CrashAfterSending(smtp.port, "p3@example.com")
    )
    with pytest.raises(KeyboardInterrupt):
        portal.invite_many(TENANT, EVERYONE)
    job_id = BulkInviter(portal.invitations).list_jobs(TENANT)[0].job_id

    report = portal.resume_invite_many(TENANT, job_id)

    assert [item.subject_id for item in report.unknown] == ["p3"]
    assert report.sent == N - 1
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})

    # At least once, on request: the unknown one is sent again.
    forced = portal.resume_invite_many(TENANT, job_id, resend_unknown=True)
    assert forced.ok
    assert smtp.handler.counts()["p3@example.com"] == 2


def test_crash_before_the_mailer_leaves_the_subject_pending(
    bulk_portal: ClientPortal, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    bulk_directory.crash_on = "p4"
    with pytest.raises(RuntimeError, match="went away"):
        bulk_portal.invite_many(TENANT, EVERYONE)
    job = BulkInviter(bulk_portal.invitations).list_jobs(TENANT)[0]
    assert job.status == "interrupted"
    assert job.sent == 4

    bulk_directory.crash_on = None
    report = bulk_portal.resume_invite_many(TENANT, job.job_id)

    assert report.ok
    assert report.unknown == []
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


def test_failed_items_are_retried_only_on_request(
    bulk_portal: ClientPortal, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    report = bulk_portal.invite_many(TENANT, contacts("p0", "no-mail"))
    assert [item.subject_id for item in report.failures] == ["no-mail"]

    bulk_directory.extra["no-mail"] = "found-it@example.com"
    assert not bulk_portal.resume_invite_many(TENANT, report.job_id).ok
    retried = bulk_portal.resume_invite_many(TENANT, report.job_id, retry_failed=True)

    assert retried.ok
    assert smtp.handler.counts() == Counter({"p0@example.com": 1, "found-it@example.com": 1})


def test_a_job_is_resumed_only_by_its_tenant(bulk_portal: ClientPortal) -> None:
    report = bulk_portal.invite_many(TENANT, contacts("p0"))

    with pytest.raises(NotFound):
        bulk_portal.resume_invite_many(OTHER_TENANT, report.job_id)


def test_job_and_items_are_recorded(bulk_portal: ClientPortal) -> None:
    report = bulk_portal.invite_many(TENANT, contacts("p0", "ghost"))

    items = bulk_portal.tables.bulk_job_items
    with bulk_portal.engine.connect() as conn:
        rows = conn.execute(
            sa.select(items.c.subject_id, items.c.status).where(items.c.job_id == report.job_id)
        ).all()
    assert sorted(rows) == [("ghost", ItemStatus.FAILED.value), ("p0", ItemStatus.SENT.value)]


# -- the directory lists subjects -----------------------------------------------------


def test_all_of_a_tenants_contacts_come_from_the_directory_hook(
    bulk_portal: ClientPortal, smtp: Smtp
) -> None:
    subjects = BulkInviter(bulk_portal.invitations).directory_subjects(TENANT, "contact")

    report = bulk_portal.invite_many(TENANT, subjects)

    assert report.sent == N
    assert smtp.handler.connections == 1


def test_listing_subjects_without_the_hook_is_a_configuration_error(
    make_portal: PortalFactory, smtp: Smtp
) -> None:
    class FindOnly:
        @hookimpl
        def client_portal_find_recipient(
            self, tenant_id: str, subject_type: SubjectType, subject_id: str
        ) -> Recipient | None:
            return None

    portal = make_portal(plugins=(FindOnly(),), mailer=None, smtp_url=smtp.url)
    with pytest.raises(ConfigurationError, match="client_portal_list_subjects"):
        BulkInviter(portal.invitations).directory_subjects(TENANT, "contact")


def test_without_a_reusable_connection_each_email_opens_one(
    make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    class OneShotMailer:
        """A mailer without ``connection()``: bulk falls back to plain sends."""

        def __init__(self) -> None:
            self.smtp = SMTPMailer("127.0.0.1", smtp.port)

        def send(self, email: OutgoingEmail) -> None:
            self.smtp.send(email)

    portal = make_portal(plugins=(bulk_directory,), mailer=OneShotMailer())
    report = portal.invite_many(TENANT, contacts("p0", "p1", "p2"))

    assert report.ok
    assert smtp.handler.connections == 3


class CappedHandler(CountingHandler):
    """Accepts three messages per connection, then answers 421 like real providers."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        sent_here = getattr(session, "messages_here", 0)
        if sent_here >= 3:
            return "421 4.7.0 Too many messages on this connection, reconnect"
        session.messages_here = sent_here + 1
        return await super().handle_DATA(server, session, envelope)


def test_bulk_run_reconnects_when_the_server_caps_messages_per_connection(
    make_portal: PortalFactory, bulk_directory: BulkDirectory
) -> None:
    from aiosmtpd.controller import Controller

    handler = CappedHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        portal = make_portal(
            plugins=(bulk_directory,), mailer=None, smtp_url=f"smtp://127.0.0.1:{controller.port}"
        )
        report = portal.invite_many(TENANT, EVERYONE)
    finally:
        controller.stop()

    assert report.ok, report.failures
    assert handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})
    assert handler.connections == -(-N // 3)


# -- the mail server goes away mid-run -----------------------------------------------


class DropAfterAccepting(CountingHandler):
    """Takes one recipient's message, then drops the connection before the 250 reply:
    the client cannot know whether the message was delivered."""

    def __init__(self, drop_for: str) -> None:
        super().__init__()
        self.drop_for = drop_for

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.drop_for in envelope.rcpt_tos:
            self.drop_for = ""
            server.transport.close()
        return reply


def _invite_three_through(
    handler: CountingHandler, make_portal: PortalFactory, directory: BulkDirectory
) -> tuple[ClientPortal, BulkReport]:
    """Bulk-invite p0, p1, p2 through an aiosmtpd server running ``handler``."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        portal = make_portal(
            plugins=(directory,), mailer=None, smtp_url=f"smtp://127.0.0.1:{controller.port}"
        )
        return portal, portal.invite_many(TENANT, contacts("p0", "p1", "p2"))
    finally:
        controller.stop()


def test_connection_lost_after_the_message_went_out_is_unknown_not_resent(
    make_portal: PortalFactory, bulk_directory: BulkDirectory
) -> None:
    handler = DropAfterAccepting(drop_for="p1@example.com")
    portal, report = _invite_three_through(handler, make_portal, bulk_directory)

    assert [item.subject_id for item in report.unknown] == ["p1"]
    assert "may have been delivered" in (report.unknown[0].error or "")
    assert report.sent == 2
    [uncertain] = portal.list_invitations(TENANT, status="unknown")
    assert uncertain.subject_id == "p1"
    # Delivered once, and the run went on over a new connection.
    assert handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(3)})
    assert handler.connections == 2


class Busy421AtRcpt(CountingHandler):
    """Answers ``421`` (closing) to one recipient once, as servers capping messages
    per connection do: nothing was accepted, the client may reconnect and resend."""

    def __init__(self, busy_for: str) -> None:
        super().__init__()
        self.busy_for = busy_for

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.busy_for:
            self.busy_for = ""
            return "421 4.7.0 too many messages on this connection, closing"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_421_at_rcpt_reconnects_and_sends_once(
    make_portal: PortalFactory, bulk_directory: BulkDirectory
) -> None:
    handler = Busy421AtRcpt(busy_for="p1@example.com")
    _portal, report = _invite_three_through(handler, make_portal, bulk_directory)

    assert report.ok
    assert handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(3)})
    assert handler.connections == 2


def test_mail_server_outage_stops_the_run_and_resume_finishes_it(
    make_portal: PortalFactory, bulk_directory: BulkDirectory
) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    first = CountingHandler()
    controller = Controller(first, hostname="127.0.0.1", port=port)
    controller.start()
    portal = make_portal(
        plugins=(bulk_directory,), mailer=None, smtp_url=f"smtp://127.0.0.1:{port}"
    )

    def outage_after_three(progress: BulkProgress) -> None:
        if progress.done == 3:
            controller.stop()

    with pytest.raises(MailServerUnavailable):
        portal.invite_many(TENANT, EVERYONE, progress=outage_after_three)
    stopped = BulkInviter(portal.invitations).list_jobs(TENANT)[0]

    # Not N - 3 failures: the run stopped, the rest is still to send.
    assert (stopped.status, stopped.sent, stopped.pending, stopped.failures) == (
        "interrupted", 3, N - 3, [],
    )  # fmt: skip

    second = CountingHandler()
    controller = Controller(second, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        report = portal.resume_invite_many(TENANT, stopped.job_id)
    finally:
        controller.stop()

    assert report.ok
    assert first.counts() + second.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


# -- one run at a time ----------------------------------------------------------------


def let_runs_go_stale(portal: ClientPortal, inviter: BulkInviter) -> None:
    """What ``takeover_after`` passing does: runs are stale on the database's
    clock, which takeovers follow (the portal's own clock does not decide it)."""
    jobs = portal.tables.bulk_jobs
    age = inviter.takeover_after + timedelta(seconds=1)
    with portal.engine.begin() as conn:
        for job_id, updated_at in conn.execute(sa.select(jobs.c.id, jobs.c.updated_at)).all():
            conn.execute(
                sa.update(jobs).where(jobs.c.id == job_id).values(updated_at=updated_at - age)
            )


def test_a_job_running_elsewhere_is_not_resumed(
    bulk_portal: ClientPortal, smtp: Smtp, clock: Any
) -> None:
    refused: list[BulkJobBusy] = []

    def resume_from_another_process(progress: BulkProgress) -> None:
        if progress.done == 2:
            with pytest.raises(BulkJobBusy, match="another process") as busy:
                BulkInviter(bulk_portal.invitations).resume(TENANT, progress.job_id)
            refused.append(busy.value)

    report = bulk_portal.invite_many(TENANT, EVERYONE, progress=resume_from_another_process)

    assert [error.status for error in refused] == [409]
    assert report.ok
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


def test_a_run_that_crashed_can_be_taken_over(
    bulk_portal: ClientPortal, smtp: Smtp, clock: Any
) -> None:
    inviter = BulkInviter(bulk_portal.invitations)
    job_id = inviter.create_job(TENANT, EVERYONE)
    # A process claimed the job and was killed outright: the job stays "running".
    inviter.jobs.claim_run(job_id, force=False)

    with pytest.raises(BulkJobBusy):
        inviter.resume(TENANT, job_id)
    let_runs_go_stale(bulk_portal, inviter)
    assert inviter.resume(TENANT, job_id).ok

    again = inviter.create_job(TENANT, contacts("p0"))
    inviter.jobs.claim_run(again, force=False)
    assert inviter.resume(TENANT, again, force=True).ok


def test_a_run_stopped_while_rendering_leaves_that_subject_pending_not_unknown(
    make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory, tmp_path: Any
) -> None:
    template = tmp_path / "invitation_subject.txt"
    template.write_text('{% if recipient.id == "p3" %}{{ 1 // 0 }}{% endif %}Hello')
    portal = make_portal(
        plugins=(bulk_directory,), mailer=None, smtp_url=smtp.url, template_dirs=[str(tmp_path)]
    )
    with pytest.raises(ZeroDivisionError):
        portal.invite_many(TENANT, EVERYONE)
    job_id = BulkInviter(portal.invitations).list_jobs(TENANT)[0].job_id

    template.write_text("Hello again")
    later = template.stat().st_mtime + 10  # Jinja reloads a template whose mtime changed
    os.utime(template, (later, later))
    report = portal.resume_invite_many(TENANT, job_id)

    # Nothing was in flight when rendering failed: p3 is sent, not "unknown".
    assert report.ok
    assert report.unknown == []
    assert portal.list_invitations(TENANT, status="pending") == []
    [unsent] = portal.list_invitations(TENANT, status="failed")
    assert (unsent.subject_id, unsent.error) == ("p3", "not sent: the email could not be rendered")
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


class TakeoverDirectory(BulkDirectory):
    """While looking up ``stall_on``, "stalls" past the takeover time: another
    process then resumes the job (as a real stall long enough would allow)."""

    def __init__(self, clock: Any, stall_on: str) -> None:
        super().__init__()
        self.clock = clock
        self.stall_on = stall_on
        self.portal: ClientPortal | None = None
        self.other_run: list[Any] = []

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        if subject_id == self.stall_on and self.portal is not None:
            self.stall_on = ""
            inviter = BulkInviter(self.portal.invitations)
            let_runs_go_stale(self.portal, inviter)
            job_id = inviter.list_jobs(TENANT)[0].job_id
            self.other_run.append(inviter.resume(TENANT, job_id))
        return super().client_portal_find_recipient(tenant_id, subject_type, subject_id)


def test_a_run_taken_over_stops_before_sending_again(
    make_portal: PortalFactory, smtp: Smtp, clock: Any
) -> None:
    directory = TakeoverDirectory(clock, stall_on="p2")
    portal = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url)
    directory.portal = portal

    with pytest.raises(BulkJobBusy, match="taken over"):
        portal.invite_many(TENANT, EVERYONE)

    [other] = directory.other_run
    assert other.ok  # the run that took over finished the job...
    assert portal.list_invitations(TENANT, status="pending") == []
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})
    # ...and the stale run did not overwrite its status on the way out.
    assert BulkInviter(portal.invitations).report(TENANT, other.job_id).status == "finished"


def test_an_earlier_failed_attempt_never_decides_a_later_one(
    make_portal: PortalFactory, bulk_directory: BulkDirectory, tmp_path: Any
) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    template = tmp_path / "invitation_subject.txt"
    template.write_text("Hello")
    portal = make_portal(
        plugins=(bulk_directory,),
        mailer=None,
        smtp_url=f"smtp://127.0.0.1:{port}",
        template_dirs=[str(tmp_path)],
    )

    def rewrite(text: str) -> None:
        template.write_text(text)
        later = template.stat().st_mtime + 10  # Jinja reloads a template whose mtime changed
        os.utime(template, (later, later))

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()

    def outage_after_first(progress: BulkProgress) -> None:
        controller.stop()

    # Run 1: p0 is sent, then the server goes away: p1 is back to pending, with
    # a failed invitation ("could not connect") from this attempt.
    with pytest.raises(MailServerUnavailable):
        portal.invite_many(TENANT, contacts("p0", "p1"), progress=outage_after_first)
    job_id = BulkInviter(portal.invitations).list_jobs(TENANT)[0].job_id
    # Run 2: the server is back, but the run stops while rendering p1's email.
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        rewrite("{{ 1 // 0 }}")
        with pytest.raises(ZeroDivisionError):
            portal.resume_invite_many(TENANT, job_id)
        # Run 3: p1 is still to send, not "failed" because of run 1's invitation.
        rewrite("Hello again")
        report = portal.resume_invite_many(TENANT, job_id)
    finally:
        controller.stop()

    assert report.ok
    assert handler.counts() == Counter({"p0@example.com": 1, "p1@example.com": 1})


# -- a run taken over while still alive (a long pause, or force=True) ---------------


def _items(portal: ClientPortal, job_id: int) -> dict[str, str]:
    i = portal.tables.bulk_job_items
    with portal.engine.connect() as conn:
        rows = conn.execute(sa.select(i.c.subject_id, i.c.status).where(i.c.job_id == job_id))
        return dict(rows.all())


class PausingDirectory(BulkDirectory):
    """Pauses the lookup of ``subject`` in the thread named ``thread`` until released."""

    def __init__(self, subject: str, thread: str, *, then_vanish: bool = False) -> None:
        super().__init__()
        self.subject, self.thread, self.then_vanish = subject, thread, then_vanish
        self.paused, self.release = threading.Event(), threading.Event()

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        if subject_id == self.subject and threading.current_thread().name == self.thread:
            self.paused.set()
            assert self.release.wait(30)
            if self.then_vanish:
                return None
        return super().client_portal_find_recipient(tenant_id, subject_type, subject_id)


def _in_thread(name: str, call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, outcome


def test_a_paused_run_never_overwrites_what_the_new_run_recorded(
    make_portal: PortalFactory, smtp: Smtp, clock: Any
) -> None:
    # Run A pauses in p2's lookup; run B takes over and sends everything; when
    # A wakes, p2 is gone from the directory: A must not record "failed" over B's "sent".
    directory = PausingDirectory("p2", thread="A", then_vanish=True)
    portal = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url)
    inviter = BulkInviter(portal.invitations)
    job_id = inviter.create_job(TENANT, EVERYONE)
    a, a_outcome = _in_thread("A", lambda: inviter.resume(TENANT, job_id))
    assert directory.paused.wait(10)
    let_runs_go_stale(portal, inviter)

    b = BulkInviter(portal.invitations).resume(TENANT, job_id)
    directory.release.set()
    a.join(30)

    assert b.ok
    assert isinstance(a_outcome.get("error"), BulkJobBusy)
    assert set(_items(portal, job_id).values()) == {"sent"}
    inviter.resume(TENANT, job_id, retry_failed=True)  # nothing failed: nothing to send
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


def test_a_run_taken_over_claims_nothing_more(
    make_portal: PortalFactory, smtp: Smtp, clock: Any
) -> None:
    # B takes over while A is between two items; B then pauses in its first
    # lookup while A tries its next item: A must stop without claiming it, or
    # that item would sit "sending" where B's run skips it.
    directory = PausingDirectory("p2", thread="B")
    portal = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url)
    inviter = BulkInviter(portal.invitations)
    started: list[Any] = []

    def take_over_after_two(progress: BulkProgress) -> None:
        if progress.done == 2:
            let_runs_go_stale(portal, inviter)
            started.append(
                _in_thread(
                    "B", lambda: BulkInviter(portal.invitations).resume(TENANT, progress.job_id)
                )
            )
            assert directory.paused.wait(10)  # B holds the job now, and p2

    with pytest.raises(BulkJobBusy, match="taken over"):
        inviter.invite_many(TENANT, EVERYONE, progress=take_over_after_two)
    directory.release.set()
    [(b, b_outcome)] = started
    b.join(30)

    assert b_outcome["value"].ok
    assert set(_items(portal, b_outcome["value"].job_id).values()) == {"sent"}
    assert smtp.handler.counts() == Counter({f"p{i}@example.com": 1 for i in range(N)})


class WaitAfterSending(SMTPMailer):
    """A real SMTP mailer that, once the server took the message, waits for ``go``
    before returning (before the run records anything)."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.sent, self.go = threading.Event(), threading.Event()

    def send(self, email: OutgoingEmail) -> None:
        super().send(email)
        self.sent.set()
        assert self.go.wait(30)


def test_settling_never_overwrites_an_outcome_recorded_meanwhile(
    make_portal: PortalFactory, smtp: Smtp, clock: Any, bulk_directory: BulkDirectory
) -> None:
    # B reads A's in-flight p0 ("sending"), then A records p0 "sent", then B
    # settles: B must leave "sent" alone (an "unknown" would invite a resend).
    mailer = WaitAfterSending(smtp.port)
    portal = make_portal(plugins=(bulk_directory,), mailer=mailer)
    inviter = BulkInviter(portal.invitations)
    job_id = inviter.create_job(TENANT, contacts("p0"))
    a_recorded = threading.Event()
    items_table = portal.tables.bulk_job_items.name

    @sa.event.listens_for(portal.engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        name = threading.current_thread().name
        recording = f"UPDATE {items_table} SET status" in statement and "sent" in str(params)
        if name == "A" and recording:
            a_recorded.set()
        if name == "B" and "LEFT OUTER JOIN" in statement:  # B's settle has read the items
            mailer.go.set()  # A may record its result now...
            assert a_recorded.wait(30)  # ...and B settles only after it did

    a, a_outcome = _in_thread("A", lambda: inviter.resume(TENANT, job_id))
    assert mailer.sent.wait(10)
    let_runs_go_stale(portal, inviter)
    b, b_outcome = _in_thread("B", lambda: BulkInviter(portal.invitations).resume(TENANT, job_id))
    a.join(30)
    b.join(30)
    sa.event.remove(portal.engine, "after_cursor_execute", after)

    assert "value" in a_outcome, a_outcome
    assert b_outcome["value"].status == "finished"
    assert _items(portal, job_id) == {"p0": "sent"}
    BulkInviter(portal.invitations).resume(TENANT, job_id, resend_unknown=True)  # nothing unknown
    assert smtp.handler.counts() == Counter({"p0@example.com": 1})


class PausedThenUnavailable(SMTPMailer):
    """In thread "A": waits for ``go``, then finds the mail server gone."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.entered, self.go = threading.Event(), threading.Event()

    def send(self, email: OutgoingEmail) -> None:
        if threading.current_thread().name == "A":
            self.entered.set()
            assert self.go.wait(30)
            raise MailServerUnavailable("could not connect to the mail server")
        super().send(email)


def test_a_run_forced_out_mid_send_cannot_reopen_a_finished_job(
    make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    mailer = PausedThenUnavailable(smtp.port)
    portal = make_portal(plugins=(bulk_directory,), mailer=mailer)
    inviter = BulkInviter(portal.invitations)
    job_id = inviter.create_job(TENANT, contacts("p0"))
    a, _a_outcome = _in_thread("A", lambda: inviter.resume(TENANT, job_id))
    assert mailer.entered.wait(10)

    b = BulkInviter(portal.invitations).resume(TENANT, job_id, force=True)  # p0 in flight: unknown
    mailer.go.set()
    a.join(30)

    assert (b.status, [item.subject_id for item in b.unknown]) == ("finished", ["p0"])
    after = inviter.report(TENANT, job_id)
    assert (after.status, after.pending) == ("finished", 0)  # A did not put p0 back


def _pause_settling_in(
    portal: ClientPortal, thread: str
) -> tuple[threading.Event, threading.Event]:
    """Make ``thread``'s run pause right before it reads the items to settle."""
    reached, go = threading.Event(), threading.Event()

    @sa.event.listens_for(portal.engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread().name == thread and "LEFT OUTER JOIN" in statement:
            reached.set()
            assert go.wait(30)

    return reached, go


def test_a_run_forced_out_while_settling_leaves_the_new_run_alone(
    make_portal: PortalFactory, smtp: Smtp
) -> None:
    directory = PausingDirectory("p0", thread="B")
    portal = make_portal(plugins=(directory,), mailer=None, smtp_url=smtp.url)
    inviter = BulkInviter(portal.invitations)
    job_id = inviter.create_job(TENANT, contacts("p0", "p1"))
    a_settling, a_go = _pause_settling_in(portal, "A")
    a, a_outcome = _in_thread("A", lambda: inviter.resume(TENANT, job_id))
    assert a_settling.wait(10)
    b, b_outcome = _in_thread(
        "B", lambda: BulkInviter(portal.invitations).resume(TENANT, job_id, force=True)
    )
    assert directory.paused.wait(10)  # B has claimed p0 and looks it up

    a_go.set()  # A settles from a stale read: B's p0 must stay B's
    a.join(30)
    directory.release.set()
    b.join(30)

    assert isinstance(a_outcome.get("error"), BulkJobBusy)
    assert b_outcome["value"].ok
    assert smtp.handler.counts() == Counter({"p0@example.com": 1, "p1@example.com": 1})


def test_a_run_forced_out_before_requeueing_requeues_nothing(
    make_portal: PortalFactory, smtp: Smtp, bulk_directory: BulkDirectory
) -> None:
    portal = make_portal(plugins=(bulk_directory,), mailer=None, smtp_url=smtp.url)
    inviter = BulkInviter(portal.invitations)
    job_id = inviter.create_job(TENANT, contacts("p0", "p1"))
    items = portal.tables.bulk_job_items
    with portal.engine.begin() as conn:  # an earlier run stopped with p0 in flight
        conn.execute(sa.update(items).where(items.c.subject_id == "p0").values(status="unknown"))
    a_settling, a_go = _pause_settling_in(portal, "A")
    a, a_outcome = _in_thread("A", lambda: inviter.resume(TENANT, job_id, resend_unknown=True))
    assert a_settling.wait(10)

    b = BulkInviter(portal.invitations).resume(TENANT, job_id, force=True)  # without resend_unknown
    a_go.set()
    a.join(30)

    assert isinstance(a_outcome.get("error"), BulkJobBusy)
    after = inviter.report(TENANT, job_id)
    assert (b.status, after.status, after.pending) == ("finished", "finished", 0)
    assert smtp.handler.counts() == Counter({"p1@example.com": 1})
