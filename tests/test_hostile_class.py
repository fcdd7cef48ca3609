"""A hostile class, end to end (issue 13): every builder of ``tests/hostile`` in one class zip,
graded in one ``python -m grader grade`` run.

* every student found has a row for every assignment, with the status (and score) it must get;
* no script runs in any page the grader wrote, opened in Chromium;
* the honest variants score full marks;
* a ``kill -9`` in the middle of the run and an immediate re-run give the uninterrupted grades.

Each case and its outcome is written to ``test-artifacts/hostile-class.md``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grading_class as g
import pytest
from hostile import honest, names_and_zips, notebooks, pages

from grader.grading.results import read_grades_csv
from grader.grading.workspace import safe_name

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
A = "01_hidden_state"
ASSIGNMENTS = sorted({variant.assignment for variant in honest.VARIANTS.values()})

pytestmark = pytest.mark.slow


def _full(a: str) -> float:
    return sum(g.points(a).values())


def _page_kinds(a: str) -> list[g.Submission]:
    """:func:`hostile.pages.submissions` with the rows they must get.

    Their attacks are in extra cells, outputs and metadata, none in an answer, so each scores what its
    answers earn: full marks, but the one whose first answer raises (it loses that part) and the
    notebook that is not JSON (``invalid_notebook``). The id made of markup is kept as it is, and
    noted (``odd_name``): the gradebook holds it as its folder name.
    """
    expected = {"hostile-outputs": (_full(a), "ok"), "hostile-cells": (_full(a), "ok"),
                "hostile-message": (_full(a) - g.points(a)[g.test_ids(a)[0]], "ok"),
                pages.STUDENT_ID_ATTACK: (_full(a), "odd_name", "formgrader")}  # kept from formgrader
    return [g.Submission(sub.student, a, sub.files, *expected.get(sub.student, (0, "invalid_notebook")))
            for sub in pages.submissions(a)]


def _honest_kinds() -> list[g.Submission]:
    """The honest variants (full marks), and one whose helper table is built by a call: the two parts
    that use it score zero, and the row is ``lost_in_runner`` (its notebook had shown a pass)."""
    subs = [g.Submission(f"honest-{name}", variant.assignment,
                         {f"{variant.assignment}.ipynb": g.dumps(honest.notebook(name))}, _full(variant.assignment), "ok")
            for name, variant in honest.VARIANTS.items()]
    nb = honest.passes_only_in_the_notebook()
    lost = _full(A) - g.points(A)["test_stacked_rnn_forward"] - g.points(A)["test_bidirectional_rnn_forward"]
    return subs + [g.Submission("honest-but-built-by-a-call", A, {f"{A}.ipynb": g.dumps(nb)}, lost, "lost_in_runner",
                                "stacked_rnn_forward passed in the notebook")]


def build_class(path: Path) -> list[g.Submission]:
    """The hostile class zip at ``path``; returns every submission in it with the row it must get."""
    unflagged = names_and_zips.unflagged_kinds(A)
    subs = (g.good_kinds(A) + names_and_zips.name_kinds(A) + names_and_zips.refused_kinds(A)
            + _honest_kinds() + _page_kinds(A) + notebooks.all_kinds(A))
    names_and_zips.write_hostile_zip(path, subs, A, unflagged)
    return subs + [sub for _, sub in unflagged]


def expected_rows(subs: list[g.Submission]) -> dict[tuple[str, str], tuple[float, str, str]]:
    """(student, assignment) -> (total, status, a fragment of the reason), for every student and
    assignment of the class: an assignment a student did not hand in is ``missing``, zero."""
    rows = {(sub.student, a): (0.0, "missing", "") for sub in subs for a in ASSIGNMENTS}
    rows.update({(sub.student, sub.assignment): (float(sub.score), sub.status, sub.reason_contains) for sub in subs})
    return rows


def _command(class_zip: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(class_zip), "--out", str(out), "--quiet", "--workers", "2",
            "--timeout", "60", "--cell-timeout", "30"]


def _grades(out: Path) -> dict[tuple[str, str], dict]:
    return {(row["student"], row["assignment"]): row for row in read_grades_csv(out / "grades.csv")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once without interruption: (zip, workspace, expected rows, the run)."""
    base = tmp_path_factory.mktemp("hostile-class")
    subs = build_class(base / "class.zip")
    out = base / "grading"
    started = time.monotonic()
    done = subprocess.run(_command(base / "class.zip", out), cwd=ROOT, capture_output=True, text=True,
                          timeout=1200, check=False)
    print(f"hostile class of {len(subs)} submissions graded in {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    return base / "class.zip", out, expected_rows(subs), done


def _outcomes(expected: dict, got: dict) -> list[tuple[str, str, str, str, bool]]:
    """(student, assignment, expected, got, as expected) for every expected row and every extra one."""
    table = []
    for key in sorted(set(expected) | set(got)):
        want, row = expected.get(key), got.get(key)
        have = (float(row["total"]), row["status"]) if row else None
        fine = want is not None and have == want[:2] and want[2] in row["reason"]
        table.append((*key, f"{want[0]:g} {want[1]} ({want[2]!r})" if want else "no row",
                      f"{have[0]:g} {have[1]}: {row['reason'][:80]}" if row else "no row", fine))
    return table


def _write_report(table: list) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    lines = ["| student | assignment | expected | got | |", "|---|---|---|---|---|"]
    lines += [f"| {student!r} | {a} | {want} | {got} | {'ok' if fine else 'WRONG'} |".replace("\n", " ")
              for student, a, want, got, fine in table]
    (ARTIFACTS / "hostile-class.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_every_student_has_a_row_with_the_right_status(graded):
    _, out, expected, done = graded
    table = _outcomes(expected, _grades(out))
    _write_report(table)
    wrong = [case for case in table if not case[-1]]
    assert not wrong, "\n".join(map(str, wrong))
    attention = sum(1 for total, status, _ in expected.values() if status != "ok")
    assert f" {attention} need attention" in done.stdout, done.stdout


def test_honest_variants_score_full_marks(graded):
    _, out, _, _ = graded
    rows = _grades(out)
    for name, variant in honest.VARIANTS.items():
        row = rows[(f"honest-{name}", variant.assignment)]
        assert (float(row["total"]), row["status"]) == (_full(variant.assignment), "ok"), (name, row)


def test_no_script_runs_in_any_page_the_grader_wrote(graded, browser):
    from browser import assert_page_inert, serve_directory

    _, out, expected, _ = graded
    pages_written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                           if "autograded" not in p.parts)
    assert "report.html" in pages_written
    assert len([p for p in pages_written if p.startswith("feedback/")]) == len(expected), pages_written
    # Every page of the assignment handed in; of the others ("missing" pages, which show only the id),
    # those of the ids that hold markup.
    markup = {safe_name(student) for student, _ in expected if set(student) & names_and_zips.MARKUP}
    opened = [p for p in pages_written if not p.startswith("feedback/") or f"/{A}/" in p
              or p.split("/")[1] in markup]
    assert len(opened) > len(expected) // 5
    with serve_directory(out) as site:
        for path in opened:
            images = assert_page_inert(browser, site, path)
            if ("hostile-outputs" in path or "hostile-cells" in path) and f"/{A}/" in path:
                assert images >= 1, f"{path}: its images are gone"


def test_the_report_lists_look_alikes_and_the_workspace_keeps_no_refused_entry(graded):
    _, out, _, _ = graded
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Student ids that look alike (2)" in page and "U+0301" in page
    kept = {p: p.stat().st_size for p in (out / "unpacked").rglob("*") if p.is_file()}
    assert max(kept.values()) < 256 * 2**20  # the 257 MiB notebook was not kept
    assert all(size < 2**20 for p, size in kept.items() if p.suffix != ".ipynb")  # nor the 3 MiB extra file
    assert not list((out / "unpacked").rglob("__MACOSX")) and not list((out / "unpacked").rglob("._*"))


def _wait_for_a_first_result(process: subprocess.Popen, out: Path, log: Path) -> None:
    deadline = time.monotonic() + 600
    while not list((out / "state" / "results").glob("*/*.json")):
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "no result within 10 minutes"
        time.sleep(0.2)


def test_a_kill_and_an_immediate_rerun_give_the_uninterrupted_grades(graded, tmp_path):
    class_zip, uninterrupted, _, _ = graded
    out = tmp_path / "grading"
    with open(tmp_path / "first.log", "w+") as log:  # not a pipe: reading one would wait for the old tree
        first = subprocess.Popen(_command(class_zip, out), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        _wait_for_a_first_result(first, out, tmp_path / "first.log")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    finished_before_kill = len(list((out / "state" / "results").glob("*/*.json")))
    second = subprocess.run(_command(class_zip, out), cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not (out / "grades.csv").read_text() == "" and finished_before_kill >= 1
    assert _grades(out) == _grades(uninterrupted)
