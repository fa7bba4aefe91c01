"""What ``serve`` prints when it starts: nothing before the port is known free,
no Alembic narration, and one warning for a rate-limit storage that does not answer.

Both example hosts' ``serve`` run for real, as subprocesses.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import ROOT, BackgroundProcess, free_port, host_env, run_host_cli, wait_for_http

KEY = "cli-start-secret-key-0123456789"
HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("host", HOSTS)
def test_serve_on_a_port_in_use_says_so_before_creating_or_printing_anything(
    host: str, busy_port: int, tmp_path: Path
) -> None:
    database = tmp_path / "demo.db"

    done = run_host_cli(
        host,
        *("serve", "--port", str(busy_port), "--demo"),
        *("--database-url", f"sqlite:///{database}", "--secret-key", KEY),
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "--port" in line
    assert str(busy_port) in line
    # No demo API tokens, no curl lines: nothing was created or printed.
    assert done.stdout == ""
    assert not database.exists()


def start_output(host: str, tmp_path: Path, *options: str) -> str:
    """Everything ``serve`` printed (stdout and stderr) up to answering ``/healthz``."""
    port = free_port()
    command = [
        sys.executable,
        *("-m", host, "serve", "--port", str(port)),
        *("--database-url", f"sqlite:///{tmp_path / 'host.db'}", "--secret-key", KEY),
        *options,
    ]
    with BackgroundProcess(command, log_dir=tmp_path / "logs", cwd=ROOT, env=host_env()) as server:
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", process=server.process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\n{server.stdout()}\n{server.stderr()}")
        return server.stdout() + server.stderr()


@pytest.mark.parametrize("host", HOSTS)
def test_serve_starts_without_alembic_narration(host: str, tmp_path: Path) -> None:
    output = start_output(host, tmp_path)

    assert "Client Portal demo host" in output
    assert [line for line in output.splitlines() if "alembic" in line] == []


@pytest.mark.parametrize("host", HOSTS)
def test_serve_warns_once_at_start_when_the_rate_limit_storage_does_not_answer(
    host: str, tmp_path: Path
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"

    output = start_output(host, tmp_path, "--rate-limit-storage", dead)

    warnings = [line for line in output.splitlines() if "rate limit storage" in line]
    assert len(warnings) == 1, output
    assert "unreachable" in warnings[0]
    assert dead in warnings[0]
