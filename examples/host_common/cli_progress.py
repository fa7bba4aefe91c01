"""``invite-bulk``'s progress on stderr: a progress bar on a terminal, a few lines otherwise.

* On a terminal: a ``tqdm`` bar (count, percentage, rate and time left),
  with each failure printed above it on its own line.
* Anywhere else (a pipe, a log file): one line each time another
  :data:`STEP_PERCENT` % of the job is done, and one line per failure, so
  10,000 subjects make about twenty lines plus the failures, not 10,000.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Final, Self, TextIO

from client_portal_core.bulk import BulkProgress

__all__ = ["STEP_PERCENT", "BulkProgressDisplay"]

#: Without a terminal, a progress line each time this share of the job is done.
STEP_PERCENT: Final = 5


def _describe(step: BulkProgress) -> str:
    item = step.item
    outcome = item.status if item.error is None else f"{item.status}: {item.error}"
    return f"[{step.done}/{step.total}] {item.subject_type} {item.subject_id} {outcome}"


def _failed(step: BulkProgress) -> bool:
    return step.item.status != "sent" or step.item.error is not None


class BulkProgressDisplay:
    """The progress callback of one run; use it as a context manager (it closes the bar).

    :param stream: where progress goes (stderr: stdout is the JSON report).
    :param terminal: draw a bar; default: whether ``stream`` is a terminal.
    """

    def __init__(self, stream: TextIO | None = None, *, terminal: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._bar: Any = None
        self._last_step = -1

    def __call__(self, step: BulkProgress) -> None:
        """Show one subject's outcome."""
        if self.terminal:
            self._advance_bar(step)
        else:
            self._print_line(step)

    def _advance_bar(self, step: BulkProgress) -> None:
        from tqdm import tqdm  # the example hosts' dependency: pip install ".[examples]"

        if self._bar is None:
            self._bar = tqdm(
                total=step.total,
                initial=step.done - 1,
                desc=f"bulk job {step.job_id}",
                unit="subject",
                file=self.stream,
                dynamic_ncols=True,
            )
        if _failed(step):
            # Above the bar, which tqdm redraws below it.
            self._bar.write(_describe(step), file=self.stream)
        self._bar.update(1)

    def _print_line(self, step: BulkProgress) -> None:
        current = step.done * 100 // (STEP_PERCENT * step.total) if step.total else 0
        milestone = current > self._last_step or step.done == step.total
        if _failed(step) or milestone:
            print(_describe(step), file=self.stream, flush=True)
        self._last_step = max(self._last_step, current)

    def close(self) -> None:
        """Finish the bar (a no-op without one)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
