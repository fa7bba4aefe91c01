"""The benchmark command keeps working: a quick run prints every row.

Nothing here looks at the figures (speed is never asserted in tests); it
proves only that ``python -m benchmarks`` still runs against the current
code, its aiosmtpd server and its receivers, and that it prints exactly the
rows ``--list`` names (which ``tests/test_benchmark_claims.py`` holds the
README's figures to). The HTTP suite needs ``wrk``, which ``make bench``
installs, so it is left to that command.
"""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

SUITES = ["--only", "verify", "--only", "inproc", "--only", "mail"]


def test_quick_benchmark_run_prints_every_row_of_its_suites() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", *SUITES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--list", *SUITES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    lines = done.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if set(line) == {"-"}) + 1 :]
    # Each row, without the notes printed under some rows (indented by four spaces).
    rows = [line.strip().split("  ")[0] for line in table if not line.startswith("    ")]
    assert rows == listed, done.stdout
    for row in (
        "token verification vs itsdangerous+sqlite3 floor",
        "token verification via Connection.execute vs the floor",
        "verification, 200,000 vs 10,000 tokens (slowdown)",
        "invite latency, 5 s receiver vs instant receiver",
        "invite latency, 5 s receiver vs no endpoint",
        "bulk invite of 400, plain SMTP: 1 connection vs 1/msg",
        "the same 400 emails sent alone, plain: 1 connection vs 1/msg",
        "bulk invite of 400, STARTTLS SMTP: 1 connection vs 1/msg",
        "the same 400 emails sent alone, STARTTLS: 1 connection vs 1/msg",
        "bulk invite of 400, in-memory mailer vs plain SMTP: work/invitation",
        "invitation message, RFC 2047 subject vs plain ASCII",
        "flask in-process: config us vs /healthz",
        "flask in-process: token us vs /healthz",
        "flask host directory lookup vs in-process token",
        "flask in-process: token r/s, 4 threads vs 1",
    ):
        assert row in rows, done.stdout
