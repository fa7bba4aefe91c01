"""The benchmark command keeps working: a quick run prints every row.

Nothing here looks at the figures (speed is never asserted in tests); it
proves only that ``python -m benchmarks`` still runs against the current
code, its aiosmtpd server and its receivers. The HTTP suite needs ``wrk``,
which ``make bench`` installs, so it is left to that command.
"""

from __future__ import annotations

import subprocess
import sys

from support import ROOT


def test_quick_benchmark_run_prints_every_row_of_its_suites() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "verify", "--only", "mail"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = [line.strip().split("  ")[0] for line in done.stdout.splitlines()]
    for row in (
        "token verification vs itsdangerous+sqlite3 floor",
        "verification, 200,000 vs 10,000 tokens (slowdown)",
        "invite latency, 5 s receiver vs instant receiver",
        "invite latency, 5 s receiver vs no endpoint",
        "bulk invite of 400, plain SMTP: 1 connection vs 1/msg",
        "the same 400 emails sent alone, plain: 1 connection vs 1/msg",
        "bulk invite of 400, STARTTLS SMTP: 1 connection vs 1/msg",
        "the same 400 emails sent alone, STARTTLS: 1 connection vs 1/msg",
    ):
        assert row in rows, done.stdout
