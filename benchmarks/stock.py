"""Stock nbgrader, as an instructor following nbgrader's documentation grades the class.

A course folder with the course's ``nbgrader_config.py`` cut before its ``grader.integrity`` part
(so nbgrader runs the notebooks' own test cells, in an ordinary kernel, as it does out of the
box), a copy of ``solutions/``, ``nbgrader generate_assignment <a> --force`` for each assignment
(timed apart), the class copied to ``submitted/``, then ``nbgrader autograde <a>`` for each
assignment in series: one fresh kernel (and one ``import torch``) per notebook. The timed figure
is the sum of the ``autograde`` runs; the points come from its ``gradebook.db``.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .sampling import run_measured, tool_env

INTEGRITY_MARKER = "# The trusted verification"


@dataclass
class StockRun:
    """What stock nbgrader did: seconds (autograde, summed), peak RSS/PSS/USS, points, problems."""

    seconds: float = 0.0
    generate_seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    peak_uss: int = 0
    per_assignment: dict = field(default_factory=dict)   # assignment -> autograde seconds
    grades: dict = field(default_factory=dict)           # (student, assignment) -> {"total", "parts"}
    errors: list = field(default_factory=list)
    notebooks: int = 0


def stock_config(text: str) -> str:
    """The course's ``nbgrader_config.py`` without its ``grader.integrity`` part."""
    if INTEGRITY_MARKER not in text:
        raise ValueError(f"nbgrader_config.py has no line starting {INTEGRITY_MARKER!r} to cut at")
    return text[: text.index(INTEGRITY_MARKER)] + "# stock nbgrader: no grader.integrity\n"


def make_course(folder: Path, course_root: Path, submissions: Path) -> Path:
    """A stock nbgrader course folder: configuration, ``solutions/`` and ``submitted/``."""
    folder.mkdir(parents=True)
    config = (course_root / "nbgrader_config.py").read_text(encoding="utf-8")
    (folder / "nbgrader_config.py").write_text(stock_config(config), encoding="utf-8")
    shutil.copytree(course_root / "solutions", folder / "solutions",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copytree(submissions, folder / "submitted")
    return folder


def nbgrader_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "nbgrader"), *args]


def read_gradebook(db: Path, students: list[str], assignments: list[str]) -> dict:
    """(student, assignment) -> {"total": points, "parts": {grade_id: points}} from nbgrader's gradebook.

    A submission the gradebook does not have (autograde failed on it) is left out.
    """
    from nbgrader.api import Gradebook, MissingEntry

    grades = {}
    with Gradebook(f"sqlite:///{db}") as gradebook:
        for assignment in assignments:
            for student in students:
                try:
                    notebook = gradebook.find_submission_notebook(assignment, assignment, student)
                except MissingEntry:
                    continue
                parts = {grade.name: float(grade.score) for grade in notebook.grades}
                grades[(student, assignment)] = {"total": sum(parts.values()), "parts": parts}
    return grades


def run(submissions: Path, folder: Path, course_root: Path, assignments: list[str], students: list[str],
        log: Path) -> StockRun:
    """Grade ``submissions`` with stock nbgrader in ``folder`` (created); output goes to ``log``."""
    course = make_course(folder, course_root, submissions)
    env = tool_env(course_root)
    result = StockRun()
    for assignment in assignments:  # not part of the timed figure: nbgrader's set-up, once per assignment
        measured = run_measured(nbgrader_command("generate_assignment", assignment, "--force"),
                                cwd=course, env=env, log=log)
        result.generate_seconds += measured.seconds
        if measured.returncode:
            result.errors.append(f"nbgrader generate_assignment {assignment} exited with {measured.returncode}")
    for assignment in assignments:
        measured = run_measured(nbgrader_command("autograde", assignment), cwd=course, env=env, log=log)
        result.seconds += measured.seconds
        result.per_assignment[assignment] = measured.seconds
        result.peak_rss = max(result.peak_rss, measured.peak_rss)
        result.peak_pss = max(result.peak_pss, measured.peak_pss)
        result.peak_uss = max(result.peak_uss, measured.peak_uss)
        if measured.returncode:
            result.errors.append(f"nbgrader autograde {assignment} exited with {measured.returncode}")
    result.notebooks = sum(1 for _ in (course / "submitted").glob("*/*/*.ipynb"))
    result.grades = read_gradebook(course / "gradebook.db", students, assignments)
    return result
