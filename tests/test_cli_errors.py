"""Every command answers a usage or environment mistake with ONE line naming the option.

The library's ``client-portal`` and both example hosts' commands run for
real, as subprocesses: exit status 2 for usage, 1 for the environment,
exactly one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import API, PortalClient
from support import free_port, host_env, run_host_cli

KEY = "cli-errors-secret-key-0123456789"
USAGE, ENVIRONMENT = 2, 1

#: A plugin module for ``renew-expiring --plugin``: a directory that knows no one.
NOBODY_PLUGIN = """
from client_portal_core import hookimpl

class Nobody:
    @hookimpl
    def client_portal_find_recipient(self, tenant_id, subject_type, subject_id):
        return None
"""


def run_library(*args: str, tmp_path: Path, timeout: float = 90) -> tuple[int, list[str], str]:
    """``python -m client_portal_core ARGS``: exit status, stderr lines, stderr."""
    import subprocess

    (tmp_path / "nobody_plugin.py").write_text(NOBODY_PLUGIN)
    env = host_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "client_portal_core", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stderr.strip().splitlines(), done.stderr


def assert_one_line(code: int, lines: Sequence[str], stderr: str, expected: int) -> str:
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert code == expected, stderr
    return lines[0]


# -- the library's client-portal ---------------------------------------------------

#: Each command with the options it needs besides the database and the key.
LIBRARY_COMMANDS = [
    pytest.param(["webhook-worker", "--once"], id="webhook-worker"),
    pytest.param(
        ["add-webhook", "--allow-private-urls", "--tenant", "t1", "--url", "http://127.0.0.1:9/"],
        id="add-webhook",
    ),
    pytest.param(["prune-webhooks"], id="prune-webhooks"),
    pytest.param(
        ["renew-expiring", "--within-days", "3", "--plugin", "nobody_plugin:Nobody"],
        id="renew-expiring",
    ),
    pytest.param(["rotate-keys"], id="rotate-keys"),
    pytest.param(["migrate"], id="migrate"),
]

#: A database URL mistake and the exit status it is answered with.
DATABASE_MISTAKES = [
    pytest.param("bogus", USAGE, id="not-a-url"),
    pytest.param("sqlite:////nonexistent/folder/x.db", ENVIRONMENT, id="unwritable-sqlite"),
    pytest.param("mysql://x/y", ENVIRONMENT, id="driver-not-installed"),
]


def key_options(command: Sequence[str]) -> list[str]:
    """``--secret-key KEY``, for the commands that take one (``migrate`` does not)."""
    return [] if command[0] == "migrate" else ["--secret-key", KEY]


@pytest.mark.parametrize(("url", "status"), DATABASE_MISTAKES)
@pytest.mark.parametrize("command", LIBRARY_COMMANDS)
def test_library_commands_name_the_database_option_in_one_line(
    command: list[str], url: str, status: int, tmp_path: Path
) -> None:
    code, lines, stderr = run_library(
        *command, "--database-url", url, *key_options(command), tmp_path=tmp_path
    )

    line = assert_one_line(code, lines, stderr, status)
    assert "--database-url" in line


def test_an_unknown_database_is_a_usage_mistake(tmp_path: Path) -> None:
    code, lines, stderr = run_library(
        "migrate", "--database-url", "nosuchdb://x/y", tmp_path=tmp_path
    )

    line = assert_one_line(code, lines, stderr, USAGE)
    assert "--database-url" in line


@pytest.mark.parametrize("command", [c for c in LIBRARY_COMMANDS if c.id != "migrate"])
def test_library_commands_without_a_key_name_the_option_and_the_variable(
    command: list[str], tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'portal.db'}"

    code, lines, stderr = run_library(*command, "--database-url", database, tmp_path=tmp_path)

    line = assert_one_line(code, lines, stderr, USAGE)
    assert "--secret-key" in line
    assert "CLIENT_PORTAL_SECRET_KEY" in line
    assert "Field required" not in line


def test_a_usage_mistake_of_argparse_is_one_line_too(tmp_path: Path) -> None:
    code, lines, stderr = run_library("migrate", "--no-such-option", tmp_path=tmp_path)

    line = assert_one_line(code, lines, stderr, USAGE)
    assert "--no-such-option" in line


def test_an_unknown_log_level_names_the_option(tmp_path: Path) -> None:
    code, lines, stderr = run_library("--log-level", "loud", "migrate", tmp_path=tmp_path)

    line = assert_one_line(code, lines, stderr, USAGE)
    assert "--log-level" in line


def test_the_private_url_refusal_names_the_commands_option_not_the_address(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'portal.db'}"

    code, lines, stderr = run_library(
        "add-webhook",
        *("--database-url", database, "--secret-key", KEY),
        *("--tenant", "t1", "--url", "http://localhost:9/hook"),
        tmp_path=tmp_path,
    )

    line = assert_one_line(code, lines, stderr, USAGE)
    assert "--allow-private-urls" in line
    assert "webhook_allow_private_urls" not in line
    assert "loopback" in line
    assert "127.0.0.1" not in line
    assert "::1" not in line


@pytest.mark.portal(webhook_allow_private_urls=False)
def test_the_http_refusal_keeps_the_resolved_address_in_the_log_only(
    client: PortalClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="client_portal_core.webhooks"):
        reply = client.post(f"{API}/webhooks", json={"url": "http://localhost:9/hook"})

    assert reply.status == 422
    (message,) = reply.json()["errors"]["url"]
    assert "localhost" in message
    assert "127.0.0.1" not in message
    assert "::1" not in message
    assert "webhook_allow_private_urls" not in message
    logged = [record.getMessage() for record in caplog.records]
    assert any("localhost" in text and ("127.0.0.1" in text or "::1" in text) for text in logged)


# -- the example hosts -------------------------------------------------------------

HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]

#: Each host command with the options it needs besides the database and the key.
HOST_COMMANDS = [
    pytest.param(["serve", "--port", "PORT"], id="serve"),
    pytest.param(["seed"], id="seed"),
    pytest.param(
        ["add-webhook", "--tenant", "1", "--url", "http://127.0.0.1:9/"], id="add-webhook"
    ),
    pytest.param(["create-api-token", "--tenant", "1"], id="create-api-token"),
    pytest.param(["configure", "--tenant", "1", "--portal-name", "X"], id="configure"),
    pytest.param(
        ["set-token-expiry", "--token", "abc", "--expires-at", "2030-01-01T00:00:00Z"],
        id="set-token-expiry",
    ),
    pytest.param(["renew-expiring", "--tenant", "1", "--within-days", "3"], id="renew-expiring"),
    pytest.param(["invite-bulk", "--tenant", "1", "--all-contacts"], id="invite-bulk"),
]

HOST_DATABASE_MISTAKES = [
    pytest.param("bogus", USAGE, id="not-a-url"),
    pytest.param("sqlite:////nonexistent/folder/x.db", ENVIRONMENT, id="unwritable-sqlite"),
    # PostgreSQL through a driver that is not installed: the environment's mistake.
    pytest.param("postgresql+pg8000://u@127.0.0.1:1/x", ENVIRONMENT, id="driver-not-installed"),
]


@pytest.mark.parametrize(("url", "status"), HOST_DATABASE_MISTAKES)
@pytest.mark.parametrize("command", HOST_COMMANDS)
@pytest.mark.parametrize("host", HOSTS)
def test_host_commands_name_the_database_option_in_one_line(
    host: str, command: list[str], url: str, status: int
) -> None:
    words = [str(free_port()) if word == "PORT" else word for word in command]

    done = run_host_cli(host, *words, "--database-url", url, "--secret-key", KEY)

    lines = done.stderr.strip().splitlines()
    line = assert_one_line(done.returncode, lines, done.stderr, status)
    assert "--database-url" in line
    assert done.stdout == ""


@pytest.mark.parametrize("host", HOSTS)
def test_an_unsupported_database_is_a_host_usage_mistake(host: str) -> None:
    # The hosts support SQLite and PostgreSQL only.
    done = run_host_cli(host, "seed", "--database-url", "mysql://x/y")

    lines = done.stderr.strip().splitlines()
    line = assert_one_line(done.returncode, lines, done.stderr, USAGE)
    assert "--database-url" in line


@pytest.mark.parametrize("host", HOSTS)
def test_a_host_usage_mistake_of_argparse_is_one_line(host: str) -> None:
    done = run_host_cli(host, "seed", "--tenant", "1")

    lines = done.stderr.strip().splitlines()
    line = assert_one_line(done.returncode, lines, done.stderr, USAGE)
    assert "--tenant" in line
