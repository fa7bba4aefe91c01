"""Renewal before expiry (``POST /tokens/renew``, ``renew-expiring``) and reissue of
dying links on invitations; exactly once per token across threads and processes."""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from client_portal_core import ClientPortal, MemoryMailer
from conftest import (
    API,
    PORTAL,
    SECRET_KEY,
    START,
    TENANT_A,
    TENANT_B,
    FakeClock,
    PortalClient,
    PortalFactory,
    SmtpServer,
)
from support import SmtpSink, host_env, run_host_cli

NO_INVITE = {"message": "This API token does not have the 'invite' scope"}


def token_of(client: PortalClient, kind: str = "contact", subject: Any = 1) -> str:
    reply = client.post(f"{API}/token", json={"type": kind, "id": subject})
    assert reply.status == 200, reply.body
    return str(reply.json()["token"])


def renew(client: PortalClient, days: Any = 7) -> Any:
    return client.post(f"{API}/tokens/renew", json={"expiring_within_days": days})


def works(client: PortalClient, token: str) -> bool:
    return client.get(f"{PORTAL}/{token}").status in (200, 303)


def outbox(portal: ClientPortal) -> list[Any]:
    mailer = portal.mailer
    assert isinstance(mailer, MemoryMailer)
    return list(mailer.outbox)


# -- POST /tokens/renew ---------------------------------------------------------------


def test_renew_mints_a_new_current_token_and_mails_it(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    old = token_of(client)
    clock.advance(days=25)

    reply = renew(client)

    assert reply.status == 200
    assert reply.json() == {"renewed": 1, "failed": []}
    new = token_of(client)
    assert new != old
    (email,) = outbox(portal)
    assert email.to == "ann@example.com"
    assert new in email.text
    assert old not in email.text


def test_the_old_link_keeps_working_until_it_expires(
    client: PortalClient, clock: FakeClock
) -> None:
    old = token_of(client)
    clock.advance(days=25)
    renew(client)
    new = token_of(client)

    assert works(client, old)
    assert works(client, new)
    clock.advance(days=6)
    assert client.get(f"{PORTAL}/{old}").status == 410
    assert works(client, new)


def test_the_renewal_email_says_when_the_old_link_stops(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client)
    clock.advance(days=25)

    renew(client)

    (email,) = outbox(portal)
    old_end = portal.renderer.format_datetime(START + timedelta(days=30))
    new_end = portal.renderer.format_datetime(clock.now + timedelta(days=30))
    assert email.subject == "Your new link to Client Portal"
    assert f"Your current link stops working on {old_end}" in email.text
    assert f"expires on {new_end}" in email.text
    assert f"Your current link stops working on {old_end}" in email.html


def test_a_second_renewal_sends_nothing(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client)
    clock.advance(days=25)
    renew(client)

    again = renew(client)

    assert again.json() == {"renewed": 0, "failed": []}
    assert len(outbox(portal)) == 1


def test_tokens_expiring_later_are_left_alone(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    old = token_of(client)
    clock.advance(days=20)

    assert renew(client).json() == {"renewed": 0, "failed": []}
    assert token_of(client) == old
    assert outbox(portal) == []


def test_revoked_and_expired_tokens_are_not_renewed(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client, "contact", 1)
    client.post(f"{API}/token/revoke", json={"type": "contact", "id": 1})
    token_of(client, "contact", "c-7f3e")
    clock.advance(days=31)

    assert renew(client, 30).json() == {"renewed": 0, "failed": []}
    assert outbox(portal) == []


def test_a_subject_without_email_is_reported_and_renewed_by_no_run(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    old = token_of(client, "contact", 2)
    clock.advance(days=25)
    failure = {"type": "contact", "id": "2", "error": "Contact does not have an email address"}

    assert renew(client).json() == {"renewed": 0, "failed": [failure]}
    assert renew(client).json() == {"renewed": 0, "failed": [failure]}
    assert token_of(client, "contact", 2) == old


@pytest.mark.portal(smtp=True)
def test_a_renewal_the_mail_server_refuses_is_reported_and_retryable(
    client: PortalClient, portal: ClientPortal, clock: FakeClock, smtp_server: SmtpServer
) -> None:
    token_of(client)
    clock.advance(days=25)
    smtp_server.handler.refuse_rcpt = "550 5.1.1 Mailbox unavailable"

    reply = renew(client)

    failure = {"type": "contact", "id": "1", "error": "the mail server refused the recipient"}
    assert reply.json() == {"renewed": 0, "failed": [failure]}
    (record,) = client.get(f"{API}/invitations?status=failed").json()["data"]
    assert record["kind"] == "renewal"
    smtp_server.handler.refuse_rcpt = None
    assert client.post(f"{API}/invitations/{record['invitation_id']}/retry").status == 200
    (message,) = smtp_server.handler.messages
    assert message["Subject"] == "Your new link to Client Portal"


def test_renewals_are_listed_as_renewal_invitations(client: PortalClient, clock: FakeClock) -> None:
    token_of(client)
    clock.advance(days=25)
    renew(client)

    (item,) = client.get(f"{API}/invitations").json()["data"]

    assert (item["kind"], item["status"], item["email"]) == ("renewal", "sent", "ann@example.com")


def test_renewal_renews_only_the_callers_tenant(
    client: PortalClient, api_token_b: str, portal: ClientPortal, clock: FakeClock
) -> None:
    theirs = token_of(client.as_token(api_token_b), "contact", 3)
    clock.advance(days=25)

    assert renew(client).json() == {"renewed": 0, "failed": []}
    assert token_of(client.as_token(api_token_b), "contact", 3) == theirs


@pytest.mark.parametrize("body", [{}, {"expiring_within_days": 0}, {"expiring_within_days": "7"}])
def test_renew_validates_its_body(client: PortalClient, body: Any) -> None:
    reply = client.post(f"{API}/tokens/renew", json=body)

    assert reply.status == 422
    assert list(reply.json()["errors"]) == ["expiring_within_days"]


def test_renew_needs_the_invite_scope(client: PortalClient, clock: FakeClock) -> None:
    token_of(client)
    clock.advance(days=25)
    reader = client.as_token(client.portal.create_api_token(TENANT_A, "r", ["read"]).token)

    reply = renew(reader)

    assert reply.status == 403
    assert reply.json() == NO_INVITE


def test_renew_of_every_tenant_at_once(
    client: PortalClient, api_token_b: str, portal: ClientPortal, clock: FakeClock
) -> None:
    token_of(client)
    token_of(client.as_token(api_token_b), "contact", 3)
    clock.advance(days=25)

    report = portal.renew_expiring_tokens(7)

    assert report.renewed == 2
    assert sorted(email.to for email in outbox(portal)) == ["ann@example.com", "dan@example.org"]


# -- exactly once, concurrently ------------------------------------------------------

SUBJECTS = [("contact", "1"), ("contact", "c-7f3e"), ("contact", "shared-1"), ("company", "10")]


def test_two_concurrent_runs_renew_each_token_once(
    make_portal: PortalFactory, clock: FakeClock
) -> None:
    first, second = make_portal(), make_portal()  # two engines: like two processes
    for kind, subject in SUBJECTS:
        first.get_or_create_token(TENANT_A, kind, subject)
    clock.advance(days=25)
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def run(portal: ClientPortal) -> None:
        barrier.wait(timeout=30)
        reports.append(portal.renew_expiring_tokens(7, TENANT_A))

    threads = [threading.Thread(target=run, args=(portal,)) for portal in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(report.renewed for report in reports) == len(SUBJECTS)
    sent = sorted(email.to for portal in (first, second) for email in outbox(portal))
    assert len(sent) == len(set(sent)) == len(SUBJECTS)
    current = first.management.list_tokens(TENANT_A, status="active").items
    assert sum(row.current for row in current) == len(SUBJECTS)


def _seeded_host(database_url: str) -> dict[str, Any]:
    done = run_host_cli(
        "examples.fastapi_host", "seed", "--database-url", database_url, "--secret-key", SECRET_KEY
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _expire_soon(database_url: str) -> None:
    """Move every portal token's expiry to two days from now, as time passing would."""
    from client_portal_core.schemas import utc_now

    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            soon = (utc_now() + timedelta(days=2)).replace(tzinfo=None)
            conn.execute(
                sa.text("UPDATE client_portal_portal_tokens SET expires_at = :at"), {"at": soon}
            )
    finally:
        engine.dispose()


@pytest.mark.subprocess
def test_two_renew_expiring_processes_at_once_mail_each_link_once(
    database_url: str, tmp_path: Path
) -> None:
    import subprocess

    document = _seeded_host(database_url)
    tenant = document["tenants"][0]
    api = run_host_cli(
        "examples.fastapi_host",
        "create-api-token",
        "--database-url",
        database_url,
        "--tenant",
        str(tenant["id"]),
        "--secret-key",
        SECRET_KEY,
    )
    assert api.returncode == 0, api.stderr
    with_email = [c for c in tenant["contacts"] + tenant["companies"] if c["email"]]
    _mint_tokens(database_url, tenant)
    _expire_soon(database_url)

    with SmtpSink() as sink:
        command = [
            "renew-expiring",
            "--database-url",
            database_url,
            "--secret-key",
            SECRET_KEY,
            "--tenant",
            str(tenant["id"]),
            "--within-days",
            "7",
            "--smtp-url",
            sink.url,
        ]
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", module, *command],
                cwd=Path(__file__).resolve().parents[1],
                env=host_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for module in ("examples.fastapi_host", "examples.flask_host")
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        received = sorted(address for mail in sink.inbox.items() for address in mail.rcpt_tos)

    reports = [json.loads(out) for out, _err in outputs]
    assert [run.returncode for run in runs] == [0, 0], [err for _out, err in outputs]
    assert sum(report["renewed"] for report in reports) == len(with_email)
    assert received == sorted(subject["email"] for subject in with_email)


MINT_TOKENS = """
import json, sys
from examples.host_common.runtime import PortalOptions, open_runtime

url, key, tenant = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
runtime = open_runtime(PortalOptions(database_url=url, secret_key=key))
for kind, listed in (("contact", "contacts"), ("company", "companies")):
    for subject in tenant[listed]:
        if subject["email"]:
            runtime.portal.get_or_create_token(str(tenant["id"]), kind, subject["id"])
runtime.engine.dispose()
"""


def _mint_tokens(database_url: str, tenant: dict[str, Any]) -> None:
    """A portal token for each subject with an email, through the host's own wiring."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", MINT_TOKENS, database_url, SECRET_KEY, json.dumps(tenant)],
        cwd=Path(__file__).resolve().parents[1],
        env=host_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- invitations never carry a dying link -------------------------------------------


def test_an_invitation_to_a_subject_whose_link_is_dying_mints_a_fresh_one(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    old = token_of(client)
    clock.advance(days=29)

    reply = client.post(f"{API}/contacts/1/invite")

    new = reply.json()["token"]
    assert new != old
    assert works(client, old)
    assert token_of(client) == new
    (email,) = outbox(portal)
    assert new in email.text


def test_an_invitation_with_a_fresh_link_keeps_it(client: PortalClient, clock: FakeClock) -> None:
    old = token_of(client)
    clock.advance(days=20)

    assert client.post(f"{API}/contacts/1/invite").json()["token"] == old


def test_token_keeps_its_get_or_create_answer_for_a_dying_link(
    client: PortalClient, clock: FakeClock
) -> None:
    old = token_of(client)
    clock.advance(days=29)

    assert token_of(client) == old


def test_a_retried_invitation_gets_a_fresh_link_too(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    first = client.post(f"{API}/contacts/1/invite").json()["token"]
    (record,) = portal.list_invitations(TENANT_A)
    clock.advance(days=28)

    retried = client.post(f"{API}/invitations/{record.id}/retry").json()["token"]

    assert retried != first


def test_a_bulk_invitation_gets_a_fresh_link_too(portal: ClientPortal, clock: FakeClock) -> None:
    old = portal.get_or_create_token(TENANT_A, "contact", 1)
    clock.advance(days=29)

    report = portal.invite_many(TENANT_A, [("contact", "1")])

    assert report.sent == 1
    (email,) = outbox(portal)
    assert old.token not in email.text


@pytest.mark.portal(reissue_within_days=0)
def test_reissue_within_days_zero_switches_it_off(client: PortalClient, clock: FakeClock) -> None:
    old = token_of(client)
    clock.advance(days=29)

    assert client.post(f"{API}/contacts/1/invite").json()["token"] == old


def test_the_reissue_window_is_at_most_half_the_lifetime(
    client: PortalClient, portal: ClientPortal, clock: FakeClock
) -> None:
    portal.update_config(TENANT_A, token_expiration_days=4)
    old = token_of(client)
    clock.advance(days=1)

    assert client.post(f"{API}/contacts/1/invite").json()["token"] == old
    clock.advance(days=1, seconds=1)
    assert client.post(f"{API}/contacts/1/invite").json()["token"] != old


# -- the core command line -------------------------------------------------------------


@pytest.mark.subprocess
def test_client_portal_renew_expiring_renews_every_tenant(
    make_portal: PortalFactory, database_url: str
) -> None:
    import subprocess

    portal = make_portal(clock=lambda: START.replace(year=2000))
    portal.get_or_create_token(TENANT_A, "contact", 1)
    portal.get_or_create_token(TENANT_B, "contact", 3)
    _expire_soon(database_url)
    tests = Path(__file__).resolve().parent

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "client_portal_core",
            "renew-expiring",
            "--database-url",
            database_url,
            "--secret-key",
            SECRET_KEY,
            "--within-days",
            "7",
            "--plugin",
            "conftest:Directory",
        ],
        cwd=tests,
        env={**host_env(), "PYTHONPATH": str(tests), "CLIENT_PORTAL_LOAD_ENTRY_POINTS": "false"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"renewed": 2, "failed": []}
    assert "ann@example.com" in done.stderr
    assert "dan@example.org" in done.stderr


@pytest.mark.subprocess
def test_client_portal_renew_expiring_without_a_directory_says_so(database_url: str) -> None:
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "client_portal_core",
            "renew-expiring",
            "--database-url",
            database_url,
            "--secret-key",
            SECRET_KEY,
            "--within-days",
            "7",
        ],
        env={**host_env(), "CLIENT_PORTAL_LOAD_ENTRY_POINTS": "false"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert "directory plugin" in done.stderr
