"""Running a check and judging it: the student's outcomes against the expected ones, the diagnosis of a failure.

:func:`judge` is the one decision of a check: it compares the student's outcome on every case with
the expected one, seed by seed, and on the first seed with a failing case diagnoses the known
mistake and words the failure. :func:`run_check` (``check()`` in the notebook) feeds it the outcomes
of calling the student's function here; the trusted verification (``grader.integrity``) feeds it the
outcomes a sandboxed runner sent back. The messages are the same either way.

Where the cases, the expected outcomes and the known mistakes' outcomes come from is a
:class:`~grader.checks.sources.Source`: generated from the reference (``LiveSource``, the
instructor's side and the trusted verification) or read from the recordings the student kit
ships (``RecordedSource``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from . import forbidden, sources, uses
from .base import Check
from .core import VISIBLE_SEEDS, Case, CheckFailure, ForbiddenCall, Mistake, Outcome

DIAGNOSED_FAILURES = 4  # enough to tell the mistakes apart, few enough to stay fast

# (case, the student's outcome, the expected outcome), in the cases' order
Trial = tuple[Case, Outcome, Outcome]


def _reproduces(check: Check, variant: Outcome, mistake: Mistake, case: Case, got: Outcome) -> bool:
    """Does the mistake's outcome ``variant`` on ``case`` equal the student's outcome ``got``?"""
    if variant.error is not None:
        if got.error is None or variant.error[0] != got.error[0]:
            return False
        return mistake.error_pattern is None or re.search(mistake.error_pattern, got.error[1]) is not None
    if got.error is not None:
        return False
    return check.compare(case, got, variant) is None


def diagnose(check: Check, failures: list[tuple[Case, Outcome]],
             source: sources.Source | None = None) -> tuple[list[Mistake], list[Mistake]]:
    """The known mistakes that reproduce the student's outcomes, as ``(likely, also)``.

    ``likely``: those reproducing every failing case or, if none does, those reproducing the
    first failing case. ``also``: the others that reproduce at least one failing case (a
    second mistake in the same function).
    """
    source = source or sources.LIVE
    failures = failures[:DIAGNOSED_FAILURES]
    everywhere, first, some = [], [], []
    for mistake in source.mistakes(check):
        matches = [_reproduces(check, source.variant(check, mistake, case), mistake, case, got)
                   for case, got in failures]
        if all(matches):
            everywhere.append(mistake)
        elif matches[0]:
            first.append(mistake)
        elif any(matches):
            some.append(mistake)
    if everywhere:
        return everywhere, first + some
    return first, some


def format_failure(check: Check, case: Case, index: int, count: int, seed: int, hidden: bool,
                   problem: str, mistakes: list[Mistake], also: list[Mistake] = ()) -> str:
    """The message of a failed check: where, the inputs, the problem, the likely mistake, how to rerun."""
    where = "a hidden case" if hidden else f"case {index + 1} of {count} for seed {seed}"
    lines = [f"{check.name} is not right yet: {where}.",
             f"  inputs: {case.label}",
             f"  problem: {problem}"]
    if mistakes:
        if len(mistakes) == 1:
            lines.append(f"  likely mistake: {mistakes[0].name}. {mistakes[0].explanation}")
        else:
            lines.append("  likely mistake, one of:")
            lines += [f"    - {m.name}. {m.explanation}" for m in mistakes]
    if also:
        lines.append("  other cases also show: " + "; ".join(f"{m.name}. {m.explanation}" for m in also))
    if not hidden:
        lines.append(f"  rerun just this seed: check({check.name}, seeds=[{seed}])")
    return "\n".join(lines)


def pass_line(check: Check, passed: int, hidden: bool) -> str:
    """What a passing ``check()`` prints."""
    kind = "hidden" if hidden else "visible"
    return f"{check.name}: all {passed} {kind} cases pass ({check.summary})."


@dataclass(frozen=True)
class Judgement:
    """The decision on the cases of one ``check(fn, seeds=..., hidden=...)``.

    Attributes:
        passed: the cases that agreed, up to and including the first seed with a failing case.
        failure: the message ``check()`` raises (:class:`CheckFailure`); ``None`` when every case agreed.
        failed: the student's outcome on the first failing case.
        summary: the pass line (when every case agreed).
    """

    passed: int
    failure: str | None = None
    failed: Outcome | None = None
    summary: str = ""


def _compare_seed(trials: Iterable[Trial], compare: Callable) -> tuple[int, int, list, tuple | None]:
    """``(passed, count, failures, first)`` of one seed's trials: ``failures`` are ``(case, got)``,
    ``first`` is ``(index, problem)`` of the first failing case."""
    passed, count, failures, first = 0, 0, [], None
    for index, (case, got, expected) in enumerate(trials):
        count += 1
        problem = compare(case, got, expected)
        if problem is None:
            passed += 1
            continue
        if first is None:
            first = (index, problem)
        failures.append((case, got))
    return passed, count, failures, first


def judge(check: Check, seeds, hidden: bool, trials: Callable[[int], Iterable[Trial]], *,
          compare: Callable | None = None, diagnose_failures: Callable | None = None) -> Judgement:
    """``check``'s decision on the outcomes ``trials(seed)`` gives for each of ``seeds``, in order.

    ``compare(case, got, expected)``: default ``check.compare``. ``diagnose_failures(check, failures)``:
    the known mistakes ``(likely, also)`` behind the failing ``(case, got)``; default :func:`diagnose`
    with the live source.
    """
    compare = compare or check.compare
    diagnose_failures = diagnose_failures or diagnose
    passed = 0
    for seed in seeds:
        passed_here, count, failures, first = _compare_seed(trials(seed), compare)
        passed += passed_here
        if failures:
            likely, also = diagnose_failures(check, failures)
            message = format_failure(check, failures[0][0], first[0], count, seed, hidden, first[1], likely, also)
            return Judgement(passed, message, failures[0][1])
    return Judgement(passed, summary=pass_line(check, passed, hidden))


class plain_cpu_kernels:
    """oneDNN off for a while: it builds a new kernel for every new RNN shape, which costs more than
    these tiny computations themselves; the plain CPU kernels give the same numbers much faster."""

    def __enter__(self):
        self.was = torch._C._get_mkldnn_enabled()
        torch._C._set_mkldnn_enabled(False)

    def __exit__(self, *exc):
        torch._C._set_mkldnn_enabled(self.was)


def _calls(check: Check, fn: Callable, hidden: bool, student: bool, source: sources.Source):
    """``trials(seed)`` for :func:`judge`: ``fn`` called here on each case (a forbidden call raises at once)."""
    def trials(seed: int):
        for case in source.cases(check, seed, hidden):
            got = check.call(fn, case, student=student)
            if got.forbidden:
                raise ForbiddenCall(forbidden.message(check.name, got.forbidden, check.rules))
            yield case, got, source.expected(check, case)

    return trials


def run_check(check: Check, fn: Callable, seeds=VISIBLE_SEEDS, hidden: bool = False, *,
              enforce_rules: bool = True, quiet: bool = False, source: sources.Source | None = None) -> int:
    """Run ``check`` on ``fn`` over the cases of ``seeds``; raise :class:`CheckFailure` on the first failure.

    ``enforce_rules=False`` skips the forbidden-call rules (to run the reference itself through
    the same machinery). ``source``: where cases and expected outcomes come from (default: the
    reference, :data:`~grader.checks.sources.LIVE`). Returns the number of cases that passed.
    """
    source = source or sources.LIVE
    if enforce_rules:
        violations = uses.in_function(fn, check.rules)
        if violations:
            raise ForbiddenCall(forbidden.message(check.name, violations, check.rules))
    with plain_cpu_kernels():
        judgement = judge(check, seeds, hidden, _calls(check, fn, hidden, enforce_rules, source),
                          diagnose_failures=lambda check, failures: diagnose(check, failures, source))
    if judgement.failure is not None:
        raise CheckFailure(judgement.failure)
    if not quiet:
        print(judgement.summary)
    return judgement.passed
