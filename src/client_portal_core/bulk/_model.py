"""The records of bulk invitation jobs: statuses, items, progress and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..schemas import SubjectType
from ..validation import check_subject_id

__all__ = [
    "BulkItem",
    "BulkJobStatus",
    "BulkProgress",
    "BulkReport",
    "ItemStatus",
    "Job",
    "SubjectRef",
    "distinct_subjects",
]

#: One subject to invite: ``(subject type, host id)``, e.g. ``("contact", 42)``.
SubjectRef = tuple[SubjectType | str, str | int]


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
class Job:
    """The parts of a job row a run needs."""

    id: int
    tenant_id: str
    custom_message: str | None
    total: int
    locale: str | None = None


def distinct_subjects(subjects: Iterable[SubjectRef]) -> list[tuple[str, str]]:
    """``(type, id)`` pairs, first occurrence kept; ids as the directory gets them.

    :raises ValueError: an unknown type, or an id :func:`check_subject_id`
        refuses (nothing is stripped: ``" 1"`` is refused, not read as ``"1"``).
    """
    seen: dict[tuple[str, str], None] = {}
    for subject_type, subject_id in subjects:
        kind = SubjectType(subject_type).value
        try:
            text = check_subject_id(subject_id)
        except ValueError as exc:
            raise ValueError(f"invalid {kind} id {subject_id!r}: {exc}") from None
        seen.setdefault((kind, text), None)
    return list(seen)
