"""Limits that hold everywhere (issue 13): a killed run takes its whole process tree with it and an
immediate re-run gives the uninterrupted grades; a notebook shaped to be expensive for the grader
itself gets a bounded status while the rest of the class is graded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grading_class as g
from grader.grading import bounds, lifeline, notebook_reader
from grader.grading.coordinator import RunOptions, run
from grader.grading.results import read_grades_csv
from grader.grading.settings import Limits
from grader.grading.workspace import Workspace
from hostile import notebooks as hostile
from processes import run_processes

A = "01_hidden_state"
ROOT = Path(__file__).resolve().parents[1]
LIMITS = ["--timeout", "60", "--cell-timeout", "30"]


def _command(submissions: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out), "--quiet",
            "--workers", "2", *LIMITS]


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _still_running(snapshot: dict[int, str]) -> list[int]:
    """The processes of ``snapshot`` (pid -> start time) that are alive, and the same processes."""
    return [pid for pid, started in snapshot.items() if _start_time(pid) == started and lifeline.alive(pid)]


def _rows(out: Path) -> dict[str, tuple[float, str]]:
    return {row["student"]: (float(row["total"]), row["status"]) for row in read_grades_csv(out / "grades.csv")}


# ----------------------------------------------------------------------------- killed coordinator


@pytest.mark.slow
def test_a_killed_coordinator_takes_its_tree_and_an_immediate_rerun_gives_the_same_grades(tmp_path):
    subs = g.good_kinds(A) + [g.Submission(f"copy-{i}", A, g.good_kinds(A)[0].files, g.good_kinds(A)[0].score, "ok")
                              for i in range(3)]
    g.write_folder(tmp_path / "class", subs)
    out = tmp_path / "out"
    marker = f"HIDDEN_STATE_LIMITS_TEST={os.getpid()}"
    env = dict(os.environ, HIDDEN_STATE_LIMITS_TEST=str(os.getpid()))
    log = open(tmp_path / "first.log", "w+")  # not a pipe: reading one would wait for the old tree to close it
    first = subprocess.Popen(_command(tmp_path / "class", out), cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((out / "state" / "results").glob("*/*.json")):
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    tree = {int(line.split(":")[0]): line for line in run_processes(marker, out)}
    snapshot = {pid: _start_time(pid) for pid in tree}
    # the coordinator, the fork server, two workers, their kernel templates and kernels
    assert len(snapshot) >= 6, run_processes(marker, out)

    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    log.close()
    # A new run takes the workspace's lock at once (here in this process, without a run's start-up time):
    # by the time it holds it, nothing of the old tree may be left.
    workspace = Workspace(out).open()
    left_at_lock = _still_running(snapshot)
    workspace.close()
    assert left_at_lock == [], f"old processes alive when a new run took the lock: {[tree[p] for p in left_at_lock]}"
    second = subprocess.run(_command(tmp_path / "class", out), cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _still_running(snapshot) == []
    assert _rows(out) == {s.student: (float(s.score), "ok") for s in subs}


def test_a_run_waits_for_a_dead_runs_lock_holders_and_refuses_a_live_run(tmp_path):
    """The lock of a run whose coordinator is dead is taken once its last holder is gone (here: killed
    after the grace period); a live coordinator's lock is refused at once."""
    from grader.grading.workspace import WorkspaceBusy

    root = tmp_path / "ws"
    root.mkdir()
    # A stand-in for an orphaned worker: holds the lock, and its recorded coordinator is dead.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"h = open({str(root / '.lock')!r}, 'a+'); fcntl.flock(h, fcntl.LOCK_EX)\n"
        "h.truncate(0); h.write('999999999\\n'); h.flush(); print('locked', flush=True); time.sleep(600)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        workspace = Workspace(root).open(settle=1.0)
        try:
            assert holder.wait(timeout=10) == -signal.SIGKILL  # cleared after the grace period
            assert time.monotonic() - started >= 1.0
            assert (root / ".lock").read_text().split() == [str(os.getpid())]
            with pytest.raises(WorkspaceBusy, match=f"process {os.getpid()}"):  # a live run: refused
                Workspace(root).open(settle=1.0)
        finally:
            workspace.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_worker_ends_every_descendant_even_orphaned_ones(tmp_path):
    """:func:`lifeline.follow` makes a process a subreaper that ends its whole tree when the process it
    follows dies: here a grandchild whose parent is gone (as a kernel whose template was killed)."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        "from grader.grading import lifeline\n"
        "lifeline.follow(int(sys.argv[1]))\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, \"-c\", \"import time; time.sleep(600)\"], start_new_session=True); "
        "print(p.pid, flush=True)'], stdout=subprocess.PIPE, text=True)\n"
        "print(os.getpid(), child.stdout.readline().strip(), flush=True)\n"
        "child.wait()\n"
        "time.sleep(600)\n")
    coordinator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    worker = subprocess.Popen([sys.executable, str(script), str(coordinator.pid)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        worker_pid, orphan = map(int, worker.stdout.readline().split())
        assert lifeline.alive(orphan) and orphan in lifeline.descendants(worker_pid)  # re-parented to the worker
        coordinator.kill()
        assert worker.wait(timeout=10) == 1
        assert not lifeline.alive(orphan)
    finally:
        for process in (coordinator, worker):
            process.kill()
            process.wait()


# ----------------------------------------------------------------------------- bounded processing


@pytest.mark.parametrize(("build", "size"), [(hostile.many_cells, 20_000), (hostile.huge_cell, 9),
                                             (hostile.deep_nesting, 100), (hostile.huge_image, 9)])
def test_a_notebook_too_big_to_process_is_refused_at_once_with_the_reason(tmp_path, build, size):
    sub = build(A, size)  # just past the limit (the benchmark and the class test use the default sizes)
    path = tmp_path / "nb.ipynb"
    path.write_bytes(sub.files[f"{A}.ipynb"])
    started = time.process_time()
    with pytest.raises(notebook_reader.Unreadable, match=sub.reason_contains):
        notebook_reader.read_notebook(path)
    print(f"{build.__name__}: refused after {time.process_time() - started:.2f} s of CPU")


def test_stored_outputs_are_dropped_before_anything_walks_them(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(hostile.many_outputs(A, outputs=50_000).files[f"{A}.ipynb"])
    notebook, _ = notebook_reader.read_notebook(path)
    assert all(cell.get("outputs", []) == [] for cell in notebook.cells)
    assert len(notebook.cells) == len(g.solution(A)["cells"])


def test_the_shape_limits_leave_honest_notebooks_alone(tmp_path):
    for a in g.assignments():
        path = tmp_path / f"{a}.ipynb"
        path.write_bytes(g.dumps(g.solution(a)))
        notebook_reader.read_notebook(path)  # raises if refused


def test_a_cpu_budget_stops_the_phase_that_overruns_it():
    with pytest.raises(bounds.PhaseLimit, match="spinning took more than 0.2 s"):
        with bounds.cpu_budget("spinning", 0.2):
            while True:
                pass
    with bounds.cpu_budget("sleeping", 0.2):
        time.sleep(0.5)  # wall-clock time is not CPU time: no limit


@pytest.mark.slow
def test_hostile_notebooks_get_bounded_statuses_while_the_class_is_graded(tmp_path):
    honest = g.good_kinds(A)[:2]
    subs = honest + hostile.all_kinds(A)
    g.write_folder(tmp_path / "class", subs)
    started = time.monotonic()
    summary = run(RunOptions(submissions=tmp_path / "class", out=tmp_path / "out", course_root=ROOT, workers=2,
                             quiet=True, limits=Limits(timeout=60, cell_timeout=30)))
    print(f"\nhostile class: {time.monotonic() - started:.1f} s")
    rows = {row.result.student: row for row in summary.rows}
    assert set(rows) == {s.student for s in subs}
    for sub in subs:
        row = rows[sub.student]
        assert (row.result.total, row.status) == (sub.score, sub.status), (sub.student, row.reason)
        assert sub.reason_contains in row.reason


@pytest.mark.slow
def test_a_phase_over_its_cpu_budget_gives_limit_exceeded_and_the_next_student_is_still_graded(tmp_path):
    """With a budget no grading fits in, every submission stops at its first phase; each gets the status and
    a feedback page, and each is graded by a fresh worker (the one that hit the bound is replaced)."""
    g.write_folder(tmp_path / "class", g.good_kinds(A)[:3])
    summary = run(RunOptions(submissions=tmp_path / "class", out=tmp_path / "out", course_root=ROOT, workers=1,
                             quiet=True, limits=Limits(timeout=60, cell_timeout=30, phase_cpu_seconds=0.001)))
    assert len(summary.rows) == 3 and summary.graded == 3
    for row in summary.rows:
        assert row.status == "limit_exceeded" and "of the grader's CPU time" in row.reason, row.reason
        assert row.result.total == 0 and row.result.feedback
        assert (tmp_path / "out" / row.result.feedback[0]).is_file()
