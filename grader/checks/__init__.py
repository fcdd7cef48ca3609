"""One-line checks for the exercise notebooks.

In a notebook::

    from grader.checks import check
    check(stacked_rnn_forward)                # the visible cases (seeds 0, 1, 2)
    check(stacked_rnn_forward, seeds=[5])     # just one seed, e.g. to rerun a failing case

``check`` finds the exercise by the function's (or class's) ``__name__``, runs it on many
generated cases next to ``grader.reference``, prints a one-line summary when everything
agrees, and otherwise raises :class:`CheckFailure` (an ``AssertionError``) saying which case,
which output, the first mismatching index, expected and got, and, when it recognizes one,
the mistake by name. The hidden tests of the graded notebooks call the same checks with
``hidden=True`` (more cases) and seeds that are not in the student release.

One module per assignment holds its checks (cases, call and compare steps); their reference
implementations and known mistakes are in ``grader.answers``, the instructor's side. ``core`` holds
the shared plain data and the call step, ``compare`` the comparison of outcomes, ``base`` the
:class:`Check` class that joins them, ``running`` runs a check and diagnoses a failure, ``sources`` says where the
cases and expected outcomes come from (the reference, or the student kit's recordings),
``forbidden`` says what a part may not use and watches for it while the part runs, and ``uses``
finds those uses in the code (the reading the trusted verification shares).
"""

from __future__ import annotations

from . import cell_state, hidden_state, initialization, statefulness, vanishing_gradients
from . import sources
from .base import Check
from .core import VISIBLE_SEEDS, CheckFailure, ForbiddenCall
from .running import run_check

ASSIGNMENTS = {
    "01_hidden_state": hidden_state.CHECKS,
    "02_cell_state": cell_state.CHECKS,
    "03_initialization": initialization.CHECKS,
    "04_statefulness": statefulness.CHECKS,
    "05_vanishing_gradients": vanishing_gradients.CHECKS,
}
CHECKS: dict[str, Check] = {c.name: c for checks in ASSIGNMENTS.values() for c in checks}

__all__ = ["check", "CHECKS", "ASSIGNMENTS", "CheckFailure", "ForbiddenCall", "run_check"]


def check(fn, seeds=None, hidden: bool = False) -> None:
    """Check an exercise function (or class) against the reference on generated cases.

    Args:
        fn: your implementation; its ``__name__`` selects the check (e.g. ``stacked_rnn_forward``).
        seeds: which case sets to run; default ``(0, 1, 2)``.
        hidden: run the larger case sets of the hidden tests.

    Raises:
        CheckFailure: with a message naming the failing case and, if recognized, the mistake.
    """
    name = getattr(fn, "__name__", None)
    if name not in CHECKS:
        known = ", ".join(sorted(CHECKS))
        raise ValueError(f"no check for {name!r}; checks exist for: {known}")
    seeds = VISIBLE_SEEDS if seeds is None else tuple(seeds)
    try:
        run_check(CHECKS[name], fn, seeds=seeds, hidden=hidden, source=sources.default())
    except CheckFailure as failure:
        # Raised afresh here so the notebook shows the message, not the checker's internals.
        raise type(failure)(str(failure)) from None
