"""The HTTP mailer passes the conformance kit against a stand-in provider on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

try:
    import cp_http_mailer
except ImportError:  # run from the checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import cp_http_mailer

from client_portal_core import ConfigurationError
from client_portal_core.testing import (
    DeliveredEmail,
    MailerContract,
    MailerHarness,
    make_test_portal,
)

API_KEY = "test-api-key-s3cr3t"


class Provider(ThreadingHTTPServer):
    """A stand-in email API: keeps what it accepts, or answers ``status``, or hangs up."""

    daemon_threads = True

    def __init__(self, mode: str = "accept") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/messages"

    def delivered(self) -> list[DeliveredEmail]:
        with self._lock:
            return [
                DeliveredEmail(m["to"], m["subject"], m["text"], m["html"]) for m in self.received
            ]


class _Handler(BaseHTTPRequestHandler):
    server: Provider

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.mode == "hang-up":
            # The message arrived; the answer never does.
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = 400 if self.server.mode == "refuse" else 202
        if status == 202:
            with self.server._lock:
                self.server.received.append(body)
                self.server.authorizations.append(self.headers["Authorization"])
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(mode: str) -> Iterator[Provider]:
    server = Provider(mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def provider() -> Iterator[Provider]:
    yield from _serve("accept")


@pytest.fixture
def refusing_provider() -> Iterator[Provider]:
    yield from _serve("refuse")


@pytest.fixture
def hanging_up_provider() -> Iterator[Provider]:
    yield from _serve("hang-up")


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mailer(url: str) -> cp_http_mailer.HttpApiMailer:
    return cp_http_mailer.HttpApiMailer(url, API_KEY, timeout=5)


class TestHttpApiMailer(MailerContract):
    @pytest.fixture
    def mailer_harness(
        self, provider: Provider, refusing_provider: Provider, hanging_up_provider: Provider
    ) -> MailerHarness:
        return MailerHarness(
            mailer=_mailer(provider.url),
            delivered=provider.delivered,
            refusing=_mailer(refusing_provider.url),
            unreachable=_mailer(f"http://127.0.0.1:{_unused_port()}/v1/messages"),
            uncertain=_mailer(hanging_up_provider.url),
            secrets=(API_KEY,),
        )


def test_the_api_key_goes_as_a_bearer_token(provider: Provider) -> None:
    portal = make_test_portal(mailer=_mailer(provider.url))
    try:
        portal.invite("tenant-a", "contact", "1")
    finally:
        portal.engine.dispose()

    assert provider.authorizations == [f"Bearer {API_KEY}"]


def test_the_plugin_builds_its_mailer_from_its_settings(provider: Provider) -> None:
    settings = {"api_url": provider.url, "api_key": API_KEY}
    portal = make_test_portal(
        plugins=[cp_http_mailer.plugin],
        use_mailer_hook=True,
        plugin_settings={"http_mailer": settings},
    )
    try:
        portal.invite("tenant-a", "contact", "1")
    finally:
        portal.engine.dispose()

    assert [email.to for email in provider.delivered()] == ["ann@example.com"]
    assert portal.plugin_report.choice("client_portal_mailer").provides == "HttpApiMailer"


def test_a_portal_without_the_api_key_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_test_portal(
            plugins=[cp_http_mailer.plugin],
            use_mailer_hook=True,
            plugin_settings={"http_mailer": {"api_url": "https://api.test"}},
        )

    assert "api_key: Field required (set CLIENT_PORTAL_PLUGIN_HTTP_MAILER_API_KEY)" in str(
        raised.value
    )
