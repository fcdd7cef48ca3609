"""The tampering corpus through the one-command pipeline (``python -m grader grade``), as an instructor runs it.

By default the command sandboxes student code (bubblewrap) and decides every part with the trusted
verification. Every attack must score zero on the parts it attacks, keep the points of the parts it
leaves alone, and be listed in ``grades.csv`` and ``report.html`` as ``suspicious`` with the reason;
the honest solutions keep full marks. Where no sandbox works, the command refuses unless told
``--unsandboxed``, and then marks every result.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tampering
from exercise_helpers import ASSIGNMENTS, release_notebook, source_notebook
from grader.grading.results import read_grades_csv
from grader.sandbox import availability

import grading_class as g

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ATTACKS = tampering.manifest()
HONEST = "honest"


def grade(submissions: Path, out: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out), "--quiet", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every attack and one honest solution per assignment, graded in one run: (rows, report text)."""
    if not availability.available():
        pytest.skip(f"no sandbox here: {availability.unavailable_reason()}") if not os.environ.get("CI") else \
            pytest.fail(f"CI must have a sandbox: {availability.unavailable_reason()}")
    tmp = tmp_path_factory.mktemp("pipeline-corpus")
    submissions = [g.Submission(HONEST, a, {f"{a}.ipynb": g.dumps(source_notebook(a))}, 0, "ok") for a in ASSIGNMENTS]
    for attack in ATTACKS:
        notebook = attack.build(source_notebook(attack.assignment), release_notebook(attack.assignment))
        submissions.append(g.Submission(attack.name, attack.assignment,
                                        {f"{attack.assignment}.ipynb": g.dumps(notebook)}, 0, "suspicious"))
    g.write_folder(tmp / "class", submissions)
    done = grade(tmp / "class", tmp / "out", "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {(row["student"], row["assignment"]): row for row in read_grades_csv(tmp / "out" / "grades.csv")}
    return rows, (tmp / "out" / "report.html").read_text(encoding="utf-8")


def _scores(row: dict, assignment: str) -> dict[str, float]:
    prefix = f"{assignment}:"
    return {key[len(prefix):]: float(value) for key, value in row.items() if key.startswith(prefix) and value != ""}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_solutions_keep_full_marks_sandboxed(corpus, assignment):
    rows, _ = corpus
    row = rows[(HONEST, assignment)]
    assert _scores(row, assignment) == g.points(assignment)
    assert (row["status"], row["reason"], row["sandboxed"]) == ("ok", "", "yes")


@pytest.mark.parametrize("name", sorted(attack.name for attack in ATTACKS))
def test_every_attack_scores_zero_where_it_attacks_and_is_reported_with_the_reason(corpus, name):
    rows, report = corpus
    attack = next(a for a in ATTACKS if a.name == name)
    row = rows[(name, attack.assignment)]
    expected = {test: (0.0 if test in attack.attacks else points) for test, points in g.points(attack.assignment).items()}
    assert _scores(row, attack.assignment) == expected, row["reason"]
    assert row["status"] == "suspicious" and attack.reason in row["reason"], row["reason"]
    assert row["sandboxed"] == "yes"
    # listed in the report's "needs attention" table, with the reason
    attention = report[report.index('id="attention"'):]
    assert f"<td class='who'>{html.escape(name)}</td>" in attention
    assert html.escape(attack.reason) in attention


def test_without_a_sandbox_the_command_refuses_unless_told_and_then_marks_every_result(tmp_path):
    a = ASSIGNMENTS[0]
    g.write_folder(tmp_path / "class", [g.Submission("ada", a, {f"{a}.ipynb": g.dumps(source_notebook(a))}, 0, "")])
    # A PATH without bwrap: the same machine, with the sandbox tool out of reach.
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    refused = grade(tmp_path / "class", tmp_path / "refused", env=env)
    assert refused.returncode == 1
    assert "cannot sandbox student code here" in refused.stderr and "--unsandboxed" in refused.stderr
    assert not (tmp_path / "refused" / "grades.csv").exists()

    done = grade(tmp_path / "class", tmp_path / "out", "--unsandboxed", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = read_grades_csv(tmp_path / "out" / "grades.csv")
    assert float(row["total"]) == float(row["max_score"]) > 0
    assert (row["status"], row["sandboxed"]) == ("unsandboxed", "no")
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "graded WITHOUT a sandbox" in report
