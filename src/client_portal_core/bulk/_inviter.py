"""Running bulk jobs: each item through the same path as a single invitation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from ..errors import (
    BulkJobBusy,
    ConfigurationError,
    InvitationFailed,
    MailDeliveryUncertain,
    MailServerUnavailable,
    PortalError,
)
from ..invitations import Invitations
from ..mail import ConnectionReusingMailer
from ..schemas import SubjectType
from ..validation import require_custom_message
from ._jobs import BulkJobs, taken_over
from ._model import BulkItem, BulkProgress, BulkReport, ItemStatus, Job, SubjectRef

__all__ = ["BulkInviter"]

#: A run refreshes its claim on its job this often (seconds).
_HEARTBEAT_SECONDS = 15.0

logger = logging.getLogger("client_portal_core.bulk")


class BulkInviter:
    """Creates, runs and resumes bulk invitation jobs of one portal.

    ``ClientPortal.invite_many`` and ``ClientPortal.resume_invite_many`` are
    shortcuts to :meth:`invite_many` and :meth:`resume`; ``ClientPortal.bulk``
    is the portal's inviter.

    :param invitations: the portal's invitations (directory, mailer, records).
    :param takeover_after: a job whose run showed no progress for this long
        is taken to have crashed, and may be resumed by another process.
    """

    def __init__(
        self, invitations: Invitations, *, takeover_after: timedelta = timedelta(minutes=5)
    ) -> None:
        if takeover_after.total_seconds() < 2 * _HEARTBEAT_SECONDS:
            raise ValueError(f"takeover_after must be at least {2 * _HEARTBEAT_SECONDS:g} s")
        self.invitations = invitations
        self.takeover_after = takeover_after
        self.jobs = BulkJobs(invitations.store.db, invitations.clock, takeover_after=takeover_after)

    # -- subjects -----------------------------------------------------------

    def directory_subjects(
        self, tenant_id: str, subject_type: SubjectType | str
    ) -> list[SubjectRef]:
        """All of a tenant's contacts (or companies), from ``client_portal_list_subjects``.

        :raises ConfigurationError: no plugin implements the hook.
        """
        kind = SubjectType(subject_type)
        ids = self.invitations.directory.list_subjects(tenant_id, kind)
        if ids is None:
            raise ConfigurationError(
                "no plugin lists subjects: implement client_portal_list_subjects "
                "in the host's directory plugin, or pass the ids explicitly"
            )
        return [(kind, subject_id) for subject_id in ids]

    # -- jobs ---------------------------------------------------------------

    def create_job(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        custom_message: str | None = None,
        locale: str | None = None,
    ) -> int:
        """Record a job with one ``pending`` item per distinct subject; return its id.

        Nothing is sent; :meth:`resume` runs it. Duplicates are dropped.

        :param locale: the language of the job's emails; ``None``: the tenant's.
        :raises ValueError: a subject type or id is refused (see
            :mod:`client_portal_core.validation`: ids are never stripped).
        :raises InvalidInput: (a ``ValueError``) ``custom_message`` is too long
            or holds control or bidirectional formatting characters.
        :raises ValidationFailed: ``locale`` names no installed catalog.
        """
        message = require_custom_message(custom_message)
        chosen = self.invitations.emails.check_locale(locale)
        return self.jobs.create_job(tenant_id, subjects, message, chosen)

    def report(self, tenant_id: str, job_id: int) -> BulkReport:
        """The job's current state: counts, failures with reasons, unknown items.

        :raises NotFound: the tenant has no such job.
        """
        return self.jobs.report(tenant_id, job_id)

    def list_jobs(self, tenant_id: str, limit: int = 20) -> list[BulkReport]:
        """The tenant's bulk jobs, newest first, as reports."""
        return self.jobs.list_jobs(tenant_id, limit)

    def invite_many(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        *,
        custom_message: str | None = None,
        locale: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkReport:
        """Create a job for ``subjects`` and run it; see :meth:`resume` for the run.

        :param locale: the language of every email (and of its link's pages);
            ``None``: each subject's tenant's.
        :raises ValidationFailed: ``locale`` names no installed catalog.
        """
        job_id = self.create_job(tenant_id, subjects, custom_message, locale)
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
        job = self.jobs.load_job(tenant_id, job_id)
        run_id = self.jobs.claim_run(job.id, force=force)
        lease = _RunLease(self.jobs, job.id, run_id)
        stopped = True
        try:
            self._settle_in_flight(
                job, run_id, resend_unknown=resend_unknown, retry_failed=retry_failed
            )
            with self._mail_session():
                done = self.jobs.done_count(job.id)
                for item_id in self.jobs.pending_ids(job.id):
                    if lease.lost.is_set():
                        raise taken_over(job.id)
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
            self.jobs.close_run(job.id, run_id, stopped=stopped)
        return self.report(tenant_id, job.id)

    # -- one run ------------------------------------------------------------

    @contextmanager
    def _mail_session(self) -> Iterator[None]:
        mailer = self.invitations.mailer
        if isinstance(mailer, ConnectionReusingMailer):
            with mailer.connection():
                yield
        else:
            yield

    def _run_item(self, job: Job, item_id: int, run_id: str) -> BulkItem | None:
        """Claim, invite and record one item; None when another run took it."""
        claimed = self.jobs.claim_item(job.id, item_id, run_id)
        if claimed is None:
            return None
        subject_type, subject_id = claimed
        invitations = self.invitations
        try:
            record, recipient, issued = invitations.prepare(
                job.tenant_id,
                SubjectType(subject_type),
                subject_id,
                job.custom_message,
                locale=job.locale,
            )
        except (PortalError, ValueError) as exc:
            # Unknown subject, no email address: nothing was sent.
            message = exc.message if isinstance(exc, PortalError) else str(exc)
            self.jobs.update_item(item_id, run_id, ItemStatus.FAILED, error=message)
            return BulkItem(subject_type, subject_id, ItemStatus.FAILED.value, message, None)
        # Rendered before the link below: a failure here left nothing in flight.
        try:
            email = invitations.emails.email_for(record, recipient, issued)
        except BaseException:
            self._not_sent(record.id, "the email could not be rendered")
            raise
        # From here on the email may leave: the invitation id lets a resume
        # tell "sent" from "unknown" by the invitation record.
        try:
            self.jobs.link_item(job.id, item_id, run_id, record.id)
        except BulkJobBusy:
            self._not_sent(record.id, "the bulk run was taken over by another run")
            raise
        status, error = ItemStatus.SENT, None
        try:
            invitations.deliver(record, recipient, issued, email)
        except InvitationFailed as exc:
            if isinstance(exc.__cause__, MailServerUnavailable):
                # Nothing left; every next item would fail alike: stop, resumable.
                self.jobs.update_item(item_id, run_id, ItemStatus.PENDING)
                raise exc.__cause__ from None
            uncertain = isinstance(exc.__cause__, MailDeliveryUncertain)
            status = ItemStatus.UNKNOWN if uncertain else ItemStatus.FAILED
            error = exc.reason
        self.jobs.update_item(item_id, run_id, status, error=error)
        return BulkItem(subject_type, subject_id, status.value, error, record.id)

    def _settle_in_flight(
        self, job: Job, run_id: str, *, resend_unknown: bool, retry_failed: bool
    ) -> None:
        """Give each item left ``sending`` by a stopped run its real status."""
        for (
            item_id,
            item_run,
            invitation_id,
            invitation_status,
            invitation_error,
        ) in self.jobs.in_flight(job.id):
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
            # Only if unchanged since read: a run still alive may have finished it.
            self.jobs.settle_item(
                job.id,
                run_id,
                item_id,
                status,
                error,
                read_run=item_run,
                read_invitation=invitation_id,
            )
        again = [ItemStatus.UNKNOWN.value] if resend_unknown else []
        if retry_failed:
            again.append(ItemStatus.FAILED.value)
        if again:
            self.jobs.requeue(job.id, run_id, again)

    def _not_sent(self, invitation_id: int, reason: str) -> None:
        """Close an invitation record that will never be sent (no ``pending`` forever)."""
        try:
            self.invitations.store.finish_invitation(
                invitation_id, at=self.invitations.clock(), error=f"not sent: {reason}"
            )
        except Exception:  # the error on its way out matters more than this record
            logger.exception("could not close invitation %s (%s)", invitation_id, reason)


class _RunLease:
    """Keeps a run's claim on its job fresh from a daemon thread.

    Sets :attr:`lost` when another run holds the job now.
    """

    def __init__(self, jobs: BulkJobs, job_id: int, run_id: str) -> None:
        self._jobs = jobs
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
                if not self._jobs.touch_run(self._job_id, self._run_id):
                    self.lost.set()
                    return
            except Exception:  # the database may be back at the next beat
                logger.exception("bulk job %s: could not refresh the run's claim", self._job_id)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
