"""Bulk invitations: invite many subjects of one tenant as a resumable job.

A run is recorded as a *bulk job* (``{prefix}bulk_jobs``) with one *item*
per subject (``{prefix}bulk_job_items``). Each item goes through the same
path as a single invitation (get-or-create the portal token, record the
invitation, send, ``invitation_sent`` signal and webhook outbox row), over
one mail connection when the mailer offers one
(:class:`~client_portal_core.mail.ConnectionReusingMailer`).

Delivery is **at most once** per item:

- an item is claimed (``pending`` -> ``sending``) before anything is sent,
  and marked ``sent`` or ``failed`` right after;
- an item marked ``sent`` is never sent again, by any resume;
- after a crash or an interrupt, :meth:`BulkInviter.resume` settles the
  items left ``sending``: one that never reached the mailer goes back to
  ``pending``; one whose invitation record says ``sent`` or ``failed``
  takes that status; one whose email may or may not have left (the crash
  hit between handing it to the mail server and recording the result)
  becomes ``unknown`` and is reported, not resent, unless the caller asks
  for at-least-once with ``resend_unknown=True``.

Subjects the directory does not know, or that have no email address, and
recipients the mail server refuses are failures in the report (with the
reason), never exceptions. A ``KeyboardInterrupt`` (or any error) stops the
run, leaves the job resumable and carries a note with the job id.

If the mail server goes away during a run (connection refused, ``421``,
failed login), the run stops with
:class:`~client_portal_core.errors.MailServerUnavailable`: the subject at hand
goes back to ``pending`` and the job is resumable, instead of every remaining
subject failing. A connection lost after an email was handed over makes that
item ``unknown`` (it may have been delivered), never a resend.

One run at a time: a run claims its job under a fresh random ``run_id`` and
refreshes the claim from a background thread while it lives, so a resume
elsewhere raises :class:`~client_portal_core.errors.BulkJobBusy`, however long
one email takes. After a crash (the process killed outright) the claim goes
stale: resume after ``takeover_after``, or at once with ``force=True``. A run
that was taken over notices before it sends its next email, and stops.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import (
    BulkJobBusy,
    ConfigurationError,
    InvitationFailed,
    MailDeliveryUncertain,
    MailServerUnavailable,
    NotFound,
    PortalError,
)
from .mail import ConnectionReusingMailer
from .schemas import SubjectType, format_utc

if TYPE_CHECKING:
    from .services import ClientPortal

__all__ = [
    "BulkInviter",
    "BulkItem",
    "BulkJobStatus",
    "BulkProgress",
    "BulkReport",
    "ItemStatus",
    "SubjectRef",
]

#: One subject to invite: ``(subject type, host id)``, e.g. ``("contact", 42)``.
SubjectRef = tuple[SubjectType | str, str | int]

_MAX_ID_LENGTH = 64
_INSERT_BATCH = 500
#: A run refreshes its claim on its job this often (seconds).
_HEARTBEAT_SECONDS = 15.0

logger = logging.getLogger("client_portal_core.bulk")


class ItemStatus(StrEnum):
    """Where one subject of a bulk job stands."""

    #: Not attempted yet.
    PENDING = "pending"
    #: Claimed by a run; the email may be on its way.
    SENDING = "sending"
    #: The mail server accepted the email. Never sent again.
    SENT = "sent"
    #: Not sent; ``error`` says why.
    FAILED = "failed"
    #: A run stopped while this email was in flight: it may or may not have left.
    UNKNOWN = "unknown"


class BulkJobStatus(StrEnum):
    """Where a bulk job stands."""

    #: A run is going on (or crashed without a chance to say so).
    RUNNING = "running"
    #: A run was stopped; resume it by job id.
    INTERRUPTED = "interrupted"
    #: No item is left to send (some may have failed or be unknown).
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One subject of a bulk job and its outcome."""

    subject_type: str
    subject_id: str
    status: str
    error: str | None
    invitation_id: int | None


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """Passed to the progress callback after each subject of a run.

    ``done`` counts the job's items that reached a final status (sent,
    failed, unknown), including those of earlier runs, out of ``total``.
    """

    job_id: int
    done: int
    total: int
    item: BulkItem


@dataclass(frozen=True, slots=True)
class BulkReport:
    """The state of a whole bulk job at the end of a run.

    :ivar failures: items not sent, each with its reason.
    :ivar unknown: items in flight when an earlier run stopped; not resent.
    :ivar pending: items not attempted yet (non-zero only for an unfinished job).
    """

    job_id: int
    tenant_id: str
    status: str
    total: int
    sent: int
    pending: int
    failures: list[BulkItem]
    unknown: list[BulkItem]

    @property
    def ok(self) -> bool:
        """True when every item was sent."""
        return self.sent == self.total


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    tenant_id: str
    custom_message: str | None
    total: int


class BulkInviter:
    """Creates, runs and resumes bulk invitation jobs of one portal.

    ``ClientPortal.invite_many`` and ``ClientPortal.resume_invite_many`` are
    shortcuts to :meth:`invite_many` and :meth:`resume`.

    :param portal: the portal whose directory, mailer and tables are used.
    :param takeover_after: a job whose run showed no progress for this long
        is taken to have crashed, and may be resumed by another process.
    """

    def __init__(
        self, portal: ClientPortal, *, takeover_after: timedelta = timedelta(minutes=5)
    ) -> None:
        if takeover_after.total_seconds() < 2 * _HEARTBEAT_SECONDS:
            raise ValueError(f"takeover_after must be at least {2 * _HEARTBEAT_SECONDS:g} s")
        self.portal = portal
        self.takeover_after = takeover_after
        self._store = portal.store
        self._jobs = portal.tables.bulk_jobs
        self._items = portal.tables.bulk_job_items
        i = self._items
        # Built once: a run executes these for every item.
        self._claim_item = (
            sa.update(i)
            .where(i.c.id == sa.bindparam("item_id"), i.c.status == ItemStatus.PENDING.value)
            .values(
                status=ItemStatus.SENDING.value,
                error=None,
                invitation_id=None,  # an earlier attempt's invitation is not this one's
                run_id=sa.bindparam("run"),
                updated_at=sa.bindparam("at"),
            )
            .returning(i.c.subject_type, i.c.subject_id)
        )
        # Every later write to a claimed item is conditional on the run that claimed it.
        owned = (i.c.id == sa.bindparam("item_id"), i.c.run_id == sa.bindparam("run"))
        self._link_item = (
            sa.update(i)
            .where(*owned, i.c.status == ItemStatus.SENDING.value)
            .values(invitation_id=sa.bindparam("invitation_id"), updated_at=sa.bindparam("at"))
        )
        j = self._jobs
        self._fence = (
            sa.update(j)
            .where(j.c.id == sa.bindparam("job_id"), j.c.run_id == sa.bindparam("run"))
            .values(run_id=j.c.run_id)  # a no-op write: it locks the job row
        )
        new_state: dict[str, Any] = {
            "status": sa.bindparam("new_status"),
            "error": sa.bindparam("new_error"),
            "updated_at": sa.bindparam("at"),
        }
        # A run's own outcome lands while the item is in flight, or replaces the
        # "unknown" a run that took over guessed for it; a release to pending
        # only while it is still in flight.
        self._set_own_item = (
            sa.update(i)
            .where(
                *owned,
                i.c.status.in_([ItemStatus.SENDING.value, ItemStatus.UNKNOWN.value]),
            )
            .values(new_state)
        )
        self._release_own_item = (
            sa.update(i).where(*owned, i.c.status == ItemStatus.SENDING.value).values(new_state)
        )
        # Settling another run's item: only if it is still as it was read.
        self._settle_item = (
            sa.update(i)
            .where(
                i.c.id == sa.bindparam("item_id"),
                i.c.status == ItemStatus.SENDING.value,
                i.c.run_id.is_not_distinct_from(sa.bindparam("read_run")),
                i.c.invitation_id.is_not_distinct_from(sa.bindparam("read_invitation")),
            )
            .values(new_state)
        )

    # -- subjects -----------------------------------------------------------

    def directory_subjects(
        self, tenant_id: str, subject_type: SubjectType | str
    ) -> list[SubjectRef]:
        """All of a tenant's contacts (or companies), from ``client_portal_list_subjects``.

        :raises ConfigurationError: no plugin implements the hook.
        """
        kind = SubjectType(subject_type)
        ids = self.portal.plugin_manager.hook.client_portal_list_subjects(
            tenant_id=tenant_id, subject_type=kind
        )
        if ids is None:
            raise ConfigurationError(
                "no plugin lists subjects: implement client_portal_list_subjects "
                "in the host's directory plugin, or pass the ids explicitly"
            )
        return [(kind, str(subject_id)) for subject_id in ids]

    # -- jobs ---------------------------------------------------------------

    def create_job(
        self, tenant_id: str, subjects: Iterable[SubjectRef], custom_message: str | None = None
    ) -> int:
        """Record a job with one ``pending`` item per distinct subject; return its id.

        Nothing is sent; :meth:`resume` runs it. Duplicates are dropped.

        :raises ValueError: a subject type is unknown or an id is not 1 to 64
            printable characters.
        """
        refs = _distinct(subjects)
        now = self.portal.clock()
        with self._store.write() as conn:
            job_id = conn.execute(
                sa.insert(self._jobs)
                .values(
                    tenant_id=tenant_id,
                    custom_message=custom_message,
                    status=BulkJobStatus.INTERRUPTED.value,
                    total=len(refs),
                    created_at=now,
                    updated_at=now,
                )
                .returning(self._jobs.c.id)
            ).scalar_one()
            rows = [
                {
                    "job_id": job_id,
                    "subject_type": kind,
                    "subject_id": subject_id,
                    "status": ItemStatus.PENDING.value,
                    "updated_at": now,
                }
                for kind, subject_id in refs
            ]
            for start in range(0, len(rows), _INSERT_BATCH):
                conn.execute(sa.insert(self._items), rows[start : start + _INSERT_BATCH])
        return int(job_id)

    def invite_many(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        *,
        custom_message: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkReport:
        """Create a job for ``subjects`` and run it; see :meth:`resume` for the run."""
        job_id = self.create_job(tenant_id, subjects, custom_message)
        return self.resume(tenant_id, job_id, progress=progress)

    def resume(
        self,
        tenant_id: str,
        job_id: int,
        *,
        progress: Callable[[BulkProgress], None] | None = None,
        resend_unknown: bool = False,
        retry_failed: bool = False,
        force: bool = False,
    ) -> BulkReport:
        """Run (or go on with) a job: send every ``pending`` item, once.

        :param progress: called after each item of this run.
        :param resend_unknown: also send the items whose earlier attempt may
            or may not have gone out (at least once instead of at most once).
        :param retry_failed: also send the items that failed before.
        :param force: take the job over even if its last run shows recent
            progress; only when that run's process is known to be dead.
        :raises NotFound: the tenant has no such job.
        :raises BulkJobBusy: another process is running the job.
        :raises MailServerUnavailable: the mail server could not be reached,
            at the start or during the run; the job can be resumed.
        """
        job = self._load_job(tenant_id, job_id)
        run_id = self._claim_run(job.id, force=force)
        lease = _RunLease(self, job.id, run_id)
        stopped = True
        try:
            self._settle_in_flight(
                job, run_id, resend_unknown=resend_unknown, retry_failed=retry_failed
            )
            with self._mail_session():
                done = self._done_count(job.id)
                for item_id in self._pending_ids(job.id):
                    if lease.lost.is_set():
                        raise _taken_over(job.id)
                    item = self._run_item(job, item_id, run_id)
                    if item is None:
                        continue
                    done += 1
                    if progress is not None:
                        progress(BulkProgress(job.id, done, job.total, item))
            stopped = False
        except BaseException as exc:
            exc.add_note(
                f"client portal bulk job {job.id} stopped; resume it with "
                f"resume_invite_many({tenant_id!r}, {job.id})"
            )
            raise
        finally:
            lease.stop()
            self._close_run(job.id, run_id, stopped=stopped)
        return self.report(tenant_id, job.id)

    def report(self, tenant_id: str, job_id: int) -> BulkReport:
        """The job's current state: counts, failures with reasons, unknown items.

        :raises NotFound: the tenant has no such job.
        """
        job = self._load_job(tenant_id, job_id)
        i = self._items
        with self._store.read() as conn:
            status = conn.execute(
                sa.select(self._jobs.c.status).where(self._jobs.c.id == job.id)
            ).scalar_one()
            rows = conn.execute(
                sa.select(
                    i.c.subject_type, i.c.subject_id, i.c.status, i.c.error, i.c.invitation_id
                )
                .where(i.c.job_id == job.id)
                .order_by(i.c.id)
            ).all()
        items = [BulkItem(*row) for row in rows]
        return BulkReport(
            job_id=job.id,
            tenant_id=tenant_id,
            status=status,
            total=job.total,
            sent=sum(item.status == ItemStatus.SENT for item in items),
            pending=sum(item.status in (ItemStatus.PENDING, ItemStatus.SENDING) for item in items),
            failures=[item for item in items if item.status == ItemStatus.FAILED],
            unknown=[item for item in items if item.status == ItemStatus.UNKNOWN],
        )

    def list_jobs(self, tenant_id: str, limit: int = 20) -> list[BulkReport]:
        """The tenant's bulk jobs, newest first, as reports."""
        j = self._jobs
        with self._store.read() as conn:
            ids = conn.execute(
                sa.select(j.c.id)
                .where(j.c.tenant_id == tenant_id)
                .order_by(j.c.id.desc())
                .limit(limit)
            ).scalars()
            job_ids = list(ids)
        return [self.report(tenant_id, job_id) for job_id in job_ids]

    # -- one run ------------------------------------------------------------

    @contextmanager
    def _mail_session(self) -> Iterator[None]:
        mailer = self.portal.mailer
        if isinstance(mailer, ConnectionReusingMailer):
            with mailer.connection():
                yield
        else:
            yield

    def _run_item(self, job: _Job, item_id: int, run_id: str) -> BulkItem | None:
        """Claim, invite and record one item; None when another run took it."""
        with self._fenced(job.id, run_id) as conn:
            # A conditional claim: of two runs racing for an item, one wins.
            claimed = conn.execute(
                self._claim_item, {"item_id": item_id, "run": run_id, "at": self.portal.clock()}
            ).first()
        if claimed is None:
            return None
        subject_type, subject_id = claimed
        try:
            record, recipient, issued = self.portal._prepare_invitation(
                job.tenant_id, SubjectType(subject_type), subject_id, job.custom_message
            )
        except (PortalError, ValueError) as exc:
            # Unknown subject, no email address: nothing was sent.
            message = exc.message if isinstance(exc, PortalError) else str(exc)
            self._update_item(item_id, run_id, ItemStatus.FAILED, error=message)
            return BulkItem(subject_type, subject_id, ItemStatus.FAILED.value, message, None)
        # Rendered before the link below: a failure here left nothing in flight.
        try:
            email = self.portal._invitation_email(record, recipient, issued)
        except BaseException:
            self._not_sent(record.id, "the email could not be rendered")
            raise
        # From here on the email may leave: the invitation id lets a resume
        # tell "sent" from "unknown" by the invitation record.
        link = {"item_id": item_id, "run": run_id, "invitation_id": record.id}
        try:
            # Still this run's job and item? (The fence locks the job row, so a
            # takeover either happened before, and nothing is sent here, or
            # waits for this link, and then finds this email in flight.)
            with self._fenced(job.id, run_id) as conn:
                if not conn.execute(self._link_item, {**link, "at": self.portal.clock()}).rowcount:
                    raise _taken_over(job.id)
        except BulkJobBusy:
            self._not_sent(record.id, "the bulk run was taken over by another run")
            raise
        status, error = ItemStatus.SENT, None
        try:
            self.portal._deliver(record, recipient, issued, email)
        except InvitationFailed as exc:
            if isinstance(exc.__cause__, MailServerUnavailable):
                # Nothing left; every next item would fail alike: stop, resumable.
                self._update_item(item_id, run_id, ItemStatus.PENDING)
                raise exc.__cause__ from None
            uncertain = isinstance(exc.__cause__, MailDeliveryUncertain)
            status = ItemStatus.UNKNOWN if uncertain else ItemStatus.FAILED
            error = exc.reason
        self._update_item(item_id, run_id, status, error=error)
        return BulkItem(subject_type, subject_id, status.value, error, record.id)

    def _settle_in_flight(
        self, job: _Job, run_id: str, *, resend_unknown: bool, retry_failed: bool
    ) -> None:
        """Give each item left ``sending`` by a stopped run its real status."""
        i, inv = self._items, self.portal.tables.invitations
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(i.c.id, i.c.run_id, i.c.invitation_id, inv.c.status, inv.c.error)
                .select_from(i.outerjoin(inv, inv.c.id == i.c.invitation_id))
                .where(i.c.job_id == job.id, i.c.status == ItemStatus.SENDING.value)
            ).all()
        for item_id, item_run, invitation_id, invitation_status, invitation_error in rows:
            error: str | None = None
            if invitation_id is None:
                # Stopped before the invitation existed: the mailer never saw it.
                status = ItemStatus.PENDING
            elif invitation_status == "sent":
                status = ItemStatus.SENT
            elif invitation_status == "failed":
                status, error = ItemStatus.FAILED, invitation_error
            else:
                status = ItemStatus.UNKNOWN
                error = (
                    "the run stopped while this email was being sent; it may have "
                    "been delivered (resume with resend_unknown=True to send it again)"
                )
            with self._fenced(job.id, run_id) as conn:
                # Only if unchanged since read: a run still alive may have finished it.
                conn.execute(
                    self._settle_item,
                    {
                        **self._item_values(item_id, status, error),
                        "read_run": item_run,
                        "read_invitation": invitation_id,
                    },
                )
        again = [ItemStatus.UNKNOWN.value] if resend_unknown else []
        if retry_failed:
            again.append(ItemStatus.FAILED.value)
        if again:
            with self._fenced(job.id, run_id) as conn:
                conn.execute(
                    sa.update(i)
                    .where(i.c.job_id == job.id, i.c.status.in_(again))
                    .values(status=ItemStatus.PENDING.value, updated_at=self.portal.clock())
                )

    def _touch_run(self, job_id: int, run_id: str) -> bool:
        """Refresh this run's claim; False when another run holds the job now."""
        j = self._jobs
        with self._store.write() as conn:
            touched = conn.execute(
                sa.update(j)
                .where(j.c.id == job_id, j.c.run_id == run_id)
                .values(updated_at=self.portal.clock())
            ).rowcount
        return bool(touched)

    @contextmanager
    def _fenced(self, job_id: int, run_id: str) -> Iterator[Connection]:
        """A write transaction that first makes sure this run still holds the job.

        :raises BulkJobBusy: another run took the job over.
        """
        with self._store.write() as conn:
            if not conn.execute(self._fence, {"job_id": job_id, "run": run_id}).rowcount:
                raise _taken_over(job_id)
            yield conn

    def _close_run(self, job_id: int, run_id: str, *, stopped: bool) -> None:
        try:
            with self._fenced(job_id, run_id) as conn:
                self._close_job(conn, job_id, stopped=stopped)
        except BulkJobBusy:
            pass  # taken over: the job is the other run's to close

    def _close_job(self, conn: Connection, job_id: int, *, stopped: bool) -> None:
        """Mark the job finished (nothing left) or interrupted, and free it."""
        i, j = self._items, self._jobs
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(i)
            .where(
                i.c.job_id == job_id,
                i.c.status.in_([ItemStatus.PENDING.value, ItemStatus.SENDING.value]),
            )
        ).scalar_one()
        finished = not stopped and left == 0
        now = self.portal.clock()
        status = BulkJobStatus.FINISHED if finished else BulkJobStatus.INTERRUPTED
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id)
            .values(
                status=status.value,
                run_id=None,
                updated_at=now,
                finished_at=now if finished else None,
            )
        )

    # -- rows ---------------------------------------------------------------

    def _load_job(self, tenant_id: str, job_id: int) -> _Job:
        j = self._jobs
        with self._store.read() as conn:
            row = conn.execute(
                sa.select(j.c.id, j.c.tenant_id, j.c.custom_message, j.c.total).where(
                    j.c.id == job_id, j.c.tenant_id == tenant_id
                )
            ).first()
        if row is None:
            raise NotFound(f"Bulk job {job_id} not found")
        return _Job(*row)

    def _claim_run(self, job_id: int, *, force: bool) -> str:
        """Mark the job ``running`` under a new run id, unless another live run holds it."""
        j = self._jobs
        now = self.portal.clock()
        run_id = secrets.token_hex(16)
        claim = (
            sa.update(j)
            .where(j.c.id == job_id)
            .values(status=BulkJobStatus.RUNNING.value, run_id=run_id)
        )
        if not force:
            claim = claim.where(
                sa.or_(
                    j.c.status != BulkJobStatus.RUNNING.value,
                    j.c.updated_at < now - self.takeover_after,
                )
            )
        with self._store.write() as conn:
            if conn.execute(claim.values(updated_at=now)).rowcount:
                return run_id
            last = conn.execute(sa.select(j.c.updated_at).where(j.c.id == job_id)).scalar_one()
        raise BulkJobBusy(
            f"Bulk job {job_id} is being run by another process (last progress at "
            f"{format_utc(last)}); resume it once that run has stopped, or with force=True "
            f"if its process is dead"
        )

    def _pending_ids(self, job_id: int) -> list[int]:
        i = self._items
        with self._store.read() as conn:
            ids = conn.execute(
                sa.select(i.c.id)
                .where(i.c.job_id == job_id, i.c.status == ItemStatus.PENDING.value)
                .order_by(i.c.id)
            ).scalars()
            return list(ids)

    def _done_count(self, job_id: int) -> int:
        i = self._items
        final = [ItemStatus.SENT.value, ItemStatus.FAILED.value, ItemStatus.UNKNOWN.value]
        with self._store.read() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(i)
                .where(i.c.job_id == job_id, i.c.status.in_(final))
            ).scalar_one()
        return int(count)

    def _not_sent(self, invitation_id: int, reason: str) -> None:
        """Close an invitation record that will never be sent (no ``pending`` forever)."""
        try:
            self._store.finish_invitation(
                invitation_id, at=self.portal.clock(), error=f"not sent: {reason}"
            )
        except Exception:  # the error on its way out matters more than this record
            logger.exception("could not close invitation %s (%s)", invitation_id, reason)

    def _update_item(
        self, item_id: int, run_id: str, status: ItemStatus, *, error: str | None = None
    ) -> None:
        """Record this run's outcome for an item it claimed (a no-op if it lost it)."""
        statement = self._release_own_item if status is ItemStatus.PENDING else self._set_own_item
        with self._store.write() as conn:
            conn.execute(statement, {**self._item_values(item_id, status, error), "run": run_id})

    def _item_values(
        self, item_id: int, status: ItemStatus, error: str | None = None
    ) -> dict[str, Any]:
        return {
            "item_id": item_id,
            "new_status": status.value,
            "new_error": error,
            "at": self.portal.clock(),
        }


def _taken_over(job_id: int) -> BulkJobBusy:
    return BulkJobBusy(
        f"Bulk job {job_id} was taken over by another run (resumed elsewhere); this run "
        "stopped without sending its next email"
    )


class _RunLease:
    """Keeps a run's claim on its job fresh from a daemon thread.

    Sets :attr:`lost` when another run holds the job now.
    """

    def __init__(self, inviter: BulkInviter, job_id: int, run_id: str) -> None:
        self._inviter = inviter
        self._job_id = job_id
        self._run_id = run_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"client-portal-bulk-{job_id}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(_HEARTBEAT_SECONDS):
            try:
                if not self._inviter._touch_run(self._job_id, self._run_id):
                    self.lost.set()
                    return
            except Exception:  # the database may be back at the next beat
                logger.exception("bulk job %s: could not refresh the run's claim", self._job_id)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _distinct(subjects: Iterable[SubjectRef]) -> list[tuple[str, str]]:
    """Normalized ``(type, id)`` pairs, first occurrence kept."""
    seen: dict[tuple[str, str], None] = {}
    for subject_type, subject_id in subjects:
        kind = SubjectType(subject_type).value
        text = str(subject_id).strip()
        if not text or len(text) > _MAX_ID_LENGTH or not text.isprintable():
            raise ValueError(
                f"invalid {kind} id {subject_id!r}: must be 1 to 64 printable characters"
            )
        seen.setdefault((kind, text), None)
    return list(seen)
