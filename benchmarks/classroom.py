"""A generated class: N students, each with a full, partial or blank submission of every assignment.

Every submission starts from the student release (``exercises/<a>/<a>.ipynb``), so its metadata,
checksums and locked cells are what a student really hands in (:mod:`grader.coursework`):

* **full**: every answer cell holds the solution's code;
* **partial**: at least one answer cell solved and at least one not: each unsolved cell is either
  left as released (``raise NotImplementedError()``) or holds a plausible mistake
  (:data:`grader.coursework.MUTATIONS`);
* **blank**: the release untouched.

The class gets the mix exactly (e.g. 60/30/10 % of its student × assignment submissions,
rounded), spread over students and assignments in an order drawn from the seed; the same seed
gives the same class, byte for byte. Every submission is
honest: nothing tampers with the tests. :func:`expected_points` says what each must score, if
each test cell ``test_<name>`` passes exactly when its answer cell ``<name>`` is solved.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from grader import coursework
from grader.release import assignments as course_assignments

KINDS = ("full", "partial", "blank")
DEFAULT_MIX = {"full": 0.6, "partial": 0.3, "blank": 0.1}
SOLVED, STUB, MISTAKE = "solved", "stub", "mistake"


@dataclass(frozen=True)
class Plan:
    """One submission: who, which assignment, which kind, and what each answer cell holds."""

    student: str
    assignment: str
    kind: str
    cells: dict  # answer cell grade_id -> SOLVED, STUB or MISTAKE


def student_ids(count: int) -> list[str]:
    return [f"student{number:03d}" for number in range(1, count + 1)]


def quotas(count: int, mix: dict[str, float]) -> dict[str, int]:
    """How many of ``count`` submissions get each kind: ``mix`` rounded so the counts add up."""
    total = sum(mix.values())
    exact = {kind: count * share / total for kind, share in mix.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(mix, key=lambda kind: (counts[kind] - exact[kind], KINDS.index(kind)))
    for kind in by_remainder[: count - sum(counts.values())]:
        counts[kind] += 1
    return counts


def _mistakes() -> dict[tuple[str, str], tuple[str, str]]:
    """(assignment, answer cell) -> (text, replacement) of its plausible mistake."""
    return {(a, part): (old, new) for a, part, old, new, _ in coursework.MUTATIONS}


def _partial_cells(rng: random.Random, assignment: str, names: list[str]) -> dict:
    unsolved = set(rng.sample(names, rng.randint(1, len(names) - 1)))
    mistakes = _mistakes()
    cells = {}
    for name in names:
        if name not in unsolved:
            cells[name] = SOLVED
        else:
            cells[name] = MISTAKE if (assignment, name) in mistakes and rng.random() < 0.5 else STUB
    return cells


def plan_class(students: int, seed: int = 0, mix: dict[str, float] | None = None,
               assignments: list[str] | None = None) -> list[Plan]:
    """The class: one :class:`Plan` per student and assignment, in (student, assignment) order."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds of submission: {sorted(unknown)}")
    rng = random.Random(seed)
    assignments = list(assignments or course_assignments())
    answers = {a: list(coursework.solution_cells(coursework.source_notebook(a))) for a in assignments}
    slots = [(student, a) for student in student_ids(students) for a in assignments]
    kinds = [kind for kind, number in quotas(len(slots), mix).items() for _ in range(number)]
    rng.shuffle(kinds)
    plans = []
    for (student, assignment), kind in zip(slots, kinds):
        names = answers[assignment]
        if kind == "partial":
            cells = _partial_cells(rng, assignment, names)
        else:
            cells = {name: SOLVED if kind == "full" else STUB for name in names}
        plans.append(Plan(student, assignment, kind, cells))
    return plans


def notebook(plan: Plan) -> dict:
    """The notebook a student with this plan submits."""
    release = coursework.release_notebook(plan.assignment)
    if plan.kind == "blank":
        return release
    solved = coursework.solved_sources(plan.assignment)
    mistakes = _mistakes()
    sources = {}
    for name, state in plan.cells.items():
        if state == SOLVED:
            sources[name] = solved[name]
        elif state == MISTAKE:
            old, new = mistakes[(plan.assignment, name)]
            sources[name] = coursework.strip_markers(coursework.mutated_solution(plan.assignment, name, old, new))
    return coursework.filled_release(release, sources)


def expected_points(plan: Plan) -> float:
    """What the submission should score: the points of ``test_<name>`` for every solved ``<name>``."""
    total = 0.0
    for cell in coursework.source_notebook(plan.assignment)["cells"]:
        meta = coursework.nbgrader_meta(cell)
        if meta.get("grade") and plan.cells.get(meta["grade_id"].removeprefix("test_")) == SOLVED:
            total += float(meta.get("points", 0))
    return total


def write_class(root: Path, plans: list[Plan]) -> Path:
    """Write ``root/<student>/<assignment>/<assignment>.ipynb`` for every plan; returns ``root``."""
    for plan in plans:
        folder = root / plan.student / plan.assignment
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(notebook(plan), indent=1, ensure_ascii=False) + "\n"
        (folder / f"{plan.assignment}.ipynb").write_text(text, encoding="utf-8")
    return root


def write_manifest(path: Path, plans: list[Plan], seed: int) -> Path:
    """The plan of the class as JSON (kept next to the submissions, never inside them)."""
    data = {"seed": seed, "submissions": [{**asdict(plan), "expected": expected_points(plan)} for plan in plans]}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def mix_of(plans: list[Plan]) -> dict[str, int]:
    """How many submissions of each kind."""
    return {kind: sum(1 for plan in plans if plan.kind == kind) for kind in KINDS}
