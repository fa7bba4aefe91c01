"""Shared fixtures: one behaviour suite over every adapter and every backend.

In the style of the ``limits`` project's ``tests/utils.py``: each backend is a
``pytest.param(..., id=...)`` row of a table, and a fixture parametrized by
that table runs every test that uses it once per row.

* ``client``: the portal mounted on FastAPI and on Flask, behind one small
  interface (:class:`PortalClient`), so one test checks both adapters.
* ``make_portal`` / ``portal``: a :class:`ClientPortal` on a temporary SQLite
  file or on a fresh PostgreSQL database (one per test session, emptied after
  each test).
* ``rate_limit_storage``: ``memory://`` or a real Redis.
* ``smtp_server``: a real aiosmtpd server on 127.0.0.1.

Servers that are not running skip their rows outside CI and fail them in CI
(``CI`` set), so a broken CI service can never turn into a silent skip.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json as jsonlib
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

import hypothesis_profiles  # noqa: F401  (registers and loads the profile)
from client_portal_core import ClientPortal, MemoryMailer, Recipient, Settings, hookimpl
from fuzz_support import seed_header
from support import fresh_postgresql_database

# aiosmtpd's Controller gives its server thread 5 s to start by default; a
# loaded CI machine can take longer.
os.environ.setdefault("AIOSMTPD_CONTROLLER_TIMEOUT", "30")

API = "/api/v1/client-portal"
PORTAL = "/client-portal"
SECRET_KEY = "test-secret-key-0123456789abcdef"
#: Generous timeouts (they override the limiter's 0.5 s): on a loaded machine a
#: slow answer must not open the limiter and spoil a test's exact counts.
REDIS_URL = "redis://127.0.0.1:6379/0?socket_timeout=5&socket_connect_timeout=5"
#: The clock every test portal starts at (aware UTC, whole seconds).
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def pytest_report_header(config: pytest.Config) -> str:
    """The fuzz run's seeds, so a failure with the random one can be repeated."""
    return seed_header()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "portal(**settings): settings and options for the `portal` fixture"
    )
    # Starlette's TestClient announces its move to httpx2; not our concern here.
    config.addinivalue_line(
        "filterwarnings", "ignore:Using `httpx` with `starlette.testclient`:UserWarning"
    )


# -- servers on loopback ------------------------------------------------------


def is_listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (outside CI) or fail (in CI) when a needed server is not running."""
    if is_listening(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the clock ----------------------------------------------------------------


class FakeMonotonic:
    """An injectable monotonic clock (seconds): stands still until a test moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class FakeClock:
    """An injectable clock: stands still until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the host's directory -------------------------------------------------------

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"

#: The host's contacts and companies: (tenant, type) -> {id: (name, email)}.
#: Integer ids and string ids, with and without email, ids unique across
#: tenants except "shared-1", which both tenants use for different people.
DIRECTORY: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {
    (TENANT_A, "contact"): {
        "1": ("Ann Archer", "ann@example.com"),
        "2": ("Bob Noemail", None),
        "c-7f3e": ("Carol String", "carol@example.com"),
        "shared-1": ("Sam of A", "sam.a@example.com"),
    },
    (TENANT_A, "company"): {
        "10": ("Acme Ltd", "billing@acme.example"),
        "11": ("Quiet Co", None),
        "co-acme-2": ("Acme Two", "two@acme.example"),
    },
    (TENANT_B, "contact"): {
        "3": ("Dan Other", "dan@example.org"),
        "4": ("Eve Noemail", None),
        "shared-1": ("Sam of B", "sam.b@example.org"),
    },
    (TENANT_B, "company"): {
        "20": ("Beta GmbH", "office@beta.example"),
        "21": ("Silent AG", None),
    },
}


class Directory:
    """The test host's directory plugin (``client_portal_find_recipient``).

    Set :attr:`broken` to make every lookup raise, as a crashing host would.
    """

    def __init__(self) -> None:
        self.broken = False
        self.calls: list[tuple[str, str, str]] = []

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> Recipient | None:
        self.calls.append((tenant_id, str(subject_type), subject_id))
        if self.broken:
            raise RuntimeError("directory database password=hunter2 at /srv/host/secret.py")
        found = DIRECTORY.get((tenant_id, str(subject_type)), {}).get(subject_id)
        if found is None:
            return None
        return Recipient(subject_id, found[0], found[1])


class HostKeys:
    """A host plugin mapping the host's own API keys to tenants."""

    keys: Mapping[str, str] = {"host-key-a": TENANT_A, "host-key-b": TENANT_B}

    @hookimpl
    def client_portal_authenticate(self, api_key: str) -> str | None:
        return self.keys.get(api_key)


@pytest.fixture
def directory_entries() -> dict[tuple[str, str], dict[str, tuple[str, str | None]]]:
    """:data:`DIRECTORY`, as the running suite's directory plugin reads it: patch
    it through this fixture (``monkeypatch.setitem``), never an imported name,
    which a second pytest session in one process (``make mutation``) would
    leave pointing at the first session's copy."""
    return DIRECTORY


@pytest.fixture
def directory() -> Directory:
    return Directory()


# -- databases ----------------------------------------------------------------


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgresql_database("cp_test") as url:
        yield url


def _empty_postgresql(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = sa.inspect(conn).get_table_names()
            if names:
                quoted = ", ".join(f'"{name}"' for name in names)
                conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


#: The storage backends of the portal, one row each.
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database of the row's backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    url = request.getfixturevalue("postgresql_url")
    try:
        yield url
    finally:
        _empty_postgresql(url)


# -- rate-limit storage -------------------------------------------------------

#: The rate-limit storages, one row each.
RATE_LIMIT_STORAGES = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=RATE_LIMIT_STORAGES)
def rate_limit_storage(request: pytest.FixtureRequest) -> str:
    """A limits storage URI of the row's backend."""
    if request.param == "memory":
        return "memory://"
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    """The Redis server's URL (skips outside CI when it is down)."""
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def _forget_redis_counts(portal: ClientPortal) -> None:
    # The limiter keys on sha256(credential), which is what api_tokens stores:
    # delete exactly this test's counters, never another test's.
    import redis

    table = portal.tables.api_tokens
    with portal.engine.connect() as conn:
        hashes = list(conn.execute(sa.select(table.c.token_hash)).scalars())
    hashes += [hashlib.sha256(key.encode()).hexdigest() for key in HostKeys.keys]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for token_hash in hashes:
            for key in client.scan_iter(match=f"*client-portal/{token_hash}/*"):
                client.delete(key)
        for pattern in ("failed-credentials:*", "invite:*"):
            for key in client.scan_iter(match=f"*client-portal/{pattern}"):
                client.delete(key)
    finally:
        client.close()


# -- portals ------------------------------------------------------------------


class PortalFactory:
    """Builds portals on one database; every engine is disposed after the test."""

    def __init__(self, database_url: str, directory: Directory, clock: FakeClock) -> None:
        self.database_url = database_url
        self.directory = directory
        self.clock = clock
        self.portals: list[ClientPortal] = []

    def __call__(
        self,
        *,
        plugins: tuple[object, ...] | None = None,
        mailer: Any = "memory",
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        create_schema: bool = True,
        plugin_settings: dict[str, dict[str, Any]] | None = None,
        **settings: Any,
    ) -> ClientPortal:
        if plugin_settings is not None:
            settings["plugins"] = plugin_settings  # Settings.plugins: each plugin's own
        settings.setdefault("secret_keys", [SECRET_KEY])
        settings.setdefault("database_url", self.database_url)
        settings.setdefault("public_url", "https://portal.example.test")
        settings.setdefault("load_entry_points", False)
        portal = ClientPortal(
            Settings.build(**settings),
            plugins=(self.directory,) if plugins is None else plugins,
            clock=clock or self.clock,
            mailer=MemoryMailer() if mailer == "memory" else mailer,
            **({} if monotonic is None else {"monotonic": monotonic}),
        )
        self.portals.append(portal)
        if create_schema:
            portal.create_schema()
        return portal

    def close(self) -> None:
        for portal in self.portals:
            if portal.settings.rate_limit_storage == REDIS_URL:
                _forget_redis_counts(portal)
            portal.engine.dispose()


@pytest.fixture
def make_portal(
    database_url: str, directory: Directory, clock: FakeClock
) -> Iterator[PortalFactory]:
    factory = PortalFactory(database_url, directory, clock)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def portal(request: pytest.FixtureRequest, make_portal: PortalFactory) -> ClientPortal:
    """The portal of the test; ``@pytest.mark.portal(...)`` passes it options.

    ``smtp=True`` points it at the ``smtp_server`` fixture's server.
    """
    marker = request.node.get_closest_marker("portal")
    options = dict(marker.kwargs) if marker else {}
    if options.pop("smtp", False):
        server = request.getfixturevalue("smtp_server")
        options.setdefault("smtp_url", server.url)
        options.setdefault("mailer", None)
    return make_portal(**options)


@pytest.fixture
def api_token(portal: ClientPortal) -> str:
    """A library API token of tenant A."""
    return portal.create_api_token(TENANT_A).token


@pytest.fixture
def api_token_b(portal: ClientPortal) -> str:
    """A library API token of tenant B."""
    return portal.create_api_token(TENANT_B).token


# -- HTTP clients -------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively."""

    def __init__(self, items: Any) -> None:
        self._items = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Reply:
    """One response, the same shape for every adapter.

    ``path`` is the path it answered (the last one, after :meth:`PortalClient.visit`
    followed redirects).
    """

    status: int
    headers: Headers
    body: bytes
    path: str = ""

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


_DEFAULT = object()


@dataclass
class PortalClient:
    """A test client of one adapter, speaking as tenant A's API token by default.

    :param adapter: ``fastapi`` or ``flask``.
    :param authorization: the ``Authorization`` header sent unless a request
        passes ``auth=`` (``None`` sends none).
    """

    adapter: str
    portal: ClientPortal
    send: Callable[..., Reply]
    authorization: str | None = None
    user_agent: str = "portal-tests/1.0"
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: Cookies kept like a browser keeps them (``None``: none kept or sent).
    jar: dict[str, str] | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _DEFAULT,
        body: bytes | str | None = None,
        content_type: str | None = None,
        auth: Any = _DEFAULT,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        all_headers = {"User-Agent": self.user_agent, **self.extra_headers}
        authorization = self.authorization if auth is _DEFAULT else auth
        if authorization is not None:
            all_headers["Authorization"] = authorization
        if json is not _DEFAULT:
            body = jsonlib.dumps(json)
            content_type = content_type or "application/json"
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        if self.jar:
            all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        all_headers.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        reply = self.send(method, path, data or b"", all_headers)
        if self.jar is not None and "Set-Cookie" in reply.headers:
            self._keep(reply.headers["Set-Cookie"])
        return Reply(reply.status, reply.headers, reply.body, path)

    def _keep(self, set_cookie: str) -> None:
        from http.cookies import SimpleCookie

        assert self.jar is not None
        jar: SimpleCookie = SimpleCookie()
        jar.load(set_cookie)
        for name, morsel in jar.items():
            if morsel["max-age"] == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = morsel.value

    def browser(self) -> PortalClient:
        """A client like a browser: no API token, keeps cookies (starting with none)."""
        return PortalClient(self.adapter, self.portal, self.send, None, self.user_agent, {}, jar={})

    def visit(self, path: str, **kwargs: Any) -> Reply:
        """GET ``path`` and follow redirects (at most 5), like a browser."""
        reply = self.get(path, **kwargs)
        for _ in range(5):
            if reply.status not in (301, 302, 303, 307, 308):
                return reply
            reply = self.get(reply.headers["Location"])
        raise AssertionError(f"too many redirects from {path}")

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def as_token(self, token: str | None) -> PortalClient:
        """The same client speaking with another API token (``None``: none)."""
        return PortalClient(
            self.adapter,
            self.portal,
            self.send,
            None if token is None else f"Bearer {token}",
            self.user_agent,
            dict(self.extra_headers),
            None if self.jar is None else dict(self.jar),
        )


def _fastapi_sender(portal: ClientPortal) -> Callable[..., Reply]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from client_portal_fastapi import create_router

    app = FastAPI()
    app.include_router(create_router(portal))
    test_client = TestClient(app, follow_redirects=False)

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = test_client.request(method, path, content=body, headers=headers)
        test_client.cookies.clear()  # the PortalClient keeps cookies, for both adapters alike
        return Reply(response.status_code, Headers(response.headers.items()), response.content)

    return send


def _flask_sender(portal: ClientPortal) -> Callable[..., Reply]:
    from flask import Flask

    from client_portal_flask import ClientPortalFlask

    app = Flask("portal_tests")
    ClientPortalFlask(portal, app)
    test_client = app.test_client(use_cookies=False)

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = test_client.open(path, method=method, data=body, headers=headers)
        return Reply(response.status_code, Headers(response.headers.items()), response.data)

    return send


#: The adapters, one row each.
ADAPTERS = [
    pytest.param("fastapi", id="fastapi"),
    pytest.param("flask", id="flask"),
]
_SENDERS = {"fastapi": _fastapi_sender, "flask": _flask_sender}


def mount(adapter: str, portal: ClientPortal, api_token: str | None = None) -> PortalClient:
    """Mount ``portal`` on a fresh app of ``adapter`` and return its client."""
    authorization = None if api_token is None else f"Bearer {api_token}"
    return PortalClient(adapter, portal, _SENDERS[adapter](portal), authorization)


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(adapter: str) -> Callable[..., PortalClient]:
    """Mount any portal on this row's adapter."""

    def make(portal: ClientPortal, api_token: str | None = None) -> PortalClient:
        return mount(adapter, portal, api_token)

    return make


@pytest.fixture
def client(
    make_client: Callable[..., PortalClient], portal: ClientPortal, api_token: str
) -> PortalClient:
    """The test portal on this row's adapter, as tenant A."""
    return make_client(portal, api_token)


# -- SMTP -------------------------------------------------------------------


class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepts and refuses on demand.

    Set :attr:`refuse_rcpt` or :attr:`refuse_data` to an SMTP reply such as
    ``"550 5.1.1 No such user"`` to refuse that step.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_rcpt: str | None = None
        self.refuse_data: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=5"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) on a free port."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        controller.stop()


def message_parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a multipart invitation (line ends as sent: CRLF -> LF)."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


# -- signals ----------------------------------------------------------------


@dataclass
class Received:
    """Keyword arguments of every signal a receiver heard."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture
def listen(portal: ClientPortal) -> Iterator[Callable[[Any], Received]]:
    """Connect a recording receiver to a signal for the test portal only."""
    connected: list[tuple[Any, Received]] = []

    def connect(signal: Any) -> Received:
        received = Received()
        signal.connect(received, sender=portal, weak=False)
        connected.append((signal, received))
        return received

    try:
        yield connect
    finally:
        for signal, received in connected:
            signal.disconnect(received, sender=portal)
