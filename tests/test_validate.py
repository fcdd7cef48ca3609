"""hidden-state-validate: every check of a notebook at once, in a real kernel, with the points."""

import json
import subprocess
import sys

import pytest

from grader.coursework import MUTATIONS, filled_release, full_submission, mutated_solution, release_notebook, \
    solved_sources, strip_markers

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_hidden_state"


def validate(*paths):
    return subprocess.run([sys.executable, "-m", "grader.checks.validate", *map(str, paths)],
                          capture_output=True, text=True, timeout=600)


def write(folder, name, notebook):
    path = folder / name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def test_a_solved_notebook_passes_and_a_blank_one_fails_every_part(tmp_path):
    solved = write(tmp_path, "solved.ipynb", full_submission(ASSIGNMENT))
    blank = write(tmp_path, "blank.ipynb", release_notebook(ASSIGNMENT))
    result = validate(solved, blank)
    assert result.returncode == 1, result.stdout + result.stderr
    solved_report, blank_report = result.stdout.split(str(blank) + ":")
    assert "Every visible check passes" in solved_report and "FAILED" not in solved_report
    assert blank_report.count("FAILED") == blank_report.count("  test_") >= 4
    assert "replace `raise NotImplementedError()` with your implementation" in blank_report
    assert " 0 of 6 points" in blank_report


def test_one_mistake_fails_its_part_only_and_is_named(tmp_path):
    assignment, part, old, new, mistake = next(m for m in MUTATIONS if m[0] == ASSIGNMENT)
    code = {**solved_sources(assignment), part: strip_markers(mutated_solution(assignment, part, old, new))}
    path = write(tmp_path, "mistake.ipynb", filled_release(release_notebook(assignment), code))
    result = validate(path)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.strip().startswith("FAILED")]
    assert failed == [line for line in failed if f"test_{part} " in line] and len(failed) == 1
    assert mistake in result.stdout


def test_an_unreadable_notebook_is_named_and_the_others_still_run(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not a notebook", encoding="utf-8")
    solved = write(tmp_path, "solved.ipynb", full_submission(ASSIGNMENT))
    result = validate(broken, tmp_path / "missing.ipynb", solved)
    assert result.returncode == 2
    assert f"{broken}: not a readable notebook" in result.stdout
    assert "missing.ipynb: no such file" in result.stdout
    assert "Every visible check passes" in result.stdout
