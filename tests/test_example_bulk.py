"""The example hosts' ``invite-bulk`` command, run for real against an aiosmtpd sink.

Each host gets its own seeded SQLite file; each test gets its own SMTP server
on 127.0.0.1, so what it received and how many connections it saw belong to
that test alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from support import SmtpSink, run_host_cli

HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]
NO_EMAIL = "Contact does not have an email address"
EXTRA_CONTACTS = 3


def invite_bulk(
    module: str, database_url: str, tenant: dict[str, Any], *args: str
) -> tuple[int, dict[str, Any], str]:
    """Exit status, JSON report and stderr of one ``invite-bulk`` run."""
    command = ["invite-bulk", "--database-url", database_url, "--tenant", str(tenant["id"])]
    done = run_host_cli(module, *command, *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report, done.stderr


@pytest.fixture(scope="module", params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    module: str = request.param
    return module


@pytest.fixture(scope="module")
def seeded(host: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A SQLite database URL seeded by the host's ``seed``, and its document."""
    database = tmp_path_factory.mktemp("bulk") / "portal.db"
    url = f"sqlite:///{database}"
    done = run_host_cli(host, "seed", "--database-url", url)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    # More contacts with an email for the first tenant, so "one connection" is
    # about several messages; added to the host's own table as its app would.
    tenant = document["tenants"][0]
    with closing(sqlite3.connect(database)) as conn, conn:
        for number in range(EXTRA_CONTACTS):
            address = f"extra{number}@bulk.example.com"
            cursor = conn.execute(
                "INSERT INTO host_contacts (tenant_id, name, email) VALUES (?, ?, ?)",
                (tenant["id"], f"Extra {number}", address),
            )
            tenant["contacts"].append({"id": cursor.lastrowid, "email": address})
    return url, document


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def received(sink: SmtpSink) -> list[str]:
    return sorted(address for mail in sink.inbox.items() for address in mail.rcpt_tos)


def test_all_contacts_sends_those_with_email_over_one_connection(
    host: str, seeded: tuple[str, dict[str, Any]], sink: SmtpSink
) -> None:
    url, document = seeded
    tenant = document["tenants"][0]
    status, report, stderr = invite_bulk(
        host, url, tenant, "--all-contacts", "--smtp-url", sink.url
    )
    with_email = [c for c in tenant["contacts"] if c["email"] is not None]
    without = [c for c in tenant["contacts"] if c["email"] is None]
    assert len(with_email) > EXTRA_CONTACTS
    assert without
    # Exactly this tenant's contacts with an email: no other tenant's, none twice.
    assert received(sink) == sorted(c["email"] for c in with_email)
    assert sink.connections == 1
    assert status == 1  # one subject failed
    assert set(report) == {"job_id", "total", "sent", "failed", "unknown"}
    assert report["total"] == len(tenant["contacts"])
    assert report["sent"] == len(with_email)
    assert report["failed"] == [
        {"type": "contact", "id": str(c["id"]), "error": NO_EMAIL} for c in without
    ]
    assert report["unknown"] == []
    assert f"Bulk job {report['job_id']}" in stderr
    assert f"--resume {report['job_id']}" in stderr
    assert f"[{report['total']}/{report['total']}] contact" in stderr


def test_ids_file_skips_comments_and_blank_lines(
    host: str, seeded: tuple[str, dict[str, Any]], sink: SmtpSink, tmp_path: Path
) -> None:
    url, document = seeded
    tenant = document["tenants"][1]
    company = next(c for c in tenant["companies"] if c["email"] is not None)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# companies to invite\n\n{company['id']}  # with an email\n   \n")
    status, report, _ = invite_bulk(
        host, url, tenant, "--ids-file", str(ids_file), "--type", "company",
        "--smtp-url", sink.url, "--custom-message", "Bulk hello",
    )  # fmt: skip
    assert (status, report["total"], report["sent"], report["failed"]) == (0, 1, 1, [])
    assert received(sink) == [company["email"]]
    assert "Bulk hello" in sink.inbox.items()[0].text()


def test_locale_sends_the_jobs_emails_in_that_language(
    host: str, seeded: tuple[str, dict[str, Any]], sink: SmtpSink, tmp_path: Path
) -> None:
    url, document = seeded
    tenant = document["tenants"][1]
    contact = next(c for c in tenant["contacts"] if c["email"] is not None)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{contact['id']}\n")
    status, report, _ = invite_bulk(
        host, url, tenant, "--ids-file", str(ids_file), "--smtp-url", sink.url, "--locale", "de"
    )
    assert (status, report["sent"]) == (0, 1)
    assert sink.inbox.items()[0].message["Subject"].startswith("Ihre Einladung zu ")


def test_resume_of_a_finished_job_sends_nothing_more(
    host: str, seeded: tuple[str, dict[str, Any]], sink: SmtpSink
) -> None:
    url, document = seeded
    tenant = document["tenants"][1]
    first_status, first, _ = invite_bulk(
        host, url, tenant, "--all-companies", "--smtp-url", sink.url
    )
    sent_before = received(sink)
    assert len(sent_before) == first["sent"] >= 1
    job = str(first["job_id"])
    status, again, _ = invite_bulk(host, url, tenant, "--resume", job, "--smtp-url", sink.url)
    assert received(sink) == sent_before
    assert (status, again) == (first_status, first)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(["--all-contacts", "--type", "company"], "--type", id="type-without-file"),
        pytest.param(["--resume", "999999"], "no bulk job 999999", id="unknown-job"),
        pytest.param(["--ids-file", "/nonexistent/ids.txt"], "--ids-file", id="missing-file"),
        pytest.param(["--all-contacts", "--force"], "--force", id="force-without-resume"),
        pytest.param(["--all-contacts", "--locale", "fr"], "--locale", id="unknown-locale"),
    ],
)
def test_invalid_use_exits_2_with_a_message(
    host: str, seeded: tuple[str, dict[str, Any]], args: list[str], complaint: str
) -> None:
    url, document = seeded
    tenant = str(document["tenants"][0]["id"])
    done = run_host_cli(host, "invite-bulk", "--database-url", url, "--tenant", tenant, *args)
    assert done.returncode == 2, done.stderr
    assert complaint in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_resume_line_masks_passwords(
    host: str, seeded: tuple[str, dict[str, Any]], sink: SmtpSink
) -> None:
    url, document = seeded
    tenant = document["tenants"][1]
    secret_url = sink.url.replace("smtp://", "smtp://mailer:s3cret-pw@")
    # aiosmtpd offers no AUTH: the login fails and the run stops, resumable.
    done = run_host_cli(
        host, "invite-bulk", "--database-url", url, "--tenant", str(tenant["id"]),
        "--all-companies", "--smtp-url", secret_url,
    )  # fmt: skip

    assert done.returncode == 1
    assert "s3cret-pw" not in done.stderr
    assert "--smtp-url 'smtp://mailer:***@127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
