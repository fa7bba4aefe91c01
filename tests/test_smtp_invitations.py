"""Invitations over a real SMTP server (aiosmtpd on 127.0.0.1), via both adapters."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from client_portal_core import ClientPortal, SMTPMailer
from client_portal_core.mail import OutgoingEmail, build_message
from conftest import API, START, TENANT_A, PortalClient, SmtpServer, free_port, message_parts

pytestmark = pytest.mark.portal(smtp=True)

# START is noon UTC: the English long date and short time of the expiry, 30 days on.
EXPIRY_TEXT = (START + timedelta(days=30)).strftime("%B %-d, %Y, 12:00\u00a0PM UTC")


def test_portal_uses_the_smtp_mailer_of_smtp_url(portal: ClientPortal) -> None:
    assert isinstance(portal.mailer, SMTPMailer)


def test_invitation_arrives_as_multipart_text_and_html(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    reply = client.post(f"{API}/contacts/1/invite")

    assert reply.status == 200
    (message,) = smtp_server.handler.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "ann@example.com"
    assert smtp_server.handler.envelopes[0][1] == ["ann@example.com"]
    text, html = message_parts(message)
    url = f"https://portal.example.test/client-portal/{reply.json()['token']}"
    assert url in text
    assert f'href="{url}"' in html
    assert EXPIRY_TEXT in text
    assert EXPIRY_TEXT in html
    assert "Ann Archer" in text


def test_invitation_to_a_company_with_a_string_id(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    assert client.post(f"{API}/companies/co-acme-2/invite").status == 200

    (message,) = smtp_server.handler.messages
    assert message["To"] == "two@acme.example"


def test_custom_message_is_text_never_markup(client: PortalClient, smtp_server: SmtpServer) -> None:
    custom = "<script>alert('x')</script> & <b>bold</b>\nsecond line"

    assert client.post(f"{API}/contacts/1/invite", json={"custom_message": custom}).status == 200

    text, html = message_parts(smtp_server.handler.messages[0])
    assert "<script>" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert custom in text


def test_invitation_is_branded_from_the_config(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    portal.update_config(
        TENANT_A,
        portal_name="Acme <Client> Hub",
        primary_color="#FF5500",
        secondary_color="#003366",
        welcome_message="We are glad you're here",
    )

    client.post(f"{API}/contacts/1/invite")

    message = smtp_server.handler.messages[0]
    text, html = message_parts(message)
    assert "Acme <Client> Hub" in message["Subject"]
    assert "Acme &lt;Client&gt; Hub" in html
    assert "Acme <Client> Hub" not in html
    assert "#FF5500" in html
    assert "#003366" in html
    assert "Acme <Client> Hub" in text


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [
        pytest.param(
            ("refuse_rcpt", "550 5.1.1 Mailbox unavailable"),
            "the mail server refused the recipient",
            id="rcpt-550",
        ),
        pytest.param(
            ("refuse_data", "554 5.6.0 Message rejected as spam"),
            "the mail server answered 554",
            id="data-554",
        ),
        pytest.param(
            ("refuse_rcpt", "452 4.2.2 Mailbox full, try later"),
            "the mail server refused the recipient",
            id="rcpt-452",
        ),
    ],
)
def test_refusing_smtp_server_is_500_recorded_failed_and_retry_succeeds(
    client: PortalClient,
    portal: ClientPortal,
    smtp_server: SmtpServer,
    refusal: tuple[str, str],
    reason: str,
) -> None:
    setattr(smtp_server.handler, refusal[0], refusal[1])

    reply = client.post(f"{API}/contacts/1/invite", json={"custom_message": "Keep me"})

    assert reply.status == 500
    assert reply.json() == {"message": f"Failed to send portal invitation: {reason}"}
    (failed,) = portal.list_invitations(TENANT_A)
    assert (failed.status, failed.error, failed.attempts) == ("failed", reason, 1)
    assert smtp_server.handler.messages == []

    setattr(smtp_server.handler, refusal[0], None)
    retried = portal.retry_invitation(TENANT_A, failed.id)

    assert retried.invitation.status == "sent"
    assert retried.invitation.error is None
    assert retried.invitation.attempts == 2
    (message,) = smtp_server.handler.messages
    text, _html = message_parts(message)
    assert retried.token.url in text
    assert "Keep me" in text
    assert portal.list_invitations(TENANT_A, status="failed") == []


def test_smtp_server_down_is_500_and_the_api_keeps_serving(
    make_portal: Any, make_client: Any
) -> None:
    portal = make_portal(smtp_url=f"smtp://127.0.0.1:{free_port()}?timeout=5", mailer=None)
    client: PortalClient = make_client(portal, portal.create_api_token(TENANT_A).token)

    first = client.post(f"{API}/contacts/1/invite")
    config = client.get(f"{API}/config")
    second = client.post(f"{API}/companies/10/invite")

    expected = {"message": "Failed to send portal invitation: could not connect to the mail server"}
    assert (first.status, first.json()) == (500, expected)
    assert config.status == 200
    assert (second.status, second.json()) == (500, expected)
    statuses = sorted(record.status for record in portal.list_invitations(TENANT_A))
    assert statuses == ["failed", "failed"]


def test_invitation_failed_while_down_is_delivered_by_retry_once_the_server_is_up(
    make_portal: Any, make_client: Any, smtp_server: SmtpServer
) -> None:
    down = make_portal(smtp_url=f"smtp://127.0.0.1:{free_port()}?timeout=5", mailer=None)
    client: PortalClient = make_client(down, down.create_api_token(TENANT_A).token)
    assert client.post(f"{API}/contacts/1/invite").status == 500
    (failed,) = down.list_invitations(TENANT_A)

    # The host restarts with a working mail server, on the same database.
    up = make_portal(smtp_url=smtp_server.url, mailer=None, create_schema=False)
    result = up.retry_invitation(TENANT_A, failed.id)

    assert result.invitation.status == "sent"
    assert [m["To"] for m in smtp_server.handler.messages] == ["ann@example.com"]


def test_failed_invitation_keeps_the_portal_token_valid(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.refuse_data = "554 no"
    client.post(f"{API}/contacts/1/invite")
    smtp_server.handler.refuse_data = None

    issued = client.post(f"{API}/token", json={"type": "contact", "id": 1}).json()
    retried = portal.retry_invitation(TENANT_A, portal.list_invitations(TENANT_A)[0].id)

    assert retried.token.token == issued["token"]


def test_smtp_failure_reason_leaks_no_credentials(make_portal: Any, make_client: Any) -> None:
    url = f"smtp://mailuser:s3cr3t-pass@127.0.0.1:{free_port()}?timeout=5"
    portal = make_portal(smtp_url=url, mailer=None)
    client: PortalClient = make_client(portal, portal.create_api_token(TENANT_A).token)

    reply = client.post(f"{API}/contacts/1/invite")

    assert reply.status == 500
    assert "s3cr3t" not in reply.text
    assert "mailuser" not in reply.text
    (record,) = portal.list_invitations(TENANT_A)
    assert "s3cr3t" not in (record.error or "")


def test_hosts_override_templates_by_name(
    make_portal: Any, smtp_server: SmtpServer, tmp_path: Any
) -> None:
    (tmp_path / "invitation_subject.txt").write_text("Come in, {{ recipient.name }}")
    (tmp_path / "invitation.html").write_text(
        "<p>{{ custom_message }}</p><a href='{{ portal_url }}'>{{ config.portal_name }}</a>"
    )
    portal = make_portal(template_dirs=[str(tmp_path)], smtp_url=smtp_server.url, mailer=None)

    result = portal.invite(TENANT_A, "contact", 1, custom_message="<b>hi</b>")

    message = smtp_server.handler.messages[0]
    text, html = message_parts(message)
    assert message["Subject"] == "Come in, Ann Archer"
    assert html == f"<p>&lt;b&gt;hi&lt;/b&gt;</p><a href='{result.token.url}'>Client Portal</a>"
    assert result.token.url in text  # invitation.txt was not overridden: the built-in one


@pytest.mark.parametrize(
    ("subject", "wire"),
    [
        ("Your portal at Acme", "Your portal at Acme"),
        ("Café portal", "=?utf-8?q?Caf=C3=A9_portal?="),
        # Folded at 76, so a continuation line's encoded word has at most 75 (RFC 2047).
        ("Café " * 30, "=?utf-8?b?Q2Fmw6kgQ2Fmw6kgQ2Fmw6kgQ2Fmw6kgQ2Fmw6kgQ2Fmw6kgQ2Fm?="),
        # ASCII that a mail client would decode as an encoded word is encoded itself.
        ("=?utf-8?q?Fake?=", "=?utf-8?b?PT91dGYtOD9xP0Zha2U/PQ==?="),
        # A word too long to fold within a line.
        ("x" * 61, "=?utf-8?q?" + "x" * 55 + "?= =?utf-8?q?xxxxxx?="),
    ],
)
def test_subjects_are_plain_ascii_or_encoded_words(subject: str, wire: str) -> None:
    email = OutgoingEmail(
        to="ann@example.com", subject=subject, text="t", html="h", sender="portal@example.com"
    )
    message = build_message(email)
    raw = message.as_bytes()
    assert f"\nSubject: {wire}".encode() in re.sub(rb"\n[ \t]+", b" ", raw)
    assert all(len(line) <= 78 for line in raw.splitlines())
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject


def test_a_control_character_in_a_subject_adds_no_header() -> None:
    email = OutgoingEmail(
        to="ann@example.com",
        subject="Hi\x0bBcc: x@example.com",
        text="t",
        html="h",
        sender="portal@example.com",
    )
    raw = build_message(email).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)

    assert not any(line.startswith(b"Bcc") for line in raw.splitlines())
    assert parsed["Bcc"] is None
    assert (parsed["From"], parsed["To"]) == ("portal@example.com", "ann@example.com")
    assert "Bcc: x@example.com" in parsed["Subject"]
