"""The trusted verification: the decision whether each graded part passes, made without running student code.

For one submitted notebook, :meth:`Verifier.verify`

1. reads the graded parts from the *source* notebook (``solutions/``): each test cell's grade id
   and the ``check(name, seeds=..., hidden=...)`` calls in it (:mod:`.plan`), never from the
   submission, whose test cells a student could have edited;
2. extracts the answer cells' definitions (:mod:`.definitions`) and reads them
   (:mod:`.static`): forbidden uses per part, signs of tampering;
3. generates every part's cases with ``grader.checks``' ``cases`` and computes the reference's
   outcomes, here, in the trusted process (:mod:`.expectations`, cached: they are the same for
   every student);
4. hands the cases to a sandboxed runner (:mod:`.runners`, :mod:`.job`; one process per notebook,
   started ahead of time, restarted after a part that kills it or runs out of time), which calls the
   student's functions and sends back plain data;
5. validates what came back (:mod:`grader.codec`: exact ``torch.Tensor`` objects of the expected
   dtype and shape, no pickle, size limits), and decides each part (:mod:`.judge`) with the checks'
   own judge, exactly as ``check()`` does in the notebook: same order, same messages. Forbidden
   calls the runner recorded while the student's code ran only ever count *against* the student.

The result is a :class:`~.verdict.NotebookVerdict`: per part, pass or fail with the message, and the
reasons the submission looks suspicious. This module holds the settings, the :class:`Verifier` (its
runners, and the loop that gives the parts after one that stopped a runner to a fresh one) and
:func:`shared_verifier`.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field

from grader.sandbox import availability, bubblewrap

from . import definitions as definitions_module, judge, static
from .expectations import Expectations
from .job import RunResult, run_job
from .plan import PartPlan, VerificationError, plan_parts
from .runners import ForkedRunner, RunnerProcess, RunnerTemplate
from .verdict import NotebookVerdict, PartVerdict


@dataclass
class VerifySettings:
    """How verification runs. ``sandboxed=False`` runs the runner without a sandbox (only when allowed)."""

    sandboxed: bool = True
    timeout: float = 240.0              # all runners of one notebook, wall clock
    part_timeout: float = 60.0          # one part's cases
    definitions_timeout: float = 60.0   # executing the answer cells' definitions
    startup_timeout: float = 120.0      # a runner importing torch
    limits: bubblewrap.ResourceLimits = field(default_factory=lambda: bubblewrap.ResourceLimits(cpu_seconds=600))
    prelaunch: bool = True
    fork: bool = True                   # fork runners from a warm sandboxed template (see RunnerTemplate)
    protect: list = field(default_factory=list)   # more host paths no sandbox may see
    max_output_bytes: int = 512 * bubblewrap.MiB     # what one runner may send back


@dataclass
class _Runs:
    """The runners of one notebook so far: what each produced, and the parts that could not be decided."""

    runs: list = field(default_factory=list)        # RunResult per runner, in order
    failures: dict = field(default_factory=dict)    # grade id -> (reason, suspicious)
    suspicious: list = field(default_factory=list)  # notebook-level reasons found while running
    startup_wait: float = 0.0

    def fail(self, plans: list, reason: str, is_suspicious: bool) -> None:
        for plan in plans:
            self.failures[plan.grade_id] = (reason, is_suspicious)

    def settle(self, run: RunResult, remaining: list) -> list:
        """Record ``run``, which was given ``remaining``; the parts a fresh runner must take (none: done)."""
        self.runs.append(run)
        if run.cells is None:  # the definitions themselves never finished
            reason = run.stop_reason or "the runner stopped"
            self.fail(remaining, f"executing the answer cells' definitions stopped the verification: {reason}",
                      run.suspicious_stop)
            if run.suspicious_stop:
                self.suspicious.append(f"executing the answer cells' definitions ended the verification process "
                                       f"({reason})")
            return []
        if run.stopped_in is not None:
            self.failures[run.stopped_in] = (run.stop_reason or "the runner stopped", run.suspicious_stop)
        handled = set(run.results) | ({run.stopped_in} if run.stopped_in else set())
        rest = [p for p in remaining if p.grade_id not in handled]
        if run.stop_reason is None:  # it finished: every part must have been reported
            self.fail(rest, "the runner did not report this part", True)
            return []
        if run.stopped_in is None:  # it stopped outside any part (e.g. its output was corrupted)
            self.fail(rest, run.stop_reason, run.suspicious_stop)
            return []
        return rest  # a fresh runner for the parts after the one that stopped it

    def merged(self) -> tuple[dict, list, list]:
        """``(results per part, the cell reports, tampering noted while defining the answers)`` of all runs."""
        results, cell_reports, tampering = {}, [], []
        for run in self.runs:
            results.update(run.results)
            if run.cells:
                cell_reports = run.cells
            tampering += [t for t in run.cell_tampering if t not in tampering]
        return results, cell_reports, tampering


class Verifier:
    """The trusted side, kept for the life of a grading process (the caches and the next runner live here)."""

    def __init__(self, settings: VerifySettings | None = None):
        self.settings = settings or VerifySettings()
        if self.settings.sandboxed and not availability.available():
            raise availability.Unsandboxed(availability.unavailable_reason())
        self.expectations = Expectations()
        self.base = bubblewrap.make_private_dir(prefix="hidden-state-verify-", mode=0o711)
        self._next: RunnerProcess | None = None
        self._lock = threading.Lock()
        self.template: RunnerTemplate | None = None
        self.template_problem: str | None = None

    # -- runners
    def _template(self) -> RunnerTemplate | None:
        """The runner template (started on first use); ``None`` if forking is off or impossible here."""
        if not (self.settings.sandboxed and self.settings.fork) or self.template_problem is not None:
            return None
        if self.template is None or not self.template.alive:
            if self.template is not None:
                self.template.close()
            self.template = RunnerTemplate(self.settings, self.base)
        return self.template

    def _launch(self) -> RunnerProcess:
        template = self._template()
        if template is not None:
            if template.wait_ready(self.settings.startup_timeout):
                return ForkedRunner(self.settings, template)
            self.template_problem = template.problem or "the runner template did not start"
        return RunnerProcess(self.settings, self.base)

    def prelaunch(self) -> None:
        """Get the next runner going now: the template (once), or a runner importing torch while the kernel runs."""
        with self._lock:
            if self.settings.sandboxed and self.settings.fork and self.template_problem is None:
                if self.template is None or not self.template.alive:
                    self._template()
                return
            if self._next is None:
                self._next = self._launch()

    def _acquire(self) -> tuple[RunnerProcess, str | None, float]:
        started = time.monotonic()
        with self._lock:
            runner, self._next = self._next, None
        if runner is None or runner.process.poll() is not None:
            if runner is not None:
                runner.close()
            runner = self._launch()
        problem = runner.wait_ready(self.settings.startup_timeout)
        if self.settings.prelaunch:
            self.prelaunch()
        return runner, problem, time.monotonic() - started

    def close(self) -> None:
        with self._lock:
            runner, self._next = self._next, None
        if runner is not None:
            runner.close()
        if self.template is not None:
            self.template.close()
            self.template = None
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the parts, on as many runners as it takes
    def _run_once(self, remaining: list[PartPlan], checks: dict, defs, deadline: float, runs: _Runs) -> RunResult:
        """Run the ``remaining`` parts on one runner."""
        runner, problem, waited = self._acquire()
        runs.startup_wait += waited
        if problem:
            runner.close()
            raise VerificationError(problem)
        bundles = {f"cases-{i}": self.expectations.bundle(checks[p.grade_id], p) for i, p in enumerate(remaining)}
        plan = {"preamble": defs.preamble,
                "cells": [{"grade_id": cell.grade_id, "code": cell.code} for cell in defs.cells if cell.code],
                "parts": [{"key": p.grade_id, "name": p.name, "check": p.name, "cases": f"cases-{i}"}
                          for i, p in enumerate(remaining)]}
        return run_job(runner, plan, bundles, deadline, self.settings)

    def _run_parts(self, to_run: list[PartPlan], checks: dict, defs, deadline: float) -> _Runs:
        """Run the parts, a fresh runner taking over the parts after one that stopped a runner."""
        runs = _Runs()
        remaining = list(to_run)
        while remaining:
            if time.monotonic() >= deadline:
                runs.fail(remaining, "the notebook's verification ran out of time before this part", False)
                break
            remaining = runs.settle(self._run_once(remaining, checks, defs, deadline, runs), remaining)
        return runs

    # -- a notebook
    def verify(self, submission_nb, source_nb, raw_nb=None) -> NotebookVerdict:
        """The trusted verdict on ``submission_nb`` (after execution, or not executed at all).

        ``raw_nb``: the notebook as the student submitted it, before any repair, for the structural
        comparison with the source (edited, deleted or added graded cells); default ``submission_nb``.
        """
        from grader.checks import CHECKS

        started = time.monotonic()
        submitted = raw_nb if raw_nb is not None else submission_nb
        plans = plan_parts(source_nb)
        defs = definitions_module.extract(submission_nb, source_nb)
        checks = {plan.grade_id: CHECKS[plan.name] for plan in plans}
        suspicious, per_part = _read_statically(submitted, source_nb, defs, plans, checks)
        ignored = [f"{cell.grade_id}: {text}" for cell in defs.cells for text in cell.ignored]
        verdicts = {plan.grade_id: judge.before_running(plan, checks[plan.grade_id], defs, per_part.get(plan.name, []))
                    for plan in plans}
        to_run = [plan for plan in plans if verdicts[plan.grade_id].kind == "not_run"]
        runs = self._run_parts(to_run, checks, defs, started + self.settings.timeout)
        results, cell_reports, tampering = runs.merged()
        suspicious += runs.suspicious + [f"while defining the answers: {t}" for t in tampering]
        for plan in to_run:
            self._decide(verdicts[plan.grade_id], checks[plan.grade_id], plan, runs, results, defs, cell_reports,
                         submitted)
        return NotebookVerdict(parts=verdicts, suspicious=list(dict.fromkeys(suspicious)), ignored=ignored,
                               sandboxed=self.settings.sandboxed, seconds=round(time.monotonic() - started, 3),
                               runner_seconds=round(sum(r.seconds for r in runs.runs), 3),
                               startup_wait=round(runs.startup_wait, 3), runners=len(runs.runs))

    def _decide(self, verdict: PartVerdict, check, plan: PartPlan, runs: _Runs, results: dict, defs, cell_reports,
                submitted_nb) -> None:
        if plan.grade_id in runs.failures:
            judge.stopped(verdict, *runs.failures[plan.grade_id])
            return
        judge.judge_part(verdict, check, plan, results.get(plan.grade_id), defs, cell_reports, self.expectations)
        judge.explain(verdict, defs, submitted_nb)


def _read_statically(submitted_nb, source_nb, defs, plans: list, checks: dict) -> tuple[list, dict]:
    """``(notebook-level reasons, reasons per part name)`` from reading the notebook and its answers' code."""
    suspicious = [f.text() for f in static.structure(submitted_nb, source_nb)]
    parts_code = [(plan.name, tuple(checks[plan.grade_id].substitutes)) for plan in plans]
    findings, per_part = static.tampering(submitted_nb, source_nb, defs, parts_code)
    return suspicious + [f.text() for f in findings], per_part


# ----------------------------------------------------------------------------- one verifier per process

_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def shared_verifier(settings: VerifySettings) -> Verifier:
    """The process's verifier for these settings (its caches and prelaunched runner are reused)."""
    key = json.dumps(asdict(settings), sort_keys=True, default=str)
    with _SHARED_LOCK:
        if key not in _SHARED:
            verifier = Verifier(settings)
            _SHARED[key] = verifier
            import atexit

            atexit.register(verifier.close)
        return _SHARED[key]
