"""``invite-bulk``'s progress on stderr, run for real against an aiosmtpd sink.

Through a pipe: a line each 5 % and one per failure, not one per subject. On a
terminal (a pseudo-terminal here): a progress bar with rate and time left,
and the failures on their own lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from support import ROOT, SmtpSink, host_env, run_host_cli

HOSTS = [
    pytest.param("examples.fastapi_host", id="fastapi"),
    pytest.param("examples.flask_host", id="flask"),
]
KEY = "bulk-progress-secret-key-0123456789"
NO_EMAIL = "Contact does not have an email address"
PROGRESS_LINE = re.compile(r"^\[(\d+)/(\d+)\] contact (\S+) (\S+)")


def seeded(host: str, tmp_path: Path, extra: int) -> tuple[str, dict[str, Any], list[int]]:
    """A seeded database with ``extra`` more contacts (with email) for the first
    tenant: its URL, the tenant, and the ids of its contacts without an email."""
    database = tmp_path / "portal.db"
    url = f"sqlite:///{database}"
    done = run_host_cli(host, "seed", "--database-url", url, "--secret-key", KEY)
    assert done.returncode == 0, done.stderr
    tenant: dict[str, Any] = json.loads(done.stdout)["tenants"][0]
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.executemany(
            "INSERT INTO host_contacts (tenant_id, name, email) VALUES (?, ?, ?)",
            [(tenant["id"], f"Extra {n}", f"extra{n}@bulk.example.com") for n in range(extra)],
        )
    without = [int(c["id"]) for c in tenant["contacts"] if c["email"] is None]
    assert without
    return url, tenant, without


def bulk_command(host: str, url: str, tenant: dict[str, Any], smtp_url: str) -> list[str]:
    return [
        *(sys.executable, "-m", host, "invite-bulk", "--database-url", url),
        *("--secret-key", KEY, "--tenant", str(tenant["id"]), "--all-contacts"),
        *("--smtp-url", smtp_url),
    ]


@pytest.mark.parametrize("host", HOSTS)
def test_through_a_pipe_a_line_each_five_percent_and_every_failure(
    host: str, tmp_path: Path
) -> None:
    url, tenant, without = seeded(host, tmp_path, extra=200)
    with SmtpSink() as sink:
        done = subprocess.run(
            bulk_command(host, url, tenant, sink.url),
            cwd=ROOT,
            env=host_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    total = report["total"]
    assert total > 200
    progress = [m for m in map(PROGRESS_LINE.match, done.stderr.splitlines()) if m]
    failures = [m for m in progress if m.group(4) == "failed:"]
    # Every failure on its own line...
    assert sorted(int(m.group(3)) for m in failures) == sorted(without)
    assert all(NO_EMAIL in m.string for m in failures)
    # ...and the rest a line per 5 % (at most 21 with the first), not one per subject.
    others = [m for m in progress if m.group(4) != "failed:"]
    assert 10 <= len(others) <= 100 // 5 + 1
    assert progress[-1].group(1) == progress[-1].group(2) == str(total)


def read_pty(master: int, process: subprocess.Popen[str], timeout: float) -> str:
    """Everything written to the pseudo-terminal until the process ends (bounded)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("host", HOSTS)
def test_on_a_terminal_a_progress_bar_with_rate_and_time_left(host: str, tmp_path: Path) -> None:
    url, tenant, without = seeded(host, tmp_path, extra=30)
    master, slave = pty.openpty()
    # A terminal 100 columns wide, as a person's would be.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        with SmtpSink() as sink:
            process = subprocess.Popen(
                bulk_command(host, url, tenant, sink.url),
                cwd=ROOT,
                env=host_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=slave,
                text=True,
            )
            os.close(slave)
            slave = -1
            try:
                screen = read_pty(master, process, timeout=120)
                stdout, _ = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)

    assert "Traceback" not in screen, screen
    total = json.loads(stdout)["total"]
    # tqdm's bar: the count, 100 %, the elapsed<left times and the rate.
    final = screen.replace("\r", "\n").splitlines()
    bars = [line for line in final if f"{total}/{total}" in line and "100%" in line]
    assert bars, screen
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, *[\d.]+ ?(subject/s|s/subject)\]", bars[-1])
    # Each failure still has its own line, above the bar.
    for subject in without:
        assert any(
            re.search(rf"\] contact {subject} failed: {NO_EMAIL}", line) for line in final
        ), screen
    # No line per subject: the sent ones are only counted by the bar.
    assert not re.search(r"\] contact \d+ sent", screen)
