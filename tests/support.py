"""Helpers for tests that talk to real servers on 127.0.0.1.

* :func:`free_port` and :func:`wait_for_http`: start a server, know when it answers.
* :class:`BackgroundProcess`: a command line running in the background whose
  output lands in files (no pipe to fill up), always stopped on exit.
* :class:`SmtpSink`: a real SMTP server (aiosmtpd) that keeps what it receives.
* :class:`WebhookSink`: a real HTTP server that keeps the requests it receives.

Every wait here is bounded by a deadline; nothing sleeps without one.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

__all__ = [
    "BackgroundProcess",
    "ReceivedMail",
    "ReceivedRequest",
    "SmtpSink",
    "WebhookSink",
    "free_port",
    "rfc2047_address",
    "wait_for_http",
]

_Item = TypeVar("_Item")
_POLL_SECONDS = 0.05


def rfc2047_address(raw: str) -> tuple[str, str]:
    """``(display name, address)`` of one raw address header, decoded as RFC 2047 says.

    Whitespace between two encoded words is no text (RFC 2047, section 6.2),
    as mail clients read it; Python's structured header parser keeps it as a
    space inside a display name, so the phrase is decoded here instead.
    """
    unfolded = re.sub(r"\r?\n[ \t]", " ", raw).strip()
    if "=?" not in unfolded:
        return email.utils.parseaddr(unfolded)
    phrase, _, address = unfolded.rpartition("<")
    name = str(email.header.make_header(email.header.decode_header(phrase.strip())))
    return name, address.removesuffix(">")


#: The repository root: the example hosts run from here (``python -m examples...``).
ROOT = Path(__file__).resolve().parents[1]


def host_env() -> dict[str, str]:
    """The environment for an example host process: this one, minus ``CLIENT_PORTAL_*``."""
    # The hosts read CLIENT_PORTAL_SECRET_KEY; a developer's own must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_host_cli(
    module: str, *args: str, timeout: float = 90, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one command of an example host to completion (killed after ``timeout``)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**host_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: The PostgreSQL server of the tests (trust auth); its ``test`` database is
#: only used to create and drop fresh databases.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_postgresql_database(prefix: str) -> Iterator[str]:
    """A new, empty database ``<prefix>_<random>``: its URL, dropped on exit.

    The caller checks first that the server is reachable (skip or fail).
    """
    import sqlalchemy as sa

    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def wait_for_http(
    url: str, *, timeout: float = 60.0, process: subprocess.Popen[Any] | None = None
) -> None:
    """Poll ``url`` until it answers 200, within ``timeout`` seconds.

    :param process: the server; when it exits first, fail at once instead of
        waiting for the deadline.
    :raises RuntimeError: ``process`` exited before the URL answered.
    :raises TimeoutError: the URL did not answer 200 in time.
    """
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(_POLL_SECONDS)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s ({last_error})")


class BackgroundProcess:
    """A command running in the background, its stdout and stderr written to files.

    Files rather than pipes: a chatty server can never block on a full pipe,
    and the test can read what was printed so far at any time. Use it as a
    context manager (or call :meth:`stop`) so the process never outlives the test.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        log_dir: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / "stdout.txt"
        self.stderr_path = log_dir / "stderr.txt"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            # The child keeps its own copies of the descriptors.
            self.process = subprocess.Popen(
                list(args), cwd=cwd, env=None if env is None else dict(env), stdout=out, stderr=err
            )

    def stdout(self) -> str:
        """Everything the process printed to stdout so far."""
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        """Everything the process printed to stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """Stdout once ``predicate(stdout)`` holds; :class:`TimeoutError` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout()
            if predicate(text):
                return text
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected output not printed in {timeout} s:\n{text}")
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float = 10.0) -> int:
        """Terminate (then kill, after ``timeout``) and return the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Inbox(Generic[_Item]):
    """A thread-safe list that tests can wait on."""

    def __init__(self) -> None:
        self._items: list[_Item] = []
        self._changed = threading.Condition()

    def add(self, item: _Item) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def items(self) -> list[_Item]:
        with self._changed:
            return list(self._items)

    def wait_for(self, predicate: Callable[[_Item], bool], timeout: float) -> _Item:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((i for i in self._items if predicate(i)), None), timeout
            )
        if found is None:
            raise TimeoutError(f"nothing matching arrived within {timeout} s")
        return found


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message an :class:`SmtpSink` accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())


class SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that accepts and keeps every message.

    :attr:`connections` counts the client connections (one EHLO each: smtplib
    greets with EHLO, and this server offers no STARTTLS that would repeat it).

    >>> with SmtpSink() as sink:
    ...     serve(smtp_url=sink.url)
    ...     mail = sink.wait_for(lambda m: "ann@example.com" in m.rcpt_tos)
    """

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.inbox: _Inbox[ReceivedMail] = _Inbox()
        self.connections = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The ``smtp://`` URL of this server."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's hook: count the connection, answer as aiosmtpd would."""
        self.connections += 1  # on the server's one event loop thread: no race
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox.add(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def wait_for(
        self, predicate: Callable[[ReceivedMail], bool], timeout: float = 10.0
    ) -> ReceivedMail:
        """The first message matching ``predicate``, waiting up to ``timeout`` seconds."""
        return self.inbox.wait_for(predicate, timeout)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request a :class:`WebhookSink` answered."""

    path: str
    headers: dict[str, str]
    body: bytes


class WebhookSink:
    """A real HTTP server on 127.0.0.1 that answers 204 to every POST and keeps it."""

    def __init__(self) -> None:
        inbox: _Inbox[ReceivedRequest] = _Inbox()
        self.inbox = inbox

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                inbox.add(ReceivedRequest(self.path, headers, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL of this server."""
        return f"http://127.0.0.1:{self.port}"

    def wait_for(
        self, predicate: Callable[[ReceivedRequest], bool], timeout: float = 10.0
    ) -> ReceivedRequest:
        """The first request matching ``predicate``, waiting up to ``timeout`` seconds."""
        return self.inbox.wait_for(predicate, timeout)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def current_token(
    portal: Any, subject_type: str, subject_id: str, tenant_id: str = "tenant-a"
) -> Any:
    """The subject's current token row in the SQL store (``None`` without one)."""
    import sqlalchemy as sa

    from client_portal_core.storage import StoredPortalToken

    t = portal.tables.portal_tokens
    with portal.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.c.id).where(
                t.c.tenant_id == tenant_id,
                t.c.subject_type == subject_type,
                t.c.subject_id == subject_id,
                t.c.current.is_(True),
            )
        ).first()
    found: StoredPortalToken | None = (
        None if row is None else portal.token_store.get_token(tenant_id, row[0])
    )
    return found
