"""Several ``serve`` processes on one PostgreSQL and one Redis behave as one service.

Two real server processes of an example host share a fresh PostgreSQL
database and the Redis at 127.0.0.1:6379, and are called alternately:

* get-or-create hands out one token per subject, whichever process answers;
* the rate limit is one budget for both processes;
* the webhook outbox is drained once: every event reaches the receiver once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import REDIS_URL, require_server
from support import (
    ROOT,
    BackgroundProcess,
    WebhookSink,
    free_port,
    fresh_postgresql_database,
    host_env,
    wait_for_http,
)

API = "/api/v1/client-portal"
HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]
SECRET = "multiprocess-secret-key-0123456789"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgresql_database("cp_mp") as url:
        yield url


def _env() -> dict[str, str]:
    env = host_env()
    # add-webhook seals the endpoint secret with this key, and the servers
    # must unseal it: every command of one deployment shares the key.
    env["CLIENT_PORTAL_SECRET_KEY"] = SECRET
    return env


def _cli(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _serve(module: str, database_url: str, tmp_path: Path, index: int) -> BackgroundProcess:
    port = free_port()
    server = BackgroundProcess(
        [
            sys.executable, "-m", module, "serve", "--port", str(port),
            "--database-url", database_url,
            "--rate-limit", "20/hour", "--rate-limit-storage", REDIS_URL,
        ],
        log_dir=tmp_path / f"server-{index}",
        cwd=ROOT,
        env=_env(),
    )  # fmt: skip
    server.port = port  # type: ignore[attr-defined]
    return server


def _call(base: str, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, base + API + path, headers=headers, json=body, timeout=15)


@pytest.mark.parametrize("module", HOSTS)
def test_two_processes_behave_as_one_service(module: str, pg_url: str, tmp_path: Path) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    seeded = json.loads(_cli(module, "seed", "--database-url", pg_url))
    first, second = seeded["tenants"][:2]
    with WebhookSink() as sink:
        _cli(
            module, "add-webhook", "--database-url", pg_url, "--tenant", str(first["id"]),
            "--url", f"{sink.url}/hook", "--event", "client_portal.token_created",
        )  # fmt: skip
        servers = [_serve(module, pg_url, tmp_path, index) for index in range(2)]
        try:
            bases = [f"http://127.0.0.1:{server.port}" for server in servers]  # type: ignore[attr-defined]
            for base, server in zip(bases, servers, strict=True):
                wait_for_http(base + "/healthz", timeout=30, process=server.process)

            # One token per subject, whichever process answers, even when racing.
            contact = first["contacts"][0]["id"]
            body = {"type": "contact", "id": contact}
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda i: _call(bases[i % 2], "POST", "/token", first["api_token"], body),
                        range(8),
                    )
                )
            assert {answer.status_code for answer in answers} == {200}
            assert len({answer.json()["token"] for answer in answers}) == 1

            # More subjects, so several events wait in the shared outbox.
            subjects = [("contact", c["id"]) for c in first["contacts"][1:]] + [
                ("company", c["id"]) for c in first["companies"]
            ]
            for index, (kind, subject_id) in enumerate(subjects):
                answer = _call(
                    bases[index % 2], "POST", "/token", first["api_token"],
                    {"type": kind, "id": subject_id},
                )  # fmt: skip
                assert answer.status_code == 200

            # One rate-limit budget (20/hour) shared by both processes.
            statuses = Counter(
                _call(bases[i % 2], "GET", "/config", second["api_token"]).status_code
                for i in range(26)
            )
            assert statuses == {200: 20, 429: 6}

            # The outbox is drained once: each event arrives exactly once.
            expected = 1 + len(subjects)
            sink.inbox.wait_for(lambda _r: len(sink.inbox.items()) >= expected, timeout=30)
            engine = sa.create_engine(pg_url)
            try:
                deadline = time.monotonic() + 30
                while True:
                    with engine.connect() as conn:
                        open_rows = conn.exec_driver_sql(
                            "SELECT count(*) FROM client_portal_webhook_deliveries "
                            "WHERE status NOT IN ('delivered', 'failed')"
                        ).scalar_one()
                    if open_rows == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            finally:
                engine.dispose()
            assert open_rows == 0
            ids = Counter(request.headers["webhook-id"] for request in sink.inbox.items())
            assert len(ids) == expected
            assert set(ids.values()) == {1}
        finally:
            for server in servers:
                server.stop()


@pytest.mark.parametrize("module", HOSTS)
def test_processes_starting_together_on_an_empty_database_all_serve(
    module: str, pg_url: str, tmp_path: Path
) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    # No seed first: every server creates the tables itself, at the same moment.
    servers = [_serve(module, pg_url, tmp_path, index) for index in range(3)]
    try:
        for server in servers:
            wait_for_http(
                f"http://127.0.0.1:{server.port}/healthz",  # type: ignore[attr-defined]
                timeout=30,
                process=server.process,
            )
    finally:
        for server in servers:
            server.stop()
    seeded = json.loads(_cli(module, "seed", "--database-url", pg_url))
    assert len(seeded["tenants"]) >= 2
