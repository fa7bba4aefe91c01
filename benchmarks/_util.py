"""Shared helpers: timing loops, the result table, a throwaway directory plugin."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from client_portal_core import Recipient, SubjectType, hookimpl


@dataclass
class Figure:
    """One measured comparison: ours against a reference, and the target ratio."""

    name: str
    ours: float
    reference: float
    unit: str
    ratio: float
    target: str
    #: ``None`` for a context row that has no target of its own.
    met: bool | None
    note: str = ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def per_call_seconds(fn: Callable[[int], object], calls: int, repeats: int = 5) -> float:
    """Median over ``repeats`` runs of the mean time of one ``fn(i)`` call."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(i)
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def print_table(figures: list[Figure]) -> None:
    """Print every figure with its ratio and whether the target is met."""
    width = max([len("benchmark"), *(len(fig.name) for fig in figures)])
    header = f"{'benchmark':<{width}} {'ours':>14} {'reference':>14} {'ratio':>7}  target      met"
    print(header)
    print("-" * len(header))
    for fig in figures:
        ours = f"{fig.ours:,.1f} {fig.unit}"
        ref = f"{fig.reference:,.1f} {fig.unit}"
        met = "-" if fig.met is None else "yes" if fig.met else "NO"
        print(f"{fig.name:<{width}} {ours:>14} {ref:>14} {fig.ratio:>7.2f}  {fig.target:<11} {met}")
        if fig.note:
            print(f"    {fig.note}")


class EveryoneDirectory:
    """A directory where every numeric id is a contact with an email."""

    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        if not subject_id.isdigit():
            return None
        return Recipient(subject_id, f"Contact {subject_id}", f"c{subject_id}@example.com")
