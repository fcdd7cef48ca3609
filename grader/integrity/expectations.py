"""The trusted reference outcomes: every part's cases and what the reference returns on them.

They are the same for every student, so a verifier computes them once (in the trusted process, with
``grader.checks``' own ``cases`` and ``expected``) and keeps them: per (check, seed, hidden) the cases
and the reference's outcomes, and per part the cases' :mod:`grader.codec` bundle the runner reads.
"""

from __future__ import annotations

import threading

from .. import codec
from .plan import PartPlan


class Expectations:
    """Cases and the reference's outcomes per (check, seed, hidden), and the cases' bundles per part; cached."""

    def __init__(self):
        self._seeds: dict = {}
        self._bundles: dict = {}
        self._lock = threading.Lock()

    def seed(self, check, seed: int, hidden: bool):
        """``(cases, expected outcomes)`` of one seed."""
        from grader.checks.running import plain_cpu_kernels

        key = (check.name, seed, hidden)
        with self._lock:
            if key not in self._seeds:
                cases = check.cases(seed, hidden)
                with plain_cpu_kernels():
                    expected = [check.expected(case) for case in cases]
                self._seeds[key] = (cases, expected)
            return self._seeds[key]

    def flat(self, check, plan: PartPlan) -> list:
        """Every case of the part, in the order the runner runs them."""
        return [case for seeds, hidden in plan.calls for seed in seeds for case in self.seed(check, seed, hidden)[0]]

    def bundle(self, check, plan: PartPlan) -> tuple[bytes, bytes]:
        """The part's cases as a :mod:`grader.codec` bundle ``(json, npz)``."""
        key = (check.name, tuple((tuple(seeds), hidden) for seeds, hidden in plan.calls))
        if key not in self._bundles:
            from grader.checks.core import case_tree

            self._bundles[key] = codec.dumps([case_tree(c) for c in self.flat(check, plan)])
        return self._bundles[key]
