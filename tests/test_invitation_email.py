"""What the invitation email is: its parts, its headers, its sender, its preview.

Emails are read from a real SMTP server on 127.0.0.1 (aiosmtpd), as a mail
client would get them, after an invite through either adapter.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from client_portal_core import (
    ClientPortal,
    MemoryMailer,
    OutboxDirectoryMailer,
    OutgoingEmail,
    invitation_sent,
    token_created,
)
from client_portal_core.errors import RecipientHasNoEmail, SubjectNotFound
from client_portal_core.invitations import PREVIEW_TOKEN
from client_portal_core.mail import build_message, wire_bytes
from conftest import API, TENANT_A, PortalClient, SmtpServer, message_parts
from support import current_token, rfc2047_address

MAIL_FROM = "Client Portal <no-reply@mail.acme.example>"

smtp_portal = pytest.mark.portal(smtp=True, mail_from=MAIL_FROM)


def sent_email(client: PortalClient, smtp_server: SmtpServer, **body: Any) -> EmailMessage:
    """Invite contact 1 of tenant A and return the one message the server got."""
    reply = client.post(f"{API}/contacts/1/invite", json=body)
    assert reply.status == 200, reply.text
    (message,) = smtp_server.handler.messages
    return message


class Tags(HTMLParser):
    """Every start tag of a document with its attributes, and its visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "div" and "display:none" in (attributes.get("style") or ""):
            self._hidden += 1  # the preheader: shown in inbox lists, not in the email

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.text.append(data.strip())


def parse_html(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


# -- the parts ----------------------------------------------------------------------


@smtp_portal
def test_text_part_is_complete_with_the_url_on_its_own_line(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    message = sent_email(client, smtp_server, custom_message="See you in the portal")
    text, _html = message_parts(message)
    url = client.portal.get_or_create_token(TENANT_A, "contact", 1).url

    lines = text.splitlines()
    assert lines[0] == "Hello Ann Archer,"
    assert url in lines
    assert "See you in the portal" in lines
    assert "This link is personal and expires on January 31, 2030, 12:00\u00a0PM UTC." in lines
    assert any("Client Portal invited you (ann@example.com)" in line for line in lines)


@smtp_portal
def test_the_email_greets_once(client: PortalClient, smtp_server: SmtpServer) -> None:
    text, html = message_parts(sent_email(client, smtp_server))
    visible = " ".join(parse_html(html).text)

    for part in (text, visible):
        assert len(re.findall(r"\b(Hello|Hi|Welcome)\b", part)) == 1


@smtp_portal
def test_html_part_has_no_script_no_stylesheet_no_remote_font(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    _text, html = message_parts(sent_email(client, smtp_server))
    tags = {tag for tag, _attrs in parse_html(html).tags}

    assert not tags & {"script", "link", "style", "iframe", "form", "object", "embed"}
    assert "@import" not in html
    assert "@font-face" not in html
    assert "url(" not in html
    assert not re.search(r"\bon[a-z]+\s*=", html)  # no event handler attributes


@smtp_portal
def test_html_layout_is_tables_with_inline_styles_only(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    _text, html = message_parts(sent_email(client, smtp_server))
    tags = parse_html(html).tags

    assert [attrs.get("role") for tag, attrs in tags if tag == "table"] == ["presentation"] * 3
    assert all("class" not in attrs for _tag, attrs in tags)
    styled = {"body", "table", "td", "p", "a", "h1"}
    assert all(attrs.get("style") for tag, attrs in tags if tag in styled)
    assert any("max-width:560px" in (attrs.get("style") or "") for tag, attrs in tags)


@smtp_portal
def test_the_raw_link_wraps_and_the_button_links_the_same_url(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    _text, html = message_parts(sent_email(client, smtp_server))
    url = client.portal.get_or_create_token(TENANT_A, "contact", 1).url
    links = [attrs for tag, attrs in parse_html(html).tags if tag == "a"]

    assert [link["href"] for link in links] == [url, url]
    raw_link_style = links[1]["style"] or ""
    assert "word-break:break-all" in raw_link_style
    assert "overflow-wrap:anywhere" in raw_link_style


@smtp_portal
def test_html_footer_says_who_sent_it_and_why(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Accounting")
    _text, html = message_parts(sent_email(client, smtp_server))
    visible = " ".join(parse_html(html).text)

    assert (
        "You are receiving this email because Acme Accounting invited you (ann@example.com) "
        "to its client portal."
    ) in visible
    assert "ignore it" in visible


@smtp_portal
def test_button_text_stays_readable_on_a_pale_brand_colour(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    portal.update_config(TENANT_A, primary_color="#FFEE55")
    _text, html = message_parts(sent_email(client, smtp_server))
    button = next(attrs for tag, attrs in parse_html(html).tags if tag == "a")

    assert "color:#111827" in (button["style"] or "")


# -- the headers --------------------------------------------------------------------


@smtp_portal
def test_from_is_the_portal_name_at_the_mail_from_address(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    portal.update_config(TENANT_A, portal_name="Acme Accounting")
    message = sent_email(client, smtp_server)

    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Acme Accounting",
        "no-reply@mail.acme.example",
    )


@smtp_portal
@pytest.mark.parametrize(
    "name",
    [
        pytest.param('Müller, "Best" & Söhne <GmbH>', id="quotes-comma-non-ascii"),
        pytest.param("Acme\r\nBcc: victim@example.org", id="line-break"),
        pytest.param("=?utf-8?q?Bank?=", id="encoded-word-lookalike"),
        pytest.param("Ünïcødé 日本語 " * 6, id="long-non-ascii"),
    ],
)
def test_any_portal_name_is_one_display_name_and_adds_no_header(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer, name: str
) -> None:
    portal.update_config(TENANT_A, portal_name=name)
    message = sent_email(client, smtp_server)

    (sender,) = message["From"].addresses
    # As a mail client decodes it (RFC 2047): a long name is several encoded words.
    raw_from = dict(message.raw_items())["From"]
    assert rfc2047_address(raw_from) == (" ".join(name.split()), "no-reply@mail.acme.example")
    assert sender.addr_spec == "no-reply@mail.acme.example"
    assert message["Bcc"] is None
    assert smtp_server.handler.envelopes[0][1] == ["ann@example.com"]


@smtp_portal
def test_reply_to_is_the_tenants_address_when_set(
    client: PortalClient, portal: ClientPortal, smtp_server: SmtpServer
) -> None:
    portal.update_config(TENANT_A, reply_to="help@acme.example")
    message = sent_email(client, smtp_server)
    text, _html = message_parts(message)

    assert message["Reply-To"] == "help@acme.example"
    assert "Questions? Just reply to this email." in text


@smtp_portal
def test_no_reply_to_without_one(client: PortalClient, smtp_server: SmtpServer) -> None:
    message = sent_email(client, smtp_server)
    text, _html = message_parts(message)

    assert message["Reply-To"] is None
    assert "reply to this email" not in text


@smtp_portal
def test_invitations_are_marked_automated_with_date_and_message_id(
    client: PortalClient, smtp_server: SmtpServer
) -> None:
    message = sent_email(client, smtp_server)

    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert re.fullmatch(r"<[^@<>\s]+@mail\.acme\.example>", message["Message-ID"])
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None


def test_message_id_falls_back_to_an_invalid_domain_for_localhost() -> None:
    email = OutgoingEmail(
        to="ann@example.com", subject="s", text="t", html="h", sender="Portal <no-reply@localhost>"
    )
    assert build_message(email)["Message-ID"].endswith("@client-portal.invalid>")


def test_reply_to_must_be_an_email_address(portal: ClientPortal) -> None:
    for bad in ("not-an-address", "a@b", "two@a.example, three@b.example", "x@y.example\nBcc: z"):
        with pytest.raises(ValidationError):
            portal.update_config(TENANT_A, reply_to=bad)
    assert portal.update_config(TENANT_A, reply_to=" help@acme.example ").reply_to == (
        "help@acme.example"
    )


def test_config_answers_its_reply_to(client: PortalClient, portal: ClientPortal) -> None:
    portal.update_config(TENANT_A, reply_to="help@acme.example")

    assert client.get(f"{API}/config").json()["data"]["reply_to"] == "help@acme.example"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Tag": "a\r\nBcc: x@example.org"}, id="line-break-in-value"),
        pytest.param({"X-Tag: Bcc": "x"}, id="colon-in-name"),
    ],
)
def test_extra_headers_cannot_inject_headers(headers: dict[str, str]) -> None:
    email = OutgoingEmail(
        to="a@example.com", subject="s", text="t", html="h", sender="p@example.com", headers=headers
    )
    with pytest.raises(Exception, match="invalid email header"):
        build_message(email)


def test_an_email_built_without_the_new_fields_still_sends() -> None:
    # A third-party mailer or host code that builds OutgoingEmail as before.
    mailer = MemoryMailer()
    mailer.send(OutgoingEmail("a@example.com", "s", "t", "h", "Portal <p@example.com>"))

    (email,) = mailer.outbox
    assert (email.reply_to, dict(email.headers)) == (None, {})


# -- preview ------------------------------------------------------------------------


def test_preview_renders_the_invitation_with_a_placeholder_link(portal: ClientPortal) -> None:
    email = portal.preview_invitation(TENANT_A, "contact", 1, custom_message="Hi Ann")

    placeholder = f"https://portal.example.test/client-portal/{PREVIEW_TOKEN}"
    assert email.to == "ann@example.com"
    assert email.subject == "[Preview] Your invitation to Client Portal"
    assert placeholder in email.text.splitlines()
    assert f'href="{placeholder}"' in email.html
    assert "Hi Ann" in email.text
    assert "placeholder and opens nothing" in email.html
    assert "expires on January 31, 2030" in email.text


def test_preview_mints_records_and_signals_nothing(portal: ClientPortal, listen: Any) -> None:
    created, sent = listen(token_created), listen(invitation_sent)

    portal.preview_invitation(TENANT_A, "contact", 1, locale="de")

    assert current_token(portal, "contact", "1") is None
    assert portal.list_invitations(TENANT_A) == []
    assert isinstance(portal.mailer, MemoryMailer)
    assert portal.mailer.outbox == []
    assert (created.calls, sent.calls) == ([], [])


def test_preview_leaves_an_existing_token_as_it_was(portal: ClientPortal) -> None:
    issued = portal.get_or_create_token(TENANT_A, "contact", 1)
    before = current_token(portal, "contact", "1")

    email = portal.preview_invitation(TENANT_A, "contact", 1, locale="de")

    assert current_token(portal, "contact", "1") == before
    assert issued.token not in email.text
    assert portal.get_or_create_token(TENANT_A, "contact", 1).token == issued.token


def test_preview_fails_like_an_invite(portal: ClientPortal) -> None:
    with pytest.raises(SubjectNotFound):
        portal.preview_invitation(TENANT_A, "contact", "nobody")
    with pytest.raises(RecipientHasNoEmail):
        portal.preview_invitation(TENANT_A, "contact", 2)


# -- the outbox folder --------------------------------------------------------------


def test_outbox_mailer_writes_the_wire_message_and_its_html(
    portal: ClientPortal, tmp_path: Path
) -> None:
    outbox = OutboxDirectoryMailer(tmp_path / "outbox")
    portal.mailer = outbox

    result = portal.invite(TENANT_A, "contact", 1)

    (eml,) = outbox.written
    raw = eml.read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text, html = message_parts(message)
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert message["To"] == "ann@example.com"
    assert result.token.url in text
    assert eml.with_suffix(".html").read_text(encoding="utf-8") == html
    assert sorted(path.suffix for path in eml.parent.iterdir()) == [".eml", ".html"]


def test_outbox_mailer_files_are_what_smtp_would_carry(tmp_path: Path) -> None:
    email = OutgoingEmail("a@example.com", "Grüße", "t", "<p>h</p>", "P <p@example.com>")
    outbox = OutboxDirectoryMailer(tmp_path)
    outbox.send(email)

    written = outbox.written[0].read_bytes()
    expected = wire_bytes(build_message(email))
    # Only the per-message headers differ (a new Message-ID and Date each time).
    varying = re.compile(rb"^(Message-ID|Date|Content-Type: multipart)[^\r]*\r\n", re.M)
    boundary = re.compile(rb"=+[0-9]+==")
    assert boundary.sub(b"", varying.sub(b"", written)) == boundary.sub(
        b"", varying.sub(b"", expected)
    )


def test_outbox_mailer_gives_every_email_its_own_files(tmp_path: Path) -> None:
    outbox = OutboxDirectoryMailer(tmp_path)
    email = OutgoingEmail("a@example.com", "s", "t", "h", "p@example.com")

    for _ in range(3):
        outbox.send(email)

    assert len(set(outbox.written)) == 3
    assert len(list(tmp_path.glob("*.html"))) == 3
