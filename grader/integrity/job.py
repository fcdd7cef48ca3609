"""One runner's job: hand it the plan and the cases, collect what it sends back into a :class:`RunResult`.

The runner reports, in frames (:mod:`.runners`), the answer cells' definitions (``cells``), then per
part ``start`` and ``result`` (a :mod:`grader.codec` bundle), then ``end``. The definitions have
``definitions_timeout`` seconds, each part ``part_timeout``, all of it the notebook's ``deadline``;
a runner that overruns is killed, and one that exits, corrupts its output or sends too much is
stopped, with the part it was running. Nothing here decides a part: the results go to :mod:`.judge`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import codec


@dataclass
class RunResult:
    """What one runner produced: per-cell reports, results per part key, and why it stopped early."""

    cells: list | None = None
    cell_tampering: list = field(default_factory=list)
    results: dict = field(default_factory=dict)   # part key -> decoded result dict, or an error text
    stopped_in: str | None = None                 # the part running when the runner stopped early
    stop_reason: str | None = None                # why it stopped early (None: it finished)
    suspicious_stop: bool = False
    seconds: float = 0.0


def run_job(runner, plan: dict, bundles: dict, deadline: float, settings) -> RunResult:
    """Start ``runner`` on ``plan`` and ``bundles``, collect its events until it ends, close it."""
    started = time.monotonic()
    runner.start(plan, bundles)
    job = _Job(runner, settings, deadline, started + settings.definitions_timeout)
    while job.step():
        pass
    job.result.seconds = time.monotonic() - started
    runner.close()
    return job.result


class _Job:
    """The state of one job while its events arrive: the part running, and the current phase's deadline."""

    def __init__(self, runner, settings, deadline: float, phase_deadline: float):
        self.runner = runner
        self.settings = settings
        self.deadline = deadline
        self.phase_deadline = phase_deadline
        self.current: str | None = None
        self.result = RunResult()

    def step(self) -> bool:
        """Handle the runner's next event; ``False`` once the job is over."""
        event = self.runner.next_event(min(self.phase_deadline, self.deadline) - time.monotonic())
        if event is None:
            self._out_of_time()
            return False
        if event[0] == "frame":
            return self._frame(event[1], event[2])
        self._ended(event)
        return False

    def _next_phase(self) -> None:
        self.phase_deadline = time.monotonic() + self.settings.part_timeout

    def _frame(self, header: dict, payloads: list) -> bool:
        what = header.get("kind")
        if what == "cells" and self.result.cells is None:
            self._cells(header)
        elif what == "start" and isinstance(header.get("part"), str):
            self.current = header["part"]
            self._next_phase()
        elif what == "result" and header.get("part") == self.current and self.current is not None:
            self._part_result(payloads)
        return what != "end"

    def _cells(self, header: dict) -> None:
        cells = header.get("cells")
        self.result.cells = cells if isinstance(cells, list) else []
        notes = header.get("tampering") if isinstance(header.get("tampering"), list) else []
        self.result.cell_tampering = [note[:300] for note in notes if isinstance(note, str)][:20]
        self._next_phase()

    def _part_result(self, payloads: list) -> None:
        try:
            self.result.results[self.current] = codec.loads(payloads[0], payloads[1])
        except codec.BundleError as exc:
            self.result.results[self.current] = f"the runner's data for this part is malformed ({exc})"
        self.current = None
        self._next_phase()

    def _out_of_time(self) -> None:
        self.runner.kill()
        result = self.result
        if self.current is not None:
            result.stopped_in = self.current
            result.stop_reason = f"it ran longer than {self.settings.part_timeout:g} s" \
                if self.phase_deadline <= self.deadline else "the notebook's verification ran out of time"
        elif result.cells is None:
            result.stop_reason = f"executing the answer cells' definitions took longer than " \
                                 f"{self.settings.definitions_timeout:g} s"
        else:
            result.stop_reason = "the runner stopped responding"

    def _ended(self, event: tuple) -> None:
        """The runner's output ended (it exited), was corrupt, or too large."""
        result = self.result
        if event[0] in ("corrupt", "overflow"):
            self.runner.kill()
            result.stop_reason = event[1]
            result.suspicious_stop = True
        else:
            result.stop_reason = self.runner.exit_description()
            result.suspicious_stop = not result.stop_reason.startswith(("it was killed (out of time",
                                                                         "its sandbox"))
        result.stopped_in = self.current
