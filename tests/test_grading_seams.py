"""The two seams the grading pipeline keeps open, exercised for real: a kernel launcher (where a
sandbox goes) and a verification preprocessor (run after execution, before nbgrader saves grades)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import grading_class as g
from grader.grading.coordinator import RunOptions, run
from grader.grading.settings import Limits

pytestmark = pytest.mark.slow

A = "01_hidden_state"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_launcher_and_verifier_seams(tmp_path, fork):
    probe = g.insert_after(g.solution(A), g.test_ids(A)[-1],
                           "import os\nprint('launcher:', os.environ.get('HIDDEN_STATE_LAUNCHER'))\n")
    g.write_folder(tmp_path / "class", [g.Submission("ada", A, {f"{A}.ipynb": g.dumps(probe)}, 0, "ok")])
    record = tmp_path / "launches.txt"
    summary = run(RunOptions(submissions=tmp_path / "class", out=tmp_path / "out", course_root=ROOT, workers=1,
                             quiet=True, fork=fork, limits=Limits(timeout=90, cell_timeout=60),
                             launcher=g.MarkingLauncher(record=str(record)), sandboxed=False,
                             verifiers=["grading_class.FailFirstTest"]))
    (row,) = summary.rows
    first, *rest = row.result.parts
    assert first.score == 0 and "VerificationFailed: the trusted check disagrees" in first.message
    assert [p.score for p in rest] == [p.max_score for p in rest] and rest
    launches = record.read_text().splitlines()
    assert launches and all("limits.py" in line for line in launches)
    assert any(("grader.grading.zygote" in line) == fork for line in launches)
    autograded = json.loads((tmp_path / "out" / "autograded" / "ada" / A / f"{A}.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in autograded["cells"] if c["cell_type"] == "code"
                      for o in c["outputs"])
    assert "launcher: sandboxed" in printed


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_a_submission_that_kills_the_process_above_its_kernel_harms_nobody_else(tmp_path, fork, sandboxed):
    """Student code that SIGKILLs its kernel's parent: the kernel template (forked kernels) or the
    worker itself (fresh kernels). In a sandbox it cannot reach either; without one it kills it, and
    the run still goes on and the next student is graded."""
    attack = g.insert_after(g.solution(A), g.test_ids(A)[1],
                            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    full = sum(g.points(A).values())
    g.write_folder(tmp_path / "class", [g.Submission("a-attacker", A, {f"{A}.ipynb": g.dumps(attack)}, 0, ""),
                                        g.Submission("b-honest", A, {f"{A}.ipynb": g.dumps(g.solution(A))}, 0, "")])
    summary = run(RunOptions(submissions=tmp_path / "class", out=tmp_path / "out", course_root=ROOT, workers=1,
                             quiet=True, fork=fork, limits=Limits(timeout=90, cell_timeout=60), sandboxed=sandboxed))
    attacker, honest = summary.rows
    if sandboxed or fork:  # graded: the verification read the code
        assert "suspicious" in {note.kind for note in attacker.notes} and "calls os.kill" in attacker.reason
    if sandboxed:  # the kill is refused: the answers are the solution's, and they count
        assert attacker.status == "suspicious" and attacker.result.total == full
        assert attacker.result.sandboxed is True
    elif fork:  # the template died, and the kernel with it; the trusted verification still grades every part
        assert "kernel_died" in {note.kind for note in attacker.notes} and "SIGKILL" in attacker.reason
        assert attacker.result.sandboxed is False
    else:  # the worker died: nothing to grade from, the pool replaced the worker
        assert attacker.status == "grader_error" and "grading process died" in attacker.reason
        assert attacker.result.total == 0
    assert honest.result.total == full
    assert honest.status == ("ok" if sandboxed else "unsandboxed")
