"""Our one-command grading, ``python -m grader grade SUBMISSIONS --out DIR``, with its defaults.

Defaults: as many workers as CPUs, the bubblewrap sandbox and the trusted verification on. The
timed figure is the whole command, preparing the assignments included. Where its time went comes
from the workspace: each submission's resume state (``DIR/state/results/<folder>/<a>.json``)
holds ``timings``, seconds summed over its notebooks, and ``DIR/run.json`` the workers' start-up
(``worker_start``). Whether the verification and the sandbox were on is read from the graded
notebooks' ``hidden_state_integrity`` metadata.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.grading.results import read_grades_csv

from .sampling import run_measured, tool_env

# The per-notebook phases the grader records, in the order a notebook goes through them.
PHASES = ("kernel_start", "imports", "student_code", "verification", "writing")


@dataclass
class OursRun:
    """What our command did: seconds, peak RSS/PSS/USS, points, where the time went, integrity, problems."""

    seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    peak_uss: int = 0
    grades: dict = field(default_factory=dict)      # (student, assignment) -> {"total", "parts"}
    timings: dict = field(default_factory=dict)     # phase -> seconds summed over every notebook
    timed_notebooks: int = 0                        # notebooks whose submission recorded timings
    notebooks: int = 0
    worker_start: float | None = None              # seconds, summed over the workers
    workers: int | None = None
    run: dict = field(default_factory=dict)         # DIR/run.json
    verified: int = 0                               # graded notebooks carrying a trusted verdict
    sandboxed: int = 0                              # ... of which verified in the sandbox
    autograded: int = 0
    errors: list = field(default_factory=list)


def command(submissions: Path, out: Path, course_root: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out),
            "--course", str(course_root), "--quiet"]


def read_grades(path: Path) -> dict:
    """(student, assignment) -> {"total": points, "parts": {grade_id: points}} from ``grades.csv``."""
    grades = {}
    for row in read_grades_csv(path):
        prefix = f"{row['assignment']}:"
        parts = {column[len(prefix):]: float(value) for column, value in row.items()
                 if column.startswith(prefix) and value not in ("", None)}
        grades[(row["student"], row["assignment"])] = {"total": float(row["total"] or 0), "parts": parts}
    return grades


def _seconds(value) -> float | None:
    """A number of seconds from a number, or the sum of a list or dict of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return float(sum(value))
    return None


def read_timings(state: Path) -> tuple[dict, int, int]:
    """Phase seconds summed over every submission's ``timings``; notebooks timed; notebooks in all."""
    sums: dict[str, float] = {}
    timed = total = 0
    for path in sorted((state / "results").glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        notebooks = int(data.get("notebooks") or 0)
        total += notebooks
        timings = data.get("timings")
        if not isinstance(timings, dict) or not notebooks:
            continue
        timed += notebooks
        for phase, value in timings.items():
            seconds = _seconds(value)
            if seconds is not None:
                sums[phase] = sums.get(phase, 0.0) + seconds
    return sums, timed, total


def read_integrity(autograded: Path) -> tuple[int, int, int]:
    """Graded notebooks; those with a trusted verdict; those verified in the sandbox."""
    notebooks = verified = sandboxed = 0
    for path in autograded.glob("*/*/*.ipynb"):
        notebooks += 1
        try:
            verdict = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("hidden_state_integrity")
        except (OSError, ValueError):
            continue
        if isinstance(verdict, dict):
            verified += 1
            sandboxed += bool(verdict.get("sandboxed"))
    return notebooks, verified, sandboxed


def run(submissions: Path, out: Path, course_root: Path, log: Path) -> OursRun:
    """Grade ``submissions`` into the fresh workspace ``out``; output goes to ``log``."""
    if out.exists():
        raise FileExistsError(f"{out} exists: every run needs a fresh workspace (a reused one resumes)")
    measured = run_measured(command(submissions, out, course_root), cwd=course_root, env=tool_env(course_root),
                            log=log)
    result = OursRun(seconds=measured.seconds, peak_rss=measured.peak_rss, peak_pss=measured.peak_pss,
                     peak_uss=measured.peak_uss)
    if measured.returncode:
        result.errors.append(f"python -m grader grade exited with {measured.returncode} (see {log})")
    if (out / "grades.csv").is_file():
        result.grades = read_grades(out / "grades.csv")
    try:
        result.run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result.run = {}
    result.worker_start = _seconds(result.run.get("worker_start"))
    result.workers = result.run.get("workers")
    result.timings, result.timed_notebooks, result.notebooks = read_timings(out / "state")
    result.autograded, result.verified, result.sandboxed = read_integrity(out / "autograded")
    return result
