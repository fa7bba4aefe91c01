"""The example hosts' ``invite-bulk`` command: one resumable bulk job."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from client_portal_core import ConsoleMailer, MailDeliveryError, SubjectType
from client_portal_core.bulk import BulkItem, BulkReport, SubjectRef
from client_portal_core.errors import BulkJobBusy, NotFound, ValidationFailed

from .cli_base import CliError, HostApp
from .cli_commands import (
    mail_description,
    masked,
    open_host,
    require_tenant,
    uses_console_fallback,
)
from .cli_progress import BulkProgressDisplay

__all__ = ["check_bulk_options", "run_invite_bulk"]


def _read_ids_file(path: str, kind: SubjectType) -> list[SubjectRef]:
    """``(kind, id)`` per line of ``path``; blank lines and ``#`` comments skipped."""
    try:
        with open(path, encoding="utf-8") as lines:
            ids = [line.split("#", 1)[0].strip() for line in lines]
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read --ids-file {path}: {exc}", code=2) from exc
    return [(kind, subject_id) for subject_id in ids if subject_id]


def check_bulk_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (status 2) options of ``invite-bulk`` that do not go together."""
    if args.type is not None and args.ids_file is None:
        parser.error("--type applies to --ids-file only")
    if args.resume is None and (args.resend_unknown or args.retry_failed or args.force):
        parser.error("--resend-unknown, --retry-failed and --force apply to --resume only")
    if args.resume is not None and args.custom_message is not None:
        parser.error("--custom-message applies to a new job only (a resumed job keeps its own)")


def _resume_command(host: HostApp[Any], args: argparse.Namespace, job_id: int) -> str:
    # Printed on the terminal: passwords in URLs are masked ("***").
    words = [*shlex.split(host.command), "invite-bulk"]
    words += ["--database-url", masked(args.database_url), "--tenant", str(args.tenant)]
    words += ["--resume", str(job_id)]
    for option in ("smtp_url", "public_url"):
        value = getattr(args, option)
        if value is not None:
            words += ["--" + option.replace("_", "-"), masked(value)]
    return shlex.join(words)


def _bulk_document(report: BulkReport) -> dict[str, Any]:
    def listed(items: list[BulkItem]) -> list[dict[str, Any]]:
        return [
            {"type": item.subject_type, "id": item.subject_id, "error": item.error}
            for item in items
        ]

    return {
        "job_id": report.job_id,
        "total": report.total,
        "sent": report.sent,
        "failed": listed(report.failures),
        "unknown": listed(report.unknown),
    }


def run_invite_bulk(host: HostApp[Any], args: argparse.Namespace) -> int:
    """``invite-bulk``: run (or resume) one bulk job and print its report."""
    runtime = open_host(args, smtp_url=args.smtp_url, public_url=args.public_url)
    portal, tenant = runtime.portal, str(args.tenant)
    console = uses_console_fallback(portal)
    if console:
        # Console mail goes to stderr: stdout is reserved for the JSON report.
        # A mailer plugin, or --smtp-url, is used as it is.
        portal.mailer = ConsoleMailer(sys.stderr)
    require_tenant(runtime, args.tenant)
    inviter = portal.bulk
    if args.resume is not None:
        job_id = args.resume
        try:
            total = inviter.report(tenant, job_id).total
        except NotFound as exc:
            raise CliError(f"no bulk job {job_id} for tenant {tenant}", code=2) from exc
        print(f"Resuming bulk job {job_id} ({total} subjects).", file=sys.stderr)
    else:
        if args.ids_file is not None:
            subjects = _read_ids_file(args.ids_file, SubjectType(args.type or "contact"))
        else:
            kind = SubjectType.CONTACT if args.all_contacts else SubjectType.COMPANY
            subjects = inviter.directory_subjects(tenant, kind)
        try:
            job_id = inviter.create_job(tenant, subjects, args.custom_message, args.locale)
        except ValueError as exc:
            raise CliError(str(exc), code=2) from exc
        except ValidationFailed as exc:
            raise CliError("--locale: " + "; ".join(exc.errors["locale"]), code=2) from exc
        total = inviter.report(tenant, job_id).total
        print(f"Bulk job {job_id}: {total} subjects of tenant {tenant}.", file=sys.stderr)
    mail = "console (stderr)" if console else mail_description(portal)
    links = portal.settings.public_url
    hint = "" if args.public_url else " (pass --public-url as given to serve)"
    print(
        f"Mail: {mail}. Links start with {links}{hint}. If interrupted, resume with: "
        f"{_resume_command(host, args, job_id)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        # A bar on a terminal, a line per 5 % otherwise; each failure on its own line.
        with BulkProgressDisplay(sys.stderr) as progress:
            report = portal.resume_invite_many(
                tenant,
                job_id,
                progress=progress,
                resend_unknown=args.resend_unknown,
                retry_failed=args.retry_failed,
                force=args.force,
            )
    except BulkJobBusy as exc:
        # Another run holds the job (or took it over from this one): a run-time state.
        raise CliError(exc.message.replace("force=True", "--force")) from exc
    except SQLAlchemyError as exc:
        raise CliError(
            f"database error during the run ({type(exc).__name__}); nothing sent is sent "
            f"again. Resume with: {_resume_command(host, args, job_id)}"
        ) from exc
    except KeyboardInterrupt:
        print(
            f"\nInterrupted: bulk job {job_id} stopped; nothing sent is sent again. "
            f"Resume with:\n  {_resume_command(host, args, job_id)}",
            file=sys.stderr,
        )
        return 130
    except MailDeliveryError as exc:
        raise CliError(
            f"cannot use the mail server: {exc.reason}; the run stopped and nothing sent "
            f"is sent again. Resume with: {_resume_command(host, args, job_id)}"
        ) from exc
    print(json.dumps(_bulk_document(report)))
    _print_summary(report, _resume_command(host, args, job_id))
    return 0 if report.ok else 1


def _print_summary(report: BulkReport, resume: str) -> None:
    failed, unknown = len(report.failures), len(report.unknown)
    print(
        f"Bulk job {report.job_id}: {report.sent} of {report.total} sent, {failed} failed, "
        f"{unknown} unknown, {report.pending} still to send.",
        file=sys.stderr,
    )
    if report.pending:
        print(f"To send the rest: {resume}", file=sys.stderr)
    if unknown:
        print(
            f"{unknown} may or may not have been delivered when an earlier run stopped; "
            f"to send them again: {resume} --resend-unknown",
            file=sys.stderr,
        )
    if failed:
        print(f"To retry the failures: {resume} --retry-failed", file=sys.stderr)
