"""The conformance kit (client_portal_core.testing) passes for every built-in implementation.

Mailers: memory, console, SMTP against a real aiosmtpd (refusing, down, and
dropping the connection after the hand-off), and an ``async def send`` mailer
through the portal's bridge. Token store: the SQL store on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import pytest

from client_portal_core import (
    ConsoleMailer,
    MailDeliveryError,
    MemoryMailer,
    OutgoingEmail,
    SMTPMailer,
)
from client_portal_core.testing import (
    DeliveredEmail,
    MailerContract,
    MailerHarness,
    TokenStoreContract,
)
from conftest import RecordingHandler, SmtpServer, free_port, message_parts


def _from_memory(mailer: MemoryMailer) -> list[DeliveredEmail]:
    return [DeliveredEmail(m.to, m.subject, m.text, m.html) for m in mailer.outbox]


class TestMemoryMailer(MailerContract):
    not_applicable = frozenset({"unreachable", "uncertain"})  # it has no server

    @pytest.fixture
    def mailer_harness(self) -> MailerHarness:
        mailer = MemoryMailer()
        return MailerHarness(
            mailer=mailer,
            delivered=lambda: _from_memory(mailer),
            refusing=MemoryMailer(fail_with="the test refused it"),
        )


class TestConsoleMailer(MailerContract):
    not_applicable = frozenset({"refusing", "unreachable", "uncertain"})  # a stream

    @pytest.fixture
    def mailer_harness(self) -> MailerHarness:
        stream = io.StringIO()

        def delivered() -> list[DeliveredEmail]:
            emails = []
            for block in stream.getvalue().split("----- email -----\n")[1:]:
                head, _, rest = block.partition("\n\n")
                fields = dict(line.split(": ", 1) for line in head.splitlines())
                text = rest.rsplit("\n----- end -----", 1)[0]
                emails.append(DeliveredEmail(fields["To"], fields["Subject"], text))
            return emails

        return MailerHarness(mailer=ConsoleMailer(stream), delivered=delivered)


class DroppingHandler(RecordingHandler):
    """Takes the whole message, then hangs up instead of confirming it."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        server.transport.close()
        return "250 never heard"


def _smtp(handler: RecordingHandler) -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def refusing_smtp() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    handler.refuse_rcpt = "550 5.1.1 No such user"
    yield from _smtp(handler)


@pytest.fixture
def dropping_smtp() -> Iterator[SmtpServer]:
    yield from _smtp(DroppingHandler())


class TestSmtpMailer(MailerContract):
    @pytest.fixture
    def mailer_harness(
        self, smtp_server: SmtpServer, refusing_smtp: SmtpServer, dropping_smtp: SmtpServer
    ) -> MailerHarness:
        def delivered() -> list[DeliveredEmail]:
            found = []
            for message in smtp_server.handler.messages:
                text, html = message_parts(message)
                found.append(DeliveredEmail(message["To"], message["Subject"], text, html))
            return found

        return MailerHarness(
            mailer=SMTPMailer.from_url(smtp_server.url),
            delivered=delivered,
            refusing=SMTPMailer.from_url(refusing_smtp.url),
            unreachable=SMTPMailer("127.0.0.1", free_port(), timeout=5),
            uncertain=SMTPMailer.from_url(dropping_smtp.url),
        )


class AsyncMemoryMailer:
    """A mailer whose send is ``async def`` (as an HTTP API client's would be)."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.outbox: list[OutgoingEmail] = []
        self.fail_with = fail_with

    async def send(self, email: OutgoingEmail) -> None:
        await asyncio.sleep(0)  # really suspends: a coroutine never awaited sends nothing
        if self.fail_with:
            raise MailDeliveryError(self.fail_with)
        self.outbox.append(email)


class TestAsyncMailer(MailerContract):
    not_applicable = frozenset({"unreachable", "uncertain"})  # in memory

    @pytest.fixture
    def mailer_harness(self) -> MailerHarness:
        mailer = AsyncMemoryMailer()
        return MailerHarness(
            mailer=mailer,
            delivered=lambda: [
                DeliveredEmail(m.to, m.subject, m.text, m.html) for m in mailer.outbox
            ],
            refusing=AsyncMemoryMailer(fail_with="the async test refused it"),
        )


class TestSqlTokenStore(TokenStoreContract):
    """The library's store, on SQLite and on PostgreSQL (``database_url`` rows)."""

    @pytest.fixture
    def contract_database_url(self, database_url: str) -> str:
        return database_url


HOST_SUITE = {
    "conftest.py": 'pytest_plugins = ["client_portal_core.testing.fixtures"]\n',
    "test_host.py": """
def test_an_invitation_lands_in_the_memory_mailer(cp_portal, cp_mailer, cp_directory):
    cp_directory.add("acme", "contact", "42", "Grace", "grace@acme.example")

    result = cp_portal.invite("acme", "contact", "42")

    [email] = cp_mailer.outbox
    assert email.to == "grace@acme.example"
    assert result.token.url in email.text
""",
}


@pytest.mark.subprocess
def test_the_fixtures_plugin_gives_a_hosts_suite_a_portal(tmp_path: Any) -> None:
    import subprocess
    import sys

    for name, source in HOST_SUITE.items():
        (tmp_path / name).write_text(source)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_misspelled_not_applicable_check_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"unknown \['refused'\]; choose from"):

        class Typo(MailerContract):  # defining it is the test
            not_applicable = frozenset({"refused"})


def test_not_applicable_checks_are_not_collected_on_that_class_only() -> None:
    check = "test_unreachable_receiver_raises_mail_server_unavailable"

    assert getattr(TestConsoleMailer, check) is None
    assert callable(getattr(TestSmtpMailer, check))
    assert callable(getattr(MailerContract, check))
