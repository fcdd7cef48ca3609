"""The :class:`Check` base class: one exercise's check, its three pieces in one object.

A check module (``grader.checks.hidden_state`` and the others) defines one subclass or instance per
exercise part: its ``cases``, its ``call`` step (:func:`grader.checks.core.call_function` by default)
and its ``compare`` step (:func:`grader.checks.compare.compare_outcomes` by default).
:func:`grader.checks.running.run_check` runs it.
"""

from __future__ import annotations

from typing import Callable

from . import forbidden
from .compare import compare_outcomes
from .core import Case, Mistake, Outcome, call_function


class Check:
    """One exercise's check. Subclasses (or instances) provide the three pieces.

    The reference implementation and the known mistakes of a graded part live in ``grader.answers``
    (the instructor's side, never in the student kit); a check finds them there by its ``name``.

    Attributes:
        name: the exercise function's name (and the reference's).
        rules: the forbidden-call rules applied to the student's code.
        substitutes: helper names bound to trusted versions while the student's code runs.
        output_name: how messages call the return value, e.g. ``"(outputs, h_n)"``.
        summary: one line saying what the check tries, printed when it passes.
    """

    name: str = ""
    rules: forbidden.Rules = forbidden.REFERENCE_ONLY
    substitutes: dict = {}
    output_name: str = "the returned value"
    tolerance: tuple | None = None
    grad_tolerance: tuple | None = None
    summary: str = ""

    def cases(self, seed: int, hidden: bool = False) -> list[Case]:
        raise NotImplementedError

    def call(self, fn: Callable, case: Case, student: bool, substitutes: dict | None = None) -> Outcome:
        return call_function(fn, case, student=student, rules=self.rules, substitutes=self.helpers(substitutes))

    def helpers(self, substitutes: dict | None = None) -> dict:
        """The trusted helpers bound in the student's namespace while their code runs: ``substitutes`` when
        given (the sandboxed runner passes its stand-ins, see :mod:`grader.integrity.runner`), else the
        check's own :attr:`substitutes`."""
        return self.substitutes if substitutes is None else substitutes

    def watching(self, fn, student: bool, substitutes: dict | None = None):
        """:func:`forbidden.watching` for one call of ``fn``: the student's (``student=True``: the rules
        and the helpers apply) or trusted code (neither does)."""
        return forbidden.watching(self.rules if student else None, fn,
                                  self.helpers(substitutes) if student else None)

    def compare(self, case: Case, got: Outcome, expected: Outcome) -> str | None:
        return compare_outcomes(case, got, expected, output_name=self.output_name,
                                tolerance=self.tolerance, grad_tolerance=self.grad_tolerance)

    @property
    def reference(self) -> Callable:
        """The reference implementation (``grader.answers``; absent from the student kit)."""
        from grader import answers

        return answers.reference(self.name)

    def mistakes(self) -> list[Mistake]:
        """The known mistakes, in the order they are tried (``grader.answers``)."""
        from grader import answers

        return answers.mistakes(self.name)

    def expected(self, case: Case) -> Outcome:
        """The reference's outcome on ``case`` (trusted)."""
        return self.call(self.reference, case, student=False)
