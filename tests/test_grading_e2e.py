"""End to end: a generated class of submissions, graded by ``python -m grader grade`` for real.

The class (see ``grading_class.py``) is built from the course's own notebooks: a student with full
marks in every assignment, blank and partial submissions, students with spaces and non-ASCII
letters in their ids, one submission of every bad kind, and a zip with entries that climb out,
are absolute or are links. It is graded with 2 workers; then the tests check every row of
grades.csv, the feedback (no hidden-test source), the report, the gradebook, a serial run's
identical grades, re-running after a change, and resuming after the run is killed midway.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grading_class as g
from processes import run_processes
from grader.grading.results import read_grades_csv
from grader.grading.workspace import safe_name

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
A = "01_hidden_state"  # the assignment of the big class of good and bad kinds
LIMITS = ["--timeout", "45", "--cell-timeout", "15"]  # generous: the machine may be busy
HOSTILE = [("../escape-parent.ipynb", b"{}"), ("/tmp/hidden-state-escape-absolute.ipynb", b"{}"),
           ("class/mallory/01_hidden_state/../../../escape-climb.txt", b"x")]
LINKS = [("class/mallory/01_hidden_state/link.ipynb", "/etc/passwd")]


# ----------------------------------------------------------------------------- the class


@pytest.fixture(scope="module")
def course_class(tmp_path_factory):
    """``(zip path, submissions, expected rows)``; expected: (student, assignment) -> (total, status, text)."""
    everyone = g.assignments()
    subs = g.good_kinds(A) + g.bad_kinds(A)
    subs += [s for a in everyone if a != A for s in g.good_kinds(a) if s.student == "ada"]
    mallory = g.good_kinds(A)[0]
    mallory.student, mallory.status, mallory.reason_contains = "mallory", "unsafe_zip_entry", "escape-climb.txt"
    subs.append(mallory)
    base = tmp_path_factory.mktemp("class")
    archive = g.write_zip(base / "class.zip", subs, HOSTILE, LINKS)
    expected = {}
    for student in sorted({s.student for s in subs}):
        for a in everyone:
            expected[(student, a)] = (0.0, "missing", f"no folder {a}/")
    for s in subs:
        expected[(s.student, s.assignment)] = (float(s.score), s.status, s.reason_contains)
    return archive, subs, expected


def grade(submissions: Path, out: Path, *args: str, env=None, wait=True):
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out), "--quiet", *LIMITS,
               *args]
    if not wait:
        # SIGINT back to its default: a test run started in the background (``make test &``) has it
        # ignored, and the child would inherit that and never see the Ctrl-C the test sends.
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def graded(course_class, tmp_path_factory):
    """The class graded with 2 workers: the workspace, and how long it took."""
    archive, _, _ = course_class
    out = tmp_path_factory.mktemp("parallel") / "grading"
    started = time.monotonic()
    grade(archive, out, "--workers", "2")
    seconds = time.monotonic() - started
    print(f"\n2 workers: {seconds:.1f} s for the class")
    return out, seconds


def run_info(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


# ----------------------------------------------------------------------------- grades.csv


def test_every_row_of_grades_csv(course_class, graded):
    _, subs, expected = course_class
    out, _ = graded
    rows = read_grades_csv(out / "grades.csv")
    got = {(row["student"], row["assignment"]): row for row in rows}
    assert list(got) == sorted(expected), "one row per student and assignment, sorted"
    problems = []
    for key, (total, status, text) in expected.items():
        row = got[key]
        if float(row["total"]) != total or row["status"] != status or text not in row["reason"]:
            problems.append(f"{key}: expected {total:g} {status} ({text!r}), got {row['total']} {row['status']} "
                            f"({row['reason']!r})")
    assert not problems, "\n".join(problems)
    # the columns: a column per graded part of every assignment, the parts add up to the total
    columns = list(rows[0])
    for a in g.assignments():
        for test, points in g.points(a).items():
            assert f"{a}:{test}" in columns
            assert got[("ada", a)][f"{a}:{test}"] == f"{points:g}"
        assert float(got[("ada", a)]["max_score"]) == sum(g.points(a).values())
    for row in rows:
        parts = [float(row[c]) for c in columns if c.startswith(row["assignment"] + ":") and row[c] != ""]
        assert sum(parts) == pytest.approx(float(row["total"]))
    first = g.test_ids(A)[0]
    assert got[("cy", A)][f"{A}:{first}"] == "0"  # the stubbed function's part, and only it
    assert run_info(out)["graded"] == len(subs)


# ----------------------------------------------------------------------------- feedback


def test_feedback_shows_failures_but_never_hidden_tests(course_class, graded):
    _, subs, expected = course_class
    out, _ = graded
    secrets = [s for a in g.assignments() for s in g.hidden_only_strings(a)]
    assert secrets and all(len(s) > 10 for s in secrets)
    autograded = (out / "autograded" / "ada" / A / f"{A}.ipynb").read_text()
    assert any(s in autograded for s in secrets), "the hidden tests ran (so the search below can find them)"
    pages = sorted((out / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        unescaped = html.unescape(re.sub(r"<[^>]+>", "", text))
        leaked = [s for s in secrets if s in text or s in unescaped]
        assert not leaked, f"{page} shows hidden tests: {leaked}"
        body = unescaped[unescaped.find("(Score:"):]
        assert "Traceback (most recent call last)" not in body and "---->" not in body, page
    # a page for every student and assignment, in a safe folder named after the student
    for student, a in expected:
        folder = out / "feedback" / safe_name(student) / a
        assert (folder / f"{a}.html").is_file(), (student, a)
        assert re.fullmatch(r"[A-Za-z0-9._-]+", folder.parent.name)
    assert "no folder 02_cell_state/ was submitted" in (out / "feedback/bo/02_cell_state/02_cell_state.html").read_text()
    partial = (out / "feedback" / "cy" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in partial and "Score: 4.0 / 6.0" in partial
    assert "(hidden tests are not shown)" in partial
    empty = (out / "feedback" / "bad-empty" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "could not be graded" in empty and "is empty" in empty


# ----------------------------------------------------------------------------- report


def test_report(course_class, graded):
    _, subs, expected = course_class
    out, _ = graded
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == len(g.assignments())
    for a in g.assignments():
        assert f'<h2 id="{a}">' in page
    for test in g.test_ids(A):
        assert f"<code>{test}</code>" in page
    assert "Most frequent failures" in page and "NotImplementedError" in page
    attention = page[page.index('id="attention"'):]
    for (student, a), (_, status, _) in expected.items():
        submitted = any(s.student == student and s.assignment == a for s in subs)
        if status != "ok" and submitted:
            assert html.escape(student) in attention and f">{status}</span>" in attention, (student, status)
    for name, _ in HOSTILE:
        assert html.escape(repr(name)) in page or html.escape(name) in page


# ----------------------------------------------------------------------------- zip safety


def test_zip_entries_never_escape(course_class, graded):
    archive, _, _ = course_class
    out, _ = graded
    assert not Path("/tmp/hidden-state-escape-absolute.ipynb").exists()
    unpacked = out / "unpacked"
    for name in ("escape-parent.ipynb", "escape-climb.txt", "link.ipynb"):
        # not in the workspace, and not in any folder a climbing path could reach from it
        assert list(out.rglob(name)) == [] and list(archive.parent.rglob(name)) == []
        for folder in (unpacked, *unpacked.parents, ROOT):
            assert not (folder / name).exists(), folder / name
    assert not any(p.is_symlink() for p in unpacked.rglob("*"))


# ----------------------------------------------------------------------------- gradebook


def test_gradebook_holds_the_grades(course_class, graded):
    from nbgrader.api import Gradebook

    _, _, expected = course_class
    out, _ = graded
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "hidden-state") as gb:
        assert {s.id for s in gb.students} == {student for student, _ in expected}
        for a in g.assignments():
            assert gb.find_submission(a, "ada").score == sum(g.points(a).values())
        assert gb.find_submission(A, "José Müller").score == sum(g.points(A).values())
        flagged = gb.find_submission_notebook(A, A, "bad-hang")
        assert flagged.flagged and not gb.find_submission_notebook(A, A, "ada").flagged


# ----------------------------------------------------------------------------- serial run, then a change


def test_serial_run_gives_identical_grades_and_reruns_grade_only_changes(course_class, graded, tmp_path):
    archive, subs, _ = course_class
    out, parallel_seconds = graded
    serial = tmp_path / "serial"
    database = tmp_path / "elsewhere" / "gradebook.sqlite"
    database.parent.mkdir()
    started = time.monotonic()
    grade(archive, serial, "--workers", "1", "--db", f"sqlite:///{database}")
    seconds = time.monotonic() - started
    print(f"\n1 worker: {seconds:.1f} s for the class (2 workers: {parallel_seconds:.1f} s)")
    assert (serial / "grades.csv").read_bytes() == (out / "grades.csv").read_bytes()
    assert database.is_file() and not (serial / "gradebook.db").exists()

    # The same submissions again: nothing is graded. Then one student changes a submission.
    again = grade(archive, serial, "--workers", "1", "--db", f"sqlite:///{database}")
    assert run_info(serial)["graded"] == 0 and "graded 0 submission(s)" in again.stdout
    changed = [s for s in subs]
    blank = next(i for i, s in enumerate(changed) if s.student == "bo" and s.assignment == A)
    changed[blank] = g.Submission("bo", A, {f"{A}.ipynb": g.dumps(g.solution(A))}, 6, "ok")
    archive2 = g.write_zip(tmp_path / "class-v2.zip", changed, HOSTILE, LINKS)
    grade(archive2, serial, "--workers", "1", "--db", f"sqlite:///{database}")
    info = run_info(serial)
    assert info["graded"] == 1 and info["reused"] == len(subs) - 1
    rows = {(r["student"], r["assignment"]): r for r in read_grades_csv(serial / "grades.csv")}
    assert float(rows[("bo", A)]["total"]) == sum(g.points(A).values())

    # --force grades again what it selects, here with kernels started as new processes.
    other = "02_cell_state"
    grade(archive2, serial, "--workers", "1", "--db", f"sqlite:///{database}", "--force", "--assignment", other,
          "--fresh-kernels")
    info = run_info(serial)
    assert info["graded"] == 1 and info["assignments"] == [other]
    forced = {(r["student"], r["assignment"]): r for r in read_grades_csv(serial / "grades.csv")}
    assert set(forced) == {(student, other) for student, _ in rows}
    assert forced[("ada", other)] == {k: v for k, v in rows[("ada", other)].items() if k in forced[("ada", other)]}


# ----------------------------------------------------------------------------- killed midway


def _interrupt_after(archive, out: Path, results: int, how: int, env) -> tuple[subprocess.Popen, str]:
    """Start grading, wait until ``results`` grades are recorded, then send signal ``how``."""
    process = grade(archive, out, "--workers", "2", env=env, wait=False)
    deadline = time.monotonic() + 600
    while len(list((out / "state" / "results").glob("*/*.json"))) < results:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    running = run_processes(f"HIDDEN_STATE_KILL_TEST={env['HIDDEN_STATE_KILL_TEST']}", out)
    # the coordinator, the fork server, two workers, their kernel templates and kernels
    assert len(running) >= 6 and sum("grader.grading.zygote" in p for p in running) >= 2, running
    if how == signal.SIGINT:  # Ctrl-C: the terminal signals the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, how)
    output = process.communicate(timeout=120)[0]
    return process, output


def _gone(marker: str, out: Path, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while run_processes(marker, out) and time.monotonic() < deadline:
        time.sleep(0.5)
    return run_processes(marker, out) == []


def test_an_interrupted_or_killed_run_loses_no_finished_grade_and_resumes(course_class, graded, tmp_path):
    archive, subs, _ = course_class
    out, _ = graded
    resumed = tmp_path / "resumed"
    results = resumed / "state" / "results"
    marker = f"HIDDEN_STATE_KILL_TEST={os.getpid()}"
    env = dict(os.environ, HIDDEN_STATE_KILL_TEST=str(os.getpid()))

    # Ctrl-C: a clean stop with a message; nothing of the run stays behind.
    process, output = _interrupt_after(archive, resumed, 3, signal.SIGINT, env)
    assert process.returncode == 130 and "run the same command again to resume" in output
    assert _gone(marker, resumed)
    interrupted = len(list(results.glob("*/*.json")))

    # A killed coordinator: its workers and kernels follow it within seconds (parent-death signal,
    # the kernels' parent poller), and every grade recorded before stays.
    process, _ = _interrupt_after(archive, resumed, interrupted + 4, signal.SIGKILL, env)
    assert process.returncode == -signal.SIGKILL
    assert _gone(marker, resumed)
    kept = len(list(results.glob("*/*.json")))
    assert interrupted + 4 <= kept < len(subs), "killed midway"

    grade(archive, resumed, "--workers", "2")
    info = run_info(resumed)
    assert info["reused"] == kept and info["graded"] == len(subs) - kept
    assert (resumed / "grades.csv").read_bytes() == (out / "grades.csv").read_bytes()
    shutil.rmtree(resumed / "autograded")  # large; the rest is checked above
