"""The coordinator's side of the workers: start them, hand out jobs, collect results, survive their deaths.

Each worker is a process forked from a fork server (which imported nbgrader once), with its own
pipe; it gets one job at a time. The pool watches the pipes and the processes together: a result
is yielded as soon as it arrives; a worker that dies (or exceeds the hard time limit of a job) is
replaced and its job yields a ``grader_error`` result, so one pathological submission never stops
the run. Results come out in completion order; they do not depend on it.

As with any ``multiprocessing`` program, a script that runs a pool must guard its entry point
with ``if __name__ == "__main__":``; ``python -m grader`` and the console script do.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait

from grader.sandbox.exits import how_it_ended

from .lifeline import InheritedFd
from .results import Note, SubmissionResult
from .worker import Job, WorkerSettings, worker_main


PRELOAD = ["grader.grading.worker", "grader.grading.execute", "grader.grading.chain", "grader.grading.feedback",
           "grader.grading.intake", "nbgrader.converters", "nbgrader.api"]


class PoolError(RuntimeError):
    """The workers cannot be started at all."""


@dataclass
class _Slot:
    name: str
    process: multiprocessing.Process
    connection: object
    job: Job | None = None
    started: float = 0.0
    ready: bool = False


class WorkerPool:
    """``workers`` long-lived grading processes."""

    START_TIMEOUT = 300.0

    def __init__(self, workers: int, settings: WorkerSettings, lock_fd: int | None = None):
        self.lock_fd = lock_fd  # the workspace lock, shared with every worker (see .lifeline)
        self.size = max(1, int(workers))
        self.settings = settings
        # A fork server imports nbgrader and jupyter once; each worker is a fork of it (a fresh,
        # single-threaded process), so starting or replacing a worker costs milliseconds, not seconds.
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(PRELOAD)
        self.slots: list[_Slot] = []
        self._counter = 0
        self.start_seconds: list[float] = []  # how long each worker took to be ready (for benchmarks)
        # A job may take its time limit per notebook, plus feedback and start-up; past this it is stuck.
        notebooks = max((len(spec.notebooks) for spec in settings.specs.values()), default=1)
        self.hard_limit = notebooks * (settings.limits.timeout + 30.0) + 120.0

    # ------------------------------------------------------------------ processes
    def _spawn(self) -> _Slot:
        self._counter += 1
        name = f"w{self._counter}"
        parent, child = self.context.Pipe(duplex=True)
        lock = InheritedFd(self.lock_fd) if self.lock_fd is not None else None
        process = self.context.Process(target=worker_main, args=(child, self.settings, name, os.getpid(), lock),
                                       name=f"grader-{name}", daemon=True)
        process.start()
        child.close()
        return _Slot(name=name, process=process, connection=parent, started=time.monotonic())

    def __enter__(self):
        self.slots = [self._spawn() for _ in range(self.size)]
        return self

    def __exit__(self, *exc):
        self.close()

    def _retire(self, slot: _Slot, graceful: bool) -> None:
        try:
            if graceful and slot.process.is_alive():
                slot.connection.send(None)
        except (OSError, BrokenPipeError):
            pass
        slot.process.join(timeout=10 if graceful else 0.1)
        if slot.process.is_alive():
            slot.process.terminate()  # SIGTERM: the worker kills its kernels and exits
            slot.process.join(timeout=10)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(timeout=5)
        try:
            slot.connection.close()
        except OSError:
            pass

    def close(self, graceful: bool = True) -> None:
        for slot in self.slots:
            self._retire(slot, graceful and slot.job is None)
        self.slots = []

    # ------------------------------------------------------------------ jobs
    @staticmethod
    def _failed(job: Job, text: str, notebooks: int, parts) -> SubmissionResult:
        return SubmissionResult(student=job.student, assignment=job.assignment, fingerprint=job.fingerprint,
                                parts=parts, notes=[Note("grader_error", text)], notebooks=notebooks)

    def _failure_for(self, job: Job, text: str) -> SubmissionResult:
        spec = self.settings.specs[job.assignment]
        return self._failed(job, text, len(spec.notebooks), spec.empty_parts())

    def run(self, jobs: list[Job]):  # noqa: C901
        """Grade ``jobs``; yields one :class:`SubmissionResult` per job as they finish."""
        pending = deque(jobs)
        remaining = len(jobs)
        startup_failures = 0
        while remaining:
            for slot in self.slots:
                if slot.ready and slot.job is None and pending:
                    slot.job = pending.popleft()
                    slot.job.more = bool(pending)
                    slot.started = time.monotonic()
                    try:
                        slot.connection.send(slot.job)
                    except (OSError, BrokenPipeError):
                        pass  # noticed below as a dead worker
            waitables = [slot.connection for slot in self.slots] + [slot.process.sentinel for slot in self.slots]
            ready = wait(waitables, timeout=1.0)
            now = time.monotonic()
            for index, slot in enumerate(list(self.slots)):
                problem = None
                if slot.connection in ready:
                    try:
                        kind, payload = slot.connection.recv()
                    except (EOFError, OSError):
                        kind, payload = "died", None
                    if kind == "ready":
                        slot.ready = True
                        self.start_seconds.append(round(now - slot.started, 3))
                        startup_failures = 0
                        continue
                    if kind in ("done", "last"):
                        slot.job = None
                        remaining -= 1
                        if kind == "last":  # the worker hit a bound and leaves: replace it now
                            self._retire(slot, graceful=True)  # it is exiting; let it end its kernels
                            self.slots[index] = self._spawn()
                        yield payload
                        continue
                    if kind == "failed" and payload:
                        problem = f"the grading process failed: {payload.strip().splitlines()[-1]}"
                    else:
                        slot.process.join(timeout=5)
                        problem = f"the grading process died ({how_it_ended(slot.process.exitcode, 'it')})"
                elif slot.process.sentinel in ready or not slot.process.is_alive():
                    slot.process.join(timeout=5)
                    problem = f"the grading process died ({how_it_ended(slot.process.exitcode, 'it')})"
                elif slot.job is not None and now - slot.started > self.hard_limit:
                    problem = f"grading took longer than {self.hard_limit:.0f} s; the grading process was stopped"
                elif not slot.ready and now - slot.started > self.START_TIMEOUT:
                    problem = "the grading process did not start"
                if problem is None:
                    continue
                job = slot.job
                self._retire(slot, graceful=False)
                if job is not None:
                    remaining -= 1
                    yield self._failure_for(job, problem)
                elif not slot.ready:
                    startup_failures += 1
                    if startup_failures >= 3:
                        raise PoolError(f"{problem}; giving up after {startup_failures} attempts")
                self.slots[index] = self._spawn()
