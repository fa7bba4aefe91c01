"""Run every benchmark and print one table: ``python -m benchmarks [--quick] [--only NAME]``."""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import UTC, datetime

from . import bench_http, bench_mail, bench_verify
from ._util import Figure, print_table

SUITES = {"verify": bench_verify.run, "http": bench_http.run, "mail": bench_mail.run}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen suites, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller tables")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these")
    args = parser.parse_args(argv)
    print(
        f"client-portal-core benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {platform.machine()}, {platform.system()}"
    )
    figures: list[Figure] = []
    for name in args.only or list(SUITES):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(SUITES[name](args.quick))
    print()
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
