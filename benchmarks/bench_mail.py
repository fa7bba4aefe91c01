"""Invitation costs that involve peers: a slow webhook receiver, and bulk SMTP.

* invite latency with a webhook endpoint whose receiver takes 5 seconds,
  against no endpoint at all (the request path does no webhook I/O);
* bulk invitation of 2,000 contacts over one SMTP connection, against one
  connection per message, both to a local aiosmtpd server in its own process;
* the same bulk run to an in-memory mailer: our own work per invitation;
* building an invitation's message with a plain ASCII subject, against the
  same subject RFC 2047-encoded.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from client_portal_core import ClientPortal, MemoryMailer, OutgoingEmail, Settings, SMTPMailer
from client_portal_core.mail import build_message, wire_bytes

from ._util import EveryoneDirectory, Figure, free_port

KEY = "benchmark-secret-key-0123456789abcdef"

LATENCY_INSTANT_ROW = "invite latency, 5 s receiver vs instant receiver"
LATENCY_NONE_ROW = "invite latency, 5 s receiver vs no endpoint"
SUBJECT_ROW = "invitation message, RFC 2047 subject vs plain ASCII"


def _count(quick: bool) -> int:
    return 400 if quick else 2000


def bulk_rows(quick: bool, tls: bool) -> list[str]:
    """The names of the two rows of one :func:`bulk_smtp` run."""
    count, kind = _count(quick), "STARTTLS" if tls else "plain"
    return [
        f"bulk invite of {count:,}, {kind} SMTP: 1 connection vs 1/msg",
        f"  the same {count:,} emails sent alone, {kind}: 1 connection vs 1/msg",
    ]


def memory_row(quick: bool) -> str:
    """The name of the in-memory bulk row."""
    return f"bulk invite of {_count(quick):,}, in-memory mailer vs plain SMTP: work/invitation"


def rows(quick: bool = False) -> list[str]:
    """The row names :func:`run` prints, in order."""
    return [
        LATENCY_INSTANT_ROW,
        LATENCY_NONE_ROW,
        *bulk_rows(quick, tls=False),
        *bulk_rows(quick, tls=True),
        memory_row(quick),
        SUBJECT_ROW,
    ]


@contextmanager
def slow_receiver(delay: float) -> Iterator[str]:
    """An HTTP receiver on 127.0.0.1 that answers every POST after ``delay`` seconds."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stop.wait(delay)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _portal(path: Path, **settings: Any) -> ClientPortal:
    portal = ClientPortal(
        Settings.build(
            secret_key=KEY, database_url=f"sqlite:///{path}", load_entry_points=False, **settings
        ),
        plugins=[EveryoneDirectory()],
    )
    portal.create_schema()
    return portal


def webhook_latency(quick: bool) -> list[Figure]:
    """Median invite latency with a 5-second receiver, against an instant one and none.

    Each webhook portal runs its in-process worker, as the example hosts do.
    """
    count = 100 if quick else 400
    with (
        tempfile.TemporaryDirectory() as tmp,
        slow_receiver(5.0) as slow_url,
        slow_receiver(0.0) as fast_url,
    ):
        portals = {}
        for name, url in (("none", None), ("instant", fast_url), ("slow", slow_url)):
            portal = _portal(Path(tmp) / f"{name}.db", webhook_allow_private_urls=True)
            portal.mailer = MemoryMailer()  # only the webhook side differs
            if url is not None:
                portal.add_webhook_endpoint("bench", url)
                portal.start_webhook_worker(poll_interval=0.05)
            portals[name] = portal
        runs: dict[str, list[float]] = {name: [] for name in portals}
        try:
            # Interleave the portals so machine noise hits all alike.
            for offset in range(0, count, 25):
                for name, portal in portals.items():
                    runs[name] += _invite_latencies_from(portal, offset, 25)
        finally:
            for portal in portals.values():
                portal.stop_webhook_worker(timeout=1)
                portal.engine.dispose()
    median = {name: statistics.median(values) * 1e3 for name, values in runs.items()}
    slow_vs_instant = median["slow"] / median["instant"]
    slow_vs_none = median["slow"] / median["none"]
    return [
        Figure(
            LATENCY_INSTANT_ROW,
            median["slow"],
            median["instant"],
            "ms",
            slow_vs_instant,
            "~1.00",
            slow_vs_instant <= 1.10,
            note="same outbox writes on both sides; only the receiver's speed differs",
        ),
        Figure(
            LATENCY_NONE_ROW,
            median["slow"],
            median["none"],
            "ms",
            slow_vs_none,
            "~1.00",
            slow_vs_none <= 1.10,
            note=f"the difference ({median['slow'] - median['none']:.2f} ms) is the "
            "transactional outbox rows, not the receiver",
        ),
    ]


def _invite_latencies_from(portal: ClientPortal, first: int, count: int) -> list[float]:
    latencies = []
    for i in range(first, first + count):
        start = time.perf_counter()
        portal.invite("bench", "contact", f"{i}")
        latencies.append(time.perf_counter() - start)
    return latencies


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, so the server can offer STARTTLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def smtp_server(tls_folder: Path | None = None) -> Iterator[SMTPMailer]:
    """aiosmtpd in a child process (so it does not share our GIL) and a mailer for it.

    With ``tls_folder`` the server offers STARTTLS with a fresh certificate
    and the mailer uses it, as a real submission server (port 587) would.
    """
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
               "-c", "aiosmtpd.handlers.Sink"]  # fmt: skip
    context: ssl.SSLContext | None = None
    if tls_folder is not None:
        cert, key = _self_signed(tls_folder)
        command += ["--tlscert", str(cert), "--tlskey", str(key)]
        context = ssl.create_default_context(cafile=str(cert))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("aiosmtpd did not start") from None
                time.sleep(0.05)
        yield SMTPMailer(
            "127.0.0.1",
            port,
            security="starttls" if context else "none",
            ssl_context=context,
        )
    finally:
        process.terminate()
        process.wait(10)


class OneConnectionPerMessage:
    """The same SMTP mailer without its ``connection()`` ability: bulk runs then
    open one connection per message, everything else being equal."""

    def __init__(self, inner: SMTPMailer) -> None:
        self._inner = inner

    def send(self, email: OutgoingEmail) -> None:
        self._inner.send(email)


def _send_alone(mailer: SMTPMailer, emails: list[OutgoingEmail], shared: bool) -> float:
    """Seconds to send ready-made ``emails``, with no invitation work around them."""
    start = time.perf_counter()
    if shared:
        with mailer.connection():
            for email in emails:
                mailer.send(email)
    else:
        for email in emails:
            mailer.send(email)
    return time.perf_counter() - start


def _real_invitations(folder: Path, count: int) -> list[OutgoingEmail]:
    """``count`` copies of a real invitation email, each to its own address."""
    portal = _portal(folder / "render.db")
    portal.mailer = captured = MemoryMailer()
    portal.invite("bench", "contact", "1")
    portal.engine.dispose()
    [email] = captured.outbox
    return [dataclasses.replace(email, to=f"c{i}@example.com") for i in range(count)]


def bulk_smtp(quick: bool, tls: bool) -> tuple[list[Figure], float]:
    """2,000 invitations by ``invite_many``: one SMTP connection, against one per message.

    A second row sends the same number of ready-made emails with no
    invitation work at all: its ratio is the most that any sender, however
    little work it did per invitation, could gain against this server.
    Also returns our own work per invitation, in milliseconds.
    """
    count = _count(quick)
    names = bulk_rows(quick, tls)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp, smtp_server(Path(tmp) if tls else None) as mailer:
        emails = _real_invitations(Path(tmp), count)
        alone = {shared: _send_alone(mailer, emails, shared) for shared in (True, False)}
        for name, used in (("shared", mailer), ("per-message", OneConnectionPerMessage(mailer))):
            portal = _portal(Path(tmp) / f"{name}.db")
            portal.mailer = used
            start = time.perf_counter()
            report = portal.invite_many("bench", [("contact", i) for i in range(count)])
            seconds[name] = time.perf_counter() - start
            portal.engine.dispose()
            if report.failures or report.sent != count:
                raise RuntimeError(f"bulk run failed: {report.failures[:3]}")
    ratio = seconds["per-message"] / seconds["shared"]
    ceiling = alone[False] / alone[True]
    work_ms = (seconds["shared"] - alone[True]) / count * 1000
    per_message_ms = alone[True] / count * 1000
    connection_ms = (alone[False] - alone[True]) / count * 1000
    return [
        Figure(
            names[0],
            seconds["shared"],
            seconds["per-message"],
            "s",
            ratio,
            ">= 3.00 x",
            ratio >= 3.0,
            note="ratio = per-message time / one-connection time (higher is better); "
            f"our own work per invitation: {work_ms:.2f} ms",
        ),
        Figure(
            names[1],
            alone[True],
            alone[False],
            "s",
            ceiling,
            "context",
            None,
            note="no invitation work: the ceiling of the ratio above on this server; "
            f"{per_message_ms:.2f} ms a message on one connection, "
            f"{connection_ms:.2f} ms more for a connection each",
        ),
    ], work_ms


def bulk_memory(quick: bool, smtp_work_ms: float) -> Figure:
    """The same bulk run to an in-memory mailer: our own work per invitation, no SMTP."""
    count = _count(quick)
    with tempfile.TemporaryDirectory() as tmp:
        portal = _portal(Path(tmp) / "memory.db")
        portal.mailer = MemoryMailer()
        start = time.perf_counter()
        report = portal.invite_many("bench", [("contact", i) for i in range(count)])
        elapsed = time.perf_counter() - start
        portal.engine.dispose()
    if report.failures or report.sent != count:
        raise RuntimeError(f"bulk run failed: {report.failures[:3]}")
    memory_ms = elapsed / count * 1000
    return Figure(
        memory_row(quick),
        memory_ms,
        smtp_work_ms,
        "ms",
        memory_ms / smtp_work_ms,
        "context",
        None,
        note="reference: the plain SMTP run's time less the emails sent alone, per invitation",
    )


def subject_encoding(quick: bool) -> Figure:
    """Building and serializing one invitation's message, subject plain against encoded."""
    calls = 300 if quick else 2_000
    with tempfile.TemporaryDirectory() as tmp:
        [email] = _real_invitations(Path(tmp), 1)
    # One non-ASCII letter sends the same subject down the RFC 2047 path.
    encoded = dataclasses.replace(email, subject=email.subject + " \u00e9")
    plain = dataclasses.replace(email, subject=email.subject + " e")
    if not email.subject.isascii():
        raise RuntimeError("the invitation subject is not plain ASCII: nothing to compare")

    # Interleaved rounds, so machine noise hits both alike.
    runs: dict[str, list[float]] = {"plain": [], "encoded": []}
    for _round in range(7):
        for name, value in (("plain", plain), ("encoded", encoded)):
            start = time.perf_counter()
            for _ in range(calls):
                wire_bytes(build_message(value))
            runs[name].append((time.perf_counter() - start) / calls * 1e3)
    cost = {name: statistics.median(values) for name, values in runs.items()}
    return Figure(
        SUBJECT_ROW,
        cost["encoded"],
        cost["plain"],
        "ms",
        cost["encoded"] / cost["plain"],
        "context",
        None,
        note=f"RFC 2047 encoding of the subject costs {cost['encoded'] - cost['plain']:.3f} ms",
    )


def run(quick: bool = False) -> list[Figure]:
    """Measure both figures."""
    plain, plain_work_ms = bulk_smtp(quick, tls=False)
    starttls, _ = bulk_smtp(quick, tls=True)
    return [
        *webhook_latency(quick),
        *plain,
        *starttls,
        bulk_memory(quick, plain_work_ms),
        subject_encoding(quick),
    ]
