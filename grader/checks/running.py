"""Running a check: the student's outcomes against the expected ones, and the diagnosis of a failure.

Where the cases, the expected outcomes and the known mistakes' outcomes come from is a
:class:`~grader.checks.sources.Source`: generated from the reference (``LiveSource``, the
instructor's side and the trusted verification) or read from the recordings the student kit
ships (``RecordedSource``). The messages are the same either way.
"""

from __future__ import annotations

import re
from typing import Callable

import torch

from . import forbidden, sources, uses
from .core import VISIBLE_SEEDS, Case, Check, CheckFailure, ForbiddenCall, Mistake, Outcome

DIAGNOSED_FAILURES = 4  # enough to tell the mistakes apart, few enough to stay fast


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


class plain_cpu_kernels:
    """oneDNN off for a while: it builds a new kernel for every new RNN shape, which costs more than
    these tiny computations themselves; the plain CPU kernels give the same numbers much faster."""

    def __enter__(self):
        self.was = torch._C._get_mkldnn_enabled()
        torch._C._set_mkldnn_enabled(False)

    def __exit__(self, *exc):
        torch._C._set_mkldnn_enabled(self.was)


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
    passed = 0
    with plain_cpu_kernels():
        for seed in seeds:
            cases = source.cases(check, seed, hidden)
            failures, first = [], None
            for index, case in enumerate(cases):
                got = check.call(fn, case, student=enforce_rules)
                if got.forbidden:
                    raise ForbiddenCall(forbidden.message(check.name, got.forbidden, check.rules))
                problem = check.compare(case, got, source.expected(check, case))
                if problem is None:
                    passed += 1
                    continue
                if first is None:
                    first = (index, problem)
                failures.append((case, got))
            if failures:
                likely, also = diagnose(check, failures, source)
                raise CheckFailure(format_failure(check, failures[0][0], first[0], len(cases), seed, hidden,
                                                  first[1], likely, also))
    if not quiet:
        kind = "hidden" if hidden else "visible"
        print(f"{check.name}: all {passed} {kind} cases pass ({check.summary}).")
    return passed
