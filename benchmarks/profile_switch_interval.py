"""One-off profile: the Flask host's ``GET /config`` ratio under several switch intervals.

``python -m benchmarks.profile_switch_interval [--quick] [--list]``

Runs the Flask example host's ``serve`` (waitress, 8 threads) once per value
of ``sys.setswitchinterval`` and loads ``/healthz`` and ``GET /config`` with
``wrk -t1 -c16``, as ``python -m benchmarks`` does. Not part of
``python -m benchmarks``: it takes five server runs. Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from ._util import Figure, print_table
from .bench_http import measure_host

#: Seconds; CPython's default is 0.005.
INTERVALS = (0.0002, 0.0005, 0.001, 0.002, 0.005)
#: Sets the interval, then runs the host's module as ``python -m`` would.
LAUNCHER = (
    "import runpy, sys; sys.setswitchinterval(float(sys.argv.pop(1))); "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def row(interval: float) -> str:
    """The row name for one interval."""
    return f"flask: config req/s vs /healthz, switch interval {interval * 1e3:g} ms"


def rows() -> list[str]:
    """The row names :func:`run` prints, in order."""
    return [row(interval) for interval in INTERVALS]


def run(quick: bool = False) -> list[Figure]:
    """Measure the Flask host once per interval."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    seconds = 3 if quick else 8
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for interval in INTERVALS:
            folder = Path(tmp) / f"{interval:g}"
            folder.mkdir()
            # After "-c CODE" the interpreter's argv is [-c, interval, module, serve, ...].
            rps = measure_host(
                "flask", seconds, folder, python_args=("-c", LAUNCHER, str(interval))
            )
            ratio = rps["config"] / rps["healthz"]
            figures.append(
                Figure(row(interval), rps["config"], rps["healthz"], "r/s", ratio, "context", None)
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile_switch_interval", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="3-second wrk runs")
    parser.add_argument("--list", action="store_true", help="print the row names, measure nothing")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(rows()))
        return 0
    print_table(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
