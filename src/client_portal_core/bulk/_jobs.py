"""The SQL of bulk jobs and their items, with the fencing that keeps one run per job."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BulkJobBusy, NotFound
from ..schemas import format_utc
from ..storage import Database, db_now
from ._model import (
    BulkItem,
    BulkJobStatus,
    BulkReport,
    ItemStatus,
    Job,
    SubjectRef,
    distinct_subjects,
)

__all__ = ["BulkJobs", "taken_over"]

_INSERT_BATCH = 500


def taken_over(job_id: int) -> BulkJobBusy:
    """The error of a run whose job another run holds now."""
    return BulkJobBusy(
        f"Bulk job {job_id} was taken over by another run (resumed elsewhere); this run "
        "stopped without sending its next email"
    )


class BulkJobs:
    """Bulk jobs and items of every tenant, in the library's tables.

    Every write a run makes to an item it claimed is conditional on the run
    that claimed it, and every step that may lead to an email first checks,
    in its transaction, that the run still holds the job (:meth:`fenced`).

    :param db: the portal's database.
    :param clock: the portal's clock.
    :param takeover_after: a running job whose run showed no progress for
        this long, on the database's clock, may be claimed by another run.

    A job's ``updated_at`` (a run's last sign of life) is written and compared
    on the database's clock (:func:`~client_portal_core.storage.db_now`), so
    processes whose clocks disagree agree on whether a run is stale.
    """

    def __init__(
        self, db: Database, clock: Callable[[], datetime], *, takeover_after: timedelta
    ) -> None:
        self.db = db
        self.clock = clock
        self.takeover_after = takeover_after
        self._jobs = db.tables.bulk_jobs
        self._items = db.tables.bulk_job_items
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

    # -- jobs ---------------------------------------------------------------

    def create_job(
        self,
        tenant_id: str,
        subjects: Iterable[SubjectRef],
        custom_message: str | None = None,
        locale: str | None = None,
    ) -> int:
        """Record a job with one ``pending`` item per distinct subject; return its id.

        :raises ValueError: a subject type is unknown or an id is not 1 to 64
            printable characters.
        """
        refs = distinct_subjects(subjects)
        now = self.clock()
        with self.db.write() as conn:
            job_id = conn.execute(
                sa.insert(self._jobs)
                .values(
                    tenant_id=tenant_id,
                    custom_message=custom_message,
                    locale=locale,
                    status=BulkJobStatus.INTERRUPTED.value,
                    total=len(refs),
                    created_at=now,
                    updated_at=db_now(),
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

    def load_job(self, tenant_id: str, job_id: int) -> Job:
        """One of the tenant's jobs. :raises NotFound: the tenant has no such job."""
        j = self._jobs
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(j.c.id, j.c.tenant_id, j.c.custom_message, j.c.total, j.c.locale).where(
                    j.c.id == job_id, j.c.tenant_id == tenant_id
                )
            ).first()
        if row is None:
            raise NotFound(f"Bulk job {job_id} not found")
        return Job(*row)

    def report(self, tenant_id: str, job_id: int) -> BulkReport:
        """The job's current state. :raises NotFound: the tenant has no such job."""
        job = self.load_job(tenant_id, job_id)
        i = self._items
        with self.db.read() as conn:
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
        with self.db.read() as conn:
            ids = conn.execute(
                sa.select(j.c.id)
                .where(j.c.tenant_id == tenant_id)
                .order_by(j.c.id.desc())
                .limit(limit)
            ).scalars()
            job_ids = list(ids)
        return [self.report(tenant_id, job_id) for job_id in job_ids]

    # -- runs ---------------------------------------------------------------

    def claim_run(self, job_id: int, *, force: bool) -> str:
        """Mark the job ``running`` under a new run id, unless another live run holds it.

        :raises BulkJobBusy: a run showed progress within ``takeover_after``
            (and ``force`` is False).
        """
        j = self._jobs
        run_id = secrets.token_hex(16)
        claim = (
            sa.update(j)
            .where(j.c.id == job_id)
            .values(status=BulkJobStatus.RUNNING.value, run_id=run_id)
        )
        if not force:
            # Stale on the database's clock: a run elsewhere, whose machine's
            # clock is minutes behind this one's, still counts as alive.
            claim = claim.where(
                sa.or_(
                    j.c.status != BulkJobStatus.RUNNING.value,
                    j.c.updated_at < db_now(-self.takeover_after.total_seconds()),
                )
            )
        with self.db.write() as conn:
            if conn.execute(claim.values(updated_at=db_now())).rowcount:
                return run_id
            last = conn.execute(sa.select(j.c.updated_at).where(j.c.id == job_id)).scalar_one()
        raise BulkJobBusy(
            f"Bulk job {job_id} is being run by another process (last progress at "
            f"{format_utc(last)}); resume it once that run has stopped, or with force=True "
            f"if its process is dead"
        )

    def touch_run(self, job_id: int, run_id: str) -> bool:
        """Refresh a run's claim; False when another run holds the job now."""
        j = self._jobs
        with self.db.write() as conn:
            touched = conn.execute(
                sa.update(j)
                .where(j.c.id == job_id, j.c.run_id == run_id)
                .values(updated_at=db_now())
            ).rowcount
        return bool(touched)

    @contextmanager
    def fenced(self, job_id: int, run_id: str) -> Iterator[Connection]:
        """A write transaction that first makes sure this run still holds the job.

        :raises BulkJobBusy: another run took the job over.
        """
        with self.db.write() as conn:
            if not conn.execute(self._fence, {"job_id": job_id, "run": run_id}).rowcount:
                raise taken_over(job_id)
            yield conn

    def close_run(self, job_id: int, run_id: str, *, stopped: bool) -> None:
        """Mark the job finished (nothing left) or interrupted, and free it,
        unless another run took it over meanwhile."""
        try:
            with self.fenced(job_id, run_id) as conn:
                self._close_job(conn, job_id, stopped=stopped)
        except BulkJobBusy:
            pass  # taken over: the job is the other run's to close

    def _close_job(self, conn: Connection, job_id: int, *, stopped: bool) -> None:
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
        status = BulkJobStatus.FINISHED if finished else BulkJobStatus.INTERRUPTED
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id)
            .values(
                status=status.value,
                run_id=None,
                updated_at=db_now(),  # the job's updated_at is on the database's clock
                finished_at=self.clock() if finished else None,
            )
        )

    # -- items --------------------------------------------------------------

    def pending_ids(self, job_id: int) -> list[int]:
        """The job's items not attempted yet, in order."""
        i = self._items
        with self.db.read() as conn:
            ids = conn.execute(
                sa.select(i.c.id)
                .where(i.c.job_id == job_id, i.c.status == ItemStatus.PENDING.value)
                .order_by(i.c.id)
            ).scalars()
            return list(ids)

    def done_count(self, job_id: int) -> int:
        """How many of the job's items reached a final status."""
        i = self._items
        final = [ItemStatus.SENT.value, ItemStatus.FAILED.value, ItemStatus.UNKNOWN.value]
        with self.db.read() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(i)
                .where(i.c.job_id == job_id, i.c.status.in_(final))
            ).scalar_one()
        return int(count)

    def claim_item(self, job_id: int, item_id: int, run_id: str) -> tuple[str, str] | None:
        """Claim a pending item for this run: its ``(type, id)``, or None when
        another run took it. :raises BulkJobBusy: the job was taken over."""
        with self.fenced(job_id, run_id) as conn:
            # A conditional claim: of two runs racing for an item, one wins.
            claimed = conn.execute(
                self._claim_item, {"item_id": item_id, "run": run_id, "at": self.clock()}
            ).first()
        return None if claimed is None else (str(claimed[0]), str(claimed[1]))

    def link_item(self, job_id: int, item_id: int, run_id: str, invitation_id: int) -> None:
        """Note the invitation an item is about to send (a resume then tells
        "sent" from "unknown" by the invitation record).

        :raises BulkJobBusy: the job or the item is no longer this run's.
        """
        link = {"item_id": item_id, "run": run_id, "invitation_id": invitation_id}
        # The fence locks the job row, so a takeover either happened before,
        # and nothing is sent, or waits for this link, and then finds the
        # email in flight.
        with self.fenced(job_id, run_id) as conn:
            if not conn.execute(self._link_item, {**link, "at": self.clock()}).rowcount:
                raise taken_over(job_id)

    def update_item(
        self, item_id: int, run_id: str, status: ItemStatus, *, error: str | None = None
    ) -> None:
        """Record this run's outcome for an item it claimed (a no-op if it lost it)."""
        statement = self._release_own_item if status is ItemStatus.PENDING else self._set_own_item
        with self.db.write() as conn:
            conn.execute(statement, {**self._item_values(item_id, status, error), "run": run_id})

    def in_flight(
        self, job_id: int
    ) -> list[tuple[int, str | None, int | None, str | None, str | None]]:
        """Items left ``sending``: ``(item id, run id, invitation id, invitation
        status, invitation error)`` each."""
        i, inv = self._items, self.db.tables.invitations
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(i.c.id, i.c.run_id, i.c.invitation_id, inv.c.status, inv.c.error)
                .select_from(i.outerjoin(inv, inv.c.id == i.c.invitation_id))
                .where(i.c.job_id == job_id, i.c.status == ItemStatus.SENDING.value)
            ).all()
        return [tuple(row) for row in rows]

    def settle_item(
        self,
        job_id: int,
        run_id: str,
        item_id: int,
        status: ItemStatus,
        error: str | None,
        *,
        read_run: str | None,
        read_invitation: int | None,
    ) -> None:
        """Give another run's in-flight item its status, only if it is still as read."""
        with self.fenced(job_id, run_id) as conn:
            conn.execute(
                self._settle_item,
                {
                    **self._item_values(item_id, status, error),
                    "read_run": read_run,
                    "read_invitation": read_invitation,
                },
            )

    def requeue(self, job_id: int, run_id: str, statuses: list[str]) -> None:
        """Put the job's items of ``statuses`` back to ``pending``."""
        i = self._items
        with self.fenced(job_id, run_id) as conn:
            conn.execute(
                sa.update(i)
                .where(i.c.job_id == job_id, i.c.status.in_(statuses))
                .values(status=ItemStatus.PENDING.value, updated_at=self.clock())
            )

    def _item_values(
        self, item_id: int, status: ItemStatus, error: str | None = None
    ) -> dict[str, Any]:
        return {
            "item_id": item_id,
            "new_status": status.value,
            "new_error": error,
            "at": self.clock(),
        }
