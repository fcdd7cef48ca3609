"""The one nbgrader chain: the same preprocessors for plain ``nbgrader autograde`` and ``python -m grader
grade``, one guarded ``Execute``, one metadata sanitiser, one error-output builder; and plain
``nbgrader autograde`` (the course's ``nbgrader_config.py``, for real) keeping its guarantees."""

from __future__ import annotations

import json

import nbformat
import pytest
from traitlets.config import Config

import grading_class as g
from exercise_helpers import make_course, nbgrader, submit
from grader.grading import chain, repair
from grader.grading.execute import GuardedExecute
from grader.grading.kernel_source import standalone_limits
from grader.grading.outputs import error_output
from grader.grading.settings import Limits
from grader.integrity.preprocessor import PrelaunchVerifier, SanitizeMetadata, TrustedVerification

A = "01_hidden_state"


def _course_config() -> Config:
    """What ``nbgrader_config.py`` does: ``Execute.timeout``, then ``configure(c)``."""
    c = Config()
    c.Execute.timeout = 120
    chain.configure(c)
    return c


def test_plain_autograde_and_the_grade_command_run_the_same_chain():
    plain = _course_config()
    worker = _course_config()  # a worker loads nbgrader_config.py, then configures its own run
    chain.configure(worker, Limits(cell_timeout=42), [TrustedVerification, g.FailFirstTest])
    assert plain.Autograde.sanitize_preprocessors == worker.Autograde.sanitize_preprocessors
    assert SanitizeMetadata in plain.Autograde.sanitize_preprocessors
    steps = plain.Autograde.autograde_preprocessors
    assert worker.Autograde.autograde_preprocessors == steps[:steps.index(TrustedVerification) + 1] + \
        [g.FailFirstTest] + steps[steps.index(TrustedVerification) + 1:]
    assert steps[:2] == [PrelaunchVerifier, GuardedExecute]
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    assert [step for step in steps if isinstance(step, type) and issubclass(step, Execute)] == [GuardedExecute]
    assert steps.index(TrustedVerification) < steps.index(SaveAutoGrades)
    assert (plain.Execute.timeout, worker.Execute.timeout) == (120, 42)
    without = Config()
    chain.configure(without, Limits(), [g.FailFirstTest])  # no trusted verification: nothing to prelaunch
    assert PrelaunchVerifier not in without.Autograde.autograde_preprocessors


def test_plain_autograde_limits_come_from_execute_timeout():
    executor = GuardedExecute(config=_course_config())
    limits = standalone_limits(executor)
    assert (limits.cell_timeout, limits.timeout) == (120, 120)
    assert limits.memory_bytes == Limits().memory_bytes and limits.max_output_bytes == Limits().max_output_bytes
    executor.timeout = 300
    assert (standalone_limits(executor).cell_timeout, standalone_limits(executor).timeout) == (300, 300)


def test_one_error_output_builder():
    assert error_output("NotRun", "not run: x") == {"output_type": "error", "ename": "NotRun",
                                                    "evalue": "not run: x", "traceback": ["NotRun: not run: x"]}
    assert error_output("E", "v", ["frame", "E: v"]).traceback == ["frame", "E: v"]
    nbformat.validate(nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "source": "",
         "outputs": [error_output("NotRun", "x")]}]}))


def test_one_metadata_sanitiser_keeps_the_first_cell_of_each_known_grade_id():
    nb = nbformat.from_dict(g.solution(A))
    graded = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    copied = nbformat.from_dict(json.loads(json.dumps(graded)))
    stray = nbformat.from_dict({"cell_type": "code", "id": "stray", "metadata": {"nbgrader": {"grade_id": "nope"}},
                                "execution_count": None, "outputs": [], "source": ""})
    nameless = nbformat.from_dict({"cell_type": "code", "id": "nameless", "metadata": {"nbgrader": {"grade": True}},
                                   "execution_count": None, "outputs": [], "source": ""})
    nb.cells += [copied, stray, nameless]
    known = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells[:-3] if "nbgrader" in c.metadata}
    kept = repair.keep_first_graded_cells(nb.cells, known | {None})
    assert kept == known
    assert not {"nbgrader"} & (set(copied.metadata) | set(stray.metadata) | set(nameless.metadata))
    assert "nbgrader" in graded.metadata


@pytest.mark.slow
def test_plain_nbgrader_autograde_survives_a_dying_kernel_and_caps_output(tmp_path):
    """The course's own nbgrader_config.py, real ``nbgrader autograde``: a kernel that dies ends the
    execution (the cells after it are not run), not the grading (the trusted verification decides
    every part); a print loop is cut at the output cap; an honest notebook keeps full marks."""
    course = make_course(tmp_path, A)
    nbgrader(["generate_assignment", A, "--force"], course)
    tests = g.test_ids(A)
    flood = "import sys\nfor _ in range(30_000):\n    sys.stdout.write('x' * 100 + '\\n')\n"
    submit(course, A, "dies", g.insert_after(g.solution(A), tests[1], "import os\nos._exit(3)\n"))
    submit(course, A, "floods", g.insert_after(g.solution(A), tests[0], flood))
    submit(course, A, "honest", g.solution(A))
    nbgrader(["autograde", A, "--force"], course)
    full = g.points(A)
    for student in ("dies", "floods", "honest"):
        graded = json.loads((course / "autograded" / student / A / f"{A}.ipynb").read_text(encoding="utf-8"))
        scores = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["hidden_state"]["passed"]
                  for c in graded["cells"] if c["metadata"].get("hidden_state")}
        assert scores == {grade_id: True for grade_id in full}, (student, scores)  # the verdict decides
        assert graded["metadata"]["hidden_state_integrity"]["sandboxed"] in (True, False)
        errors = [o for c in graded["cells"] if c["cell_type"] == "code" for o in c["outputs"]
                  if o["output_type"] == "error"]
        printed = "".join("".join(o.get("text", "")) for c in graded["cells"] if c["cell_type"] == "code"
                          for o in c["outputs"])
        if student == "dies":
            assert any(o["ename"] == "KernelDied" and "exited with code 3" in o["evalue"] for o in errors), errors
            assert any(o["ename"] == "NotRun" for o in errors), errors
        elif student == "floods":
            assert "output cut: more than 1 MiB" in printed and len(printed) < 2 * 2**20
        else:
            assert errors == []
