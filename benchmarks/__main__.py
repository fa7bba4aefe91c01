"""Run every benchmark and print one table: ``python -m benchmarks [--quick] [--only NAME]``.

``--list`` prints the name of every row that run would print, one a line,
without measuring anything (``benchmarks/README.md`` cites figures by row).
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from . import bench_http, bench_inprocess, bench_mail, bench_verify
from ._util import Figure, print_table

SUITES: dict[str, Callable[[bool], list[Figure]]] = {
    "verify": bench_verify.run,
    "http": bench_http.run,
    "inproc": bench_inprocess.run,
    "mail": bench_mail.run,
}
ROWS: dict[str, Callable[[bool], list[str]]] = {
    "verify": bench_verify.rows,
    "http": bench_http.rows,
    "inproc": bench_inprocess.rows,
    "mail": bench_mail.rows,
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen suites, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller tables")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these")
    parser.add_argument("--list", action="store_true", help="print the row names, measure nothing")
    args = parser.parse_args(argv)
    chosen = args.only or list(SUITES)
    if args.list:
        for name in chosen:
            print("\n".join(row.strip() for row in ROWS[name](args.quick)))
        return 0
    print(
        f"client-portal-core benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {platform.machine()}, {platform.system()}"
    )
    figures: list[Figure] = []
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(SUITES[name](args.quick))
    print()
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
