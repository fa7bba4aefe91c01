"""Fixtures and helpers of the webhook tests: a real HTTP receiver on loopback,
portals on SQLite files or a fresh PostgreSQL database, and bounded polling.

Import the fixtures into a test module with ``from webhook_support import *``
(they are listed in ``__all__``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from client_portal_core import ClientPortal, MemoryMailer, Recipient, Settings, hookimpl
from client_portal_core.webhooks import WebhookWorker
from conftest import require_server
from support import fresh_postgresql_database

__all__ = [
    "SECRET_KEY",
    "Directory",
    "PortalMaker",
    "Received",
    "Receiver",
    "expected_signature",
    "receiver",
    "wait_until",
    "wh",
    "wh_database_url",
    "wh_postgresql_url",
]

SECRET_KEY = "webhook-test-secret-key-0123456789"
#: Tiny retry schedule: first attempt now, then quick retries.
FAST_SCHEDULE = [0.0, 0.2, 0.2, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        threading.Event().wait(interval)


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature, computed here and not by the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- the receiver ---------------------------------------------------------------


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """A threaded ``http.server`` on 127.0.0.1 that records every request.

    ``reply`` decides each answer (200 by default); ``hang`` makes handlers
    wait (bounded) until ``release()``; ``drip`` sends the answer one byte
    every ``drip`` seconds (for at most 30 s, or until the client hangs up);
    ``down()``/``up()`` stop and restart it on the same port.
    """

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    reply: Callable[[Received], Reply] = lambda _received: (200, {}, b"ok")
    delay: float = 0.0
    drip: float = 0.0
    #: Requests whose handler got past ``hang()``/``delay`` and began to answer.
    answered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._released.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                received = Received(
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                    time.monotonic(),
                )
                with receiver._lock:
                    receiver.requests.append(received)
                receiver._released.wait(30)
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                with receiver._lock:
                    receiver.answered += 1
                status, headers, body = receiver.reply(received)
                if receiver.drip:
                    self._drip(status, headers, body, receiver.drip)
                    return
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the worker gave up (timeout) or was killed

            def _drip(
                self, status: int, headers: dict[str, str], body: bytes, interval: float
            ) -> None:
                lines = [f"HTTP/1.1 {status} Dripping"]
                lines += [f"{name}: {value}" for name, value in headers.items()]
                lines += [f"content-length: {len(body)}", "connection: close", "", ""]
                raw = "\r\n".join(lines).encode("latin-1") + body
                give_up = time.monotonic() + 30
                for index in range(len(raw)):
                    if time.monotonic() > give_up:
                        break
                    try:
                        self.wfile.write(raw[index : index + 1])
                    except OSError:
                        break  # the worker hung up
                    threading.Event().wait(interval)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hang(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def msg_ids(self) -> set[str]:
        return {received.msg_id for received in self.snapshot()}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver, stopped after the test."""
    server = Receiver()
    server.up()
    yield server
    server.release()
    server.down()


# -- databases ------------------------------------------------------------------


@pytest.fixture(scope="session")
def wh_postgresql_url() -> Iterator[str]:
    """A fresh ``cp_wh_<random>`` database for this session, dropped at its end."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgresql_database("cp_wh") as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def wh_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.db'}"
    url: str = request.getfixturevalue("wh_postgresql_url")
    return url


# -- portals --------------------------------------------------------------------


class Directory:
    """Every subject exists in every tenant, with an email address."""

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: Any, subject_id: str
    ) -> Recipient:
        return Recipient(subject_id, f"Contact {subject_id}", f"c{subject_id}@example.com")


class PortalMaker:
    """Builds portals and workers on one database, each test on its own tables."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        # A fresh prefix per test keeps PostgreSQL tests apart without emptying tables.
        self.prefix = f"wh{secrets.token_hex(4)}_"
        self.portals: list[ClientPortal] = []
        self.workers: list[WebhookWorker] = []

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "secret_key": SECRET_KEY,
            "database_url": self.database_url,
            "table_prefix": self.prefix,
            "load_entry_points": False,
            "webhook_retry_schedule": FAST_SCHEDULE,
            # Generous: on a loaded machine a loopback answer must not time out
            # and turn into a retry. Tests of timeouts and leases set their own.
            "webhook_timeout_seconds": 10.0,
            "webhook_lease_seconds": 30.0,
            "webhook_allow_private_urls": True,
        }
        values.update(overrides)
        return Settings.build(**values)

    def portal(self, **overrides: Any) -> ClientPortal:
        portal = ClientPortal(
            self.settings(**overrides), plugins=[Directory()], mailer=MemoryMailer()
        )
        portal.create_schema()
        self.portals.append(portal)
        return portal

    def worker(self, **overrides: Any) -> WebhookWorker:
        """A worker with its own engine, like a separate process."""
        options = {
            key: overrides.pop(key)
            for key in ("batch_size", "poll_interval", "worker_id")
            if key in overrides
        }
        options.setdefault("poll_interval", 0.02)
        worker = WebhookWorker.from_settings(self.settings(**overrides), **options)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(10)
            worker.close()
            worker.db.engine.dispose()
        for portal in self.portals:
            portal.stop_webhook_worker()
            if portal.engine.dialect.name == "postgresql":
                portal.tables.metadata.drop_all(portal.engine)
            portal.engine.dispose()


@pytest.fixture
def wh(wh_database_url: str) -> Iterator[PortalMaker]:
    """Builds portals and workers; stops workers and drops PostgreSQL tables after."""
    maker = PortalMaker(wh_database_url)
    yield maker
    maker.close()
