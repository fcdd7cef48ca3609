"""The answers: reference implementations and known mistakes of the graded parts. The instructor's side.

The chapters of the book show and run ``grader.reference``, the code of everything they teach. The
exercises go one step further, and what they ask for is implemented here, with the mistakes the checks
recognise and name. None of it is ever shown in the book or shipped in the student kit (whose checks run
from recordings of the outcomes, :mod:`grader.checks.sources`), so keep this package, like
``solutions/``, private to the instructors.

One module per assignment defines ``ANSWERS``: part name -> :class:`Answer`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from grader.checks.core import Mistake


@dataclass(frozen=True)
class Answer:
    """A graded part's reference implementation and its known mistakes (tried in this order)."""

    reference: Callable
    mistakes: tuple[Mistake, ...] = field(default=())


def _modules():
    from . import cell_state, hidden_state, initialization, statefulness, vanishing_gradients

    return [hidden_state, cell_state, initialization, statefulness, vanishing_gradients]


@functools.cache
def answers() -> dict[str, Answer]:
    """part name -> its answer, for every assignment."""
    return {name: answer for module in _modules() for name, answer in module.ANSWERS.items()}


def reference(name: str) -> Callable:
    """The reference implementation of the graded part ``name``."""
    found = answers().get(name)
    if found is None:
        raise KeyError(f"grader.answers has no reference implementation of {name!r}")
    return found.reference


def mistakes(name: str) -> list[Mistake]:
    """The known mistakes of the graded part ``name`` (none if it has no answer here)."""
    found = answers().get(name)
    return list(found.mistakes) if found else []
