"""The Flask example host called in-process (no server, no sockets): what one request costs.

The same app ``serve`` runs (seeded SQLite, the library's hot paths), called
as a WSGI function in a loop, single-threaded:

* ``GET /config`` and ``POST /token`` (an existing token) against ``/healthz``;
* the example host's directory lookup (its own SQLAlchemy query), against
  the ``POST /token`` it is part of;
* ``POST /token`` from four threads in one process against one thread: what
  the GIL hand-offs cost in throughput.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from client_portal_core import SubjectType

from ._util import Figure, per_call_seconds

KEY = "benchmark-secret-key-0123456789abcdef"
PREFIX = "/api/v1/client-portal"
THREADS = 4

CONFIG_ROW = "flask in-process: config us vs /healthz"
TOKEN_ROW = "flask in-process: token us vs /healthz"
DIRECTORY_ROW = "flask host directory lookup vs in-process token"
THREADS_ROW = f"flask in-process: token r/s, {THREADS} threads vs 1"


def rows(quick: bool = False) -> list[str]:
    """The row names :func:`run` prints, in order."""
    return [CONFIG_ROW, TOKEN_ROW, DIRECTORY_ROW, THREADS_ROW]


def _call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], body: bytes) -> None:
    """One WSGI request on a fresh copy of ``environ``; the body is read to the end."""
    request = dict(environ)
    request["wsgi.input"] = io.BytesIO(body)
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    result = app(request, start_response)
    try:
        for _chunk in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not statuses[0].startswith("200"):
        raise RuntimeError(f"{environ['PATH_INFO']}: {statuses[0]}")


def _environ(path: str, method: str, api_token: str | None, body: bytes) -> dict[str, Any]:
    headers = [] if api_token is None else [("Authorization", f"Bearer {api_token}")]
    builder = EnvironBuilder(
        path=path,
        method=method,
        headers=headers,
        data=body or None,
        content_type="application/json" if body else None,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _threaded_rate(fn: Callable[[int], object], calls_per_thread: int) -> float:
    """Calls per second of ``fn`` run by :data:`THREADS` threads at once."""
    start_line = threading.Barrier(THREADS + 1)

    def worker() -> None:
        start_line.wait()
        for i in range(calls_per_thread):
            fn(i)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return THREADS * calls_per_thread / (time.perf_counter() - start)


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    # Imported here: the examples are a checkout's, not the installed package's.
    from examples.flask_host.app import create_app
    from examples.host_common import HostDirectory, PortalOptions, open_runtime
    from examples.host_common.seed import seed_demo_data

    calls = 1_000 if quick else 5_000
    with tempfile.TemporaryDirectory() as tmp:
        options = PortalOptions(
            database_url=f"sqlite:///{Path(tmp) / 'inprocess.db'}",
            secret_key=KEY,
            rate_limit="100000000/minute",
        )
        runtime = open_runtime(options)
        try:
            tenant = seed_demo_data(runtime.engine, runtime.portal)["tenants"][0]
            app = create_app(runtime.portal)
            api_token, contact_id = tenant["api_token"], tenant["contacts"][0]["id"]
            body = f'{{"type": "contact", "id": {contact_id}}}'.encode()
            healthz = _environ("/healthz", "GET", None, b"")
            config = _environ(PREFIX + "/config", "GET", api_token, b"")
            token = _environ(PREFIX + "/token", "POST", api_token, body)
            _call(app, token, body)  # creates the token: every later call finds it

            def once(environ: dict[str, Any], payload: bytes, times: int = calls) -> float:
                def request(_i: int) -> None:
                    _call(app, environ, payload)

                return per_call_seconds(request, times) * 1e6

            for environ, payload in ((healthz, b""), (config, b""), (token, body)):
                once(environ, payload, calls // 5)  # warm-up

            healthz_us, config_us, token_us = (
                once(healthz, b""),
                once(config, b""),
                once(token, body),
            )
            directory = HostDirectory(runtime.engine)
            tenant_id, subject = str(tenant["id"]), str(contact_id)
            directory_us = 1e6 * per_call_seconds(
                lambda _i: directory.client_portal_find_recipient(
                    tenant_id, SubjectType.CONTACT, subject
                ),
                calls,
            )
            threaded = _threaded_rate(lambda _i: _call(app, token, body), calls // THREADS)
        finally:
            runtime.portal.engine.dispose()
            runtime.engine.dispose()
    single = 1e6 / token_us
    return [
        Figure(CONFIG_ROW, config_us, healthz_us, "us", healthz_us / config_us, "context", None),
        Figure(
            TOKEN_ROW,
            token_us,
            healthz_us,
            "us",
            healthz_us / token_us,
            "context",
            None,
            note="an existing token: API token read, directory lookup, current token, JSON body",
        ),
        Figure(
            DIRECTORY_ROW,
            directory_us,
            token_us,
            "us",
            directory_us / token_us,
            "context",
            None,
            note="ratio = the directory's share of the whole request",
        ),
        Figure(
            THREADS_ROW,
            threaded,
            single,
            "r/s",
            threaded / single,
            "context",
            None,
            note="one process, no server: what the GIL hand-offs alone cost",
        ),
    ]
