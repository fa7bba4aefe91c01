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

from ._inviter import BulkInviter
from ._model import BulkItem, BulkJobStatus, BulkProgress, BulkReport, ItemStatus, SubjectRef

__all__ = [
    "BulkInviter",
    "BulkItem",
    "BulkJobStatus",
    "BulkProgress",
    "BulkReport",
    "ItemStatus",
    "SubjectRef",
]
