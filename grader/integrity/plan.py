"""The graded parts of a notebook, read from its *source* notebook (``solutions/``).

Each graded test cell of the source holds only ``check(name, seeds=[...], hidden=...)`` calls on one
exercise; :func:`plan_parts` reads them into a :class:`PartPlan` per cell. They are never read from the
submission, whose test cells a student could have edited. A test cell of any other form cannot be
verified (:class:`VerificationError`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader import notebooks


class VerificationError(RuntimeError):
    """The trusted verification cannot grade this notebook (a problem of the course, not of the submission)."""


@dataclass
class PartPlan:
    """One graded test cell of the source notebook: what it checks and how."""

    grade_id: str
    name: str
    points: float
    calls: list  # [(seeds, hidden)], in the cell's order; seeds None means the visible seeds
    position: int


def _check_call_node(node) -> ast.Call:
    """The call of a statement ``check(name, ...)``; raises ``ValueError`` for any other statement."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "check"):
        raise ValueError("not a check(...) call")
    call = node.value
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
        raise ValueError("check() must be called with one name")
    return call


def _seeds(value) -> tuple:
    if not isinstance(value, (list, tuple)) or not all(type(s) is int for s in value):
        raise ValueError("seeds must be a list of ints")
    return tuple(value)


def _hidden(value) -> bool:
    if type(value) is not bool:
        raise ValueError("hidden must be True or False")
    return value


def _check_call(node) -> tuple[str, tuple | None, bool]:
    """``(name, seeds, hidden)`` of a statement ``check(name[, seeds=[...]][, hidden=bool])``."""
    call = _check_call_node(node)
    arguments = {"seeds": None, "hidden": False}
    readers = {"seeds": _seeds, "hidden": _hidden}
    for keyword in call.keywords:
        value = ast.literal_eval(keyword.value)
        if keyword.arg not in readers:
            raise ValueError(f"unknown argument {keyword.arg}")
        arguments[keyword.arg] = readers[keyword.arg](value)
    return call.args[0].id, arguments["seeds"], arguments["hidden"]


def _is_test_cell(cell) -> bool:
    meta = notebooks.nbgrader_meta(cell)
    return bool(meta.get("grade") and not meta.get("solution") and meta.get("grade_id"))


def _calls(cell, grade_id: str) -> list[tuple[str, tuple | None, bool]]:
    """The ``check(...)`` calls of a graded test cell (its hidden-test markers dropped)."""
    if cell.get("cell_type") != "code":
        raise VerificationError(f"graded cell {grade_id!r} is not a code cell")
    try:
        return [_check_call(node) for node in ast.parse(notebooks.strip_markers(notebooks.cell_source(cell))).body]
    except (SyntaxError, ValueError) as exc:
        raise VerificationError(f"test cell {grade_id!r} is not made of check(...) calls only ({exc}): "
                                f"the trusted verification cannot grade it") from None


def _checked_name(calls: list, grade_id: str) -> str:
    """The one exercise the calls check, which must have a check."""
    from grader.checks import CHECKS

    names = {name for name, _, _ in calls}
    if len(names) != 1:
        raise VerificationError(f"test cell {grade_id!r} must check exactly one exercise, checks {sorted(names)}")
    name = names.pop()
    if name not in CHECKS:
        raise VerificationError(f"test cell {grade_id!r} checks {name!r}, for which there is no check")
    return name


def plan_parts(source_nb) -> list[PartPlan]:
    """The graded parts of a source notebook; raises :class:`VerificationError` for a test cell it cannot verify."""
    from grader.checks.core import VISIBLE_SEEDS

    plans = []
    for position, cell in enumerate(source_nb.get("cells", [])):
        if not _is_test_cell(cell):
            continue
        meta = notebooks.nbgrader_meta(cell)
        grade_id = meta["grade_id"]
        calls = _calls(cell, grade_id)
        plans.append(PartPlan(grade_id=grade_id, name=_checked_name(calls, grade_id),
                              points=float(meta.get("points", 0) or 0),
                              calls=[(VISIBLE_SEEDS if seeds is None else seeds, hidden) for _, seeds, hidden in calls],
                              position=position))
    return plans
