"""Shared helpers of the exercise tests: the notebooks, student code from source, mutations, autograding."""

from __future__ import annotations

import itertools
import json
import linecache
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

# The course's notebooks and student versions of them live in grader.coursework (the benchmark uses them too).
from grader.coursework import (MUTATIONS, cell_source, filled_release, mutated_solution, nbgrader_meta,  # noqa: F401
                               release_notebook, solution_cells, source_notebook, strip_markers)

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ["01_hidden_state", "02_cell_state", "03_initialization", "04_statefulness", "05_vanishing_gradients"]

# The graded parts, in notebook order, with their points (the course's documented scheme).
PARTS = {
    "01_hidden_state": {"stacked_rnn_forward": 2, "bidirectional_rnn_forward": 2, "masked_rnn_forward": 1,
                        "recurrent_parameter_count": 1},
    "02_cell_state": {"lstm_cell_backward": 2, "coupled_lstm_cell": 1, "peephole_lstm_cell": 1,
                      "projected_lstm_forward": 2},
    "03_initialization": {"BridgedEncoderDecoder": 2, "forget_bias_for_retention": 1, "timescale_forget_bias_": 1,
                          "critical_scale": 2},
    "04_statefulness": {"reset_rows": 1, "forward_with_resets": 2, "truncated_forward": 2, "pack_documents": 1},
    "05_vanishing_gradients": {"rnn_bptt": 2, "numerical_gradient": 1, "adaptive_clip_grad_": 2,
                               "masked_temporal_activation_regularization": 1},
}

def graded_cells(notebook: dict) -> dict[str, tuple[str, float]]:
    """grade_id -> (source, points) of every autograder-test cell."""
    return {nbgrader_meta(c)["grade_id"]: (cell_source(c), nbgrader_meta(c)["points"]) for c in notebook["cells"]
            if nbgrader_meta(c).get("grade")}


def solution_lines(source: str) -> list[str]:
    """The code lines between BEGIN and END SOLUTION."""
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def hidden_test_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "### END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


_counter = itertools.count()


def define(source: str, name: str | None = None, namespace: dict | None = None):
    """Execute student-style source as a notebook cell would, with the source findable by ``inspect``.

    Returns the object called ``name`` (default: the last top-level def or class), or the namespace.
    """
    filename = f"<student-cell-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if namespace is None:
        namespace = {"torch": torch, "nn": nn, "math": math, "__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    if name is None:
        found = re.findall(r"^(?:def|class)\s+(\w+)", source, re.M)
        return namespace[found[-1]] if found else namespace
    return namespace[name]


def solution_namespace(assignment: str) -> dict:
    """A namespace holding every solution of an assignment, defined from the notebook's source."""
    namespace = {"torch": torch, "nn": nn, "math": math, "__name__": "__main__"}
    for source in solution_cells(source_notebook(assignment)).values():
        define(strip_markers(source), namespace=namespace)
    return namespace


# ----------------------------------------------------------------------------- autograding


def tools_env() -> dict:
    """The environment for nbgrader subprocesses and their kernels.

    This interpreter's bin/ goes first on PATH (nbgrader runs ``alembic``), and this repository
    first on PYTHONPATH, so that the kernels grade with the ``grader`` package under test even if
    the environment's editable install points elsewhere. Without a sandbox (bubblewrap, as root)
    and outside CI, autograding runs unsandboxed (``HIDDEN_STATE_UNSANDBOXED=1``).
    """
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    from grader.sandbox import availability

    if not availability.available() and not env.get("CI"):
        # nbgrader_config.py grades in a bubblewrap sandbox; where there is none (and not under CI,
        # which installs it), grade unsandboxed rather than refuse.
        env["HIDDEN_STATE_UNSANDBOXED"] = "1"
    return env


def nbgrader(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    result = subprocess.run(command, cwd=cwd, env=tools_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


def make_course(tmp: Path, assignment: str) -> Path:
    """A course directory for one assignment: the repository's config and a copy of its source notebook."""
    course = tmp / assignment
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    return course


def submit(course: Path, assignment: str, student: str, notebook: dict) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def autograde_assignment(tmp: Path, assignment: str) -> dict:
    """Generate, submit (solution, untouched release, one mutation per part) and autograde one assignment.

    Returns {"scores": {student: {grade_id: score}}, "outputs": {student: {grade_id: text}},
    "max": {grade_id: points}, "seconds": autograde wall time, "students": count}.
    """
    course = make_course(tmp, assignment)
    nbgrader(["generate_assignment", assignment, "--force"], course)
    release = json.loads((course / "exercises" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    source = source_notebook(assignment)
    solutions = {gid: strip_markers(src) for gid, src in solution_cells(source).items()}
    submit(course, assignment, "solution", source)
    submit(course, assignment, "release", release)
    mutants = {}
    for index, (a, part, old, new, mistake) in enumerate(MUTATIONS):
        if a != assignment:
            continue
        student = f"mutant{index}"
        mutants[student] = (part, mistake)
        code = strip_markers(mutated_solution(a, part, old, new))
        submit(course, assignment, student, filled_release(release, {**solutions, part: code}))
    start = time.perf_counter()
    nbgrader(["autograde", assignment, "--force"], course)
    seconds = time.perf_counter() - start

    from nbgrader.api import Gradebook

    scores, outputs, maximum = {}, {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in ["solution", "release", *mutants]:
            submission = gradebook.find_submission_notebook(assignment, assignment, student)
            scores[student] = {grade.name: grade.score for grade in submission.grades}
            maximum.update({grade.name: grade.max_score for grade in submission.grades})
            graded = json.loads((course / "autograded" / student / assignment / f"{assignment}.ipynb")
                                .read_text(encoding="utf-8"))
            outputs[student] = {
                nbgrader_meta(c)["grade_id"]: "\n".join(
                    (o.get("ename", "") + ": " + o.get("evalue", "")) if o["output_type"] == "error"
                    else "".join(o.get("text", "")) for o in c.get("outputs", []))
                for c in graded["cells"] if nbgrader_meta(c).get("grade")
            }
    return {"scores": scores, "outputs": outputs, "max": maximum, "seconds": seconds,
            "students": 2 + len(mutants), "mutants": mutants}
