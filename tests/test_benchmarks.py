"""The benchmark (``python -m benchmarks``): its generated class, its reading of both graders' results,
its agreement check and its report. No test here looks at a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import classroom, ours, report, stock
from grader import coursework
from grader.grading.results import PartResult, Row, SubmissionResult, write_grades_csv
from grader.release import assignments as coursework_assignments

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the class

def test_the_class_is_the_same_for_the_same_seed_and_differs_for_another():
    assert classroom.plan_class(6, seed=3) == classroom.plan_class(6, seed=3)
    assert classroom.plan_class(6, seed=3) != classroom.plan_class(6, seed=4)


def test_quotas_add_up_and_follow_the_mix():
    assert classroom.quotas(200, classroom.DEFAULT_MIX) == {"full": 120, "partial": 60, "blank": 20}
    for count in (1, 2, 7, 15, 33):
        counts = classroom.quotas(count, classroom.DEFAULT_MIX)
        assert sum(counts.values()) == count
        assert counts["full"] >= counts["partial"] >= counts["blank"]


def test_the_class_has_every_student_and_assignment_once_in_the_right_mix():
    plans = classroom.plan_class(40)
    assignments = coursework_assignments()
    assert [(p.student, p.assignment) for p in plans] == [(s, a) for s in classroom.student_ids(40) for a in assignments]
    assert classroom.mix_of(plans) == {"full": 120, "partial": 60, "blank": 20}
    for plan in plans:
        states = set(plan.cells.values())
        assert list(plan.cells) == list(coursework.solution_cells(coursework.source_notebook(plan.assignment)))
        if plan.kind == "full":
            assert states == {classroom.SOLVED}
        elif plan.kind == "blank":
            assert states == {classroom.STUB}
        else:  # partial: something solved, something not
            assert classroom.SOLVED in states and states - {classroom.SOLVED}, plan
    assert any(classroom.MISTAKE in p.cells.values() for p in plans)
    assert any(classroom.STUB in p.cells.values() for p in plans if p.kind == "partial")


def test_the_notebooks_are_valid_submissions_built_from_the_release(tmp_path):
    plans = classroom.plan_class(3, seed=1)
    root = classroom.write_class(tmp_path / "class", plans)
    assert {p.name for p in root.iterdir()} == set(classroom.student_ids(3))
    kinds_seen = set()
    for plan in plans:
        files = list((root / plan.student / plan.assignment).iterdir())
        assert [f.name for f in files] == [f"{plan.assignment}.ipynb"]
        nbformat.validate(nbformat.read(files[0], as_version=4))
        submitted = json.loads(files[0].read_text(encoding="utf-8"))
        release = coursework.release_notebook(plan.assignment)
        kinds_seen.add(plan.kind)
        if plan.kind == "blank":
            assert submitted == release
            continue
        # Everything but the answer cells is the release's, metadata and locked cells included.
        assert submitted["metadata"] == release["metadata"]
        assert len(submitted["cells"]) == len(release["cells"])
        solved = coursework.solved_sources(plan.assignment)
        for mine, released in zip(submitted["cells"], release["cells"]):
            assert mine["metadata"] == released["metadata"]
            grade_id = coursework.nbgrader_meta(released).get("grade_id")
            if grade_id not in plan.cells:
                assert mine == released
            elif plan.cells[grade_id] == classroom.SOLVED:
                assert coursework.cell_source(mine) == solved[grade_id]
            elif plan.cells[grade_id] == classroom.STUB:
                assert mine == released
            else:  # a plausible mistake: neither the solution nor the stub
                assert coursework.cell_source(mine) not in (solved[grade_id], coursework.cell_source(released))
                assert "BEGIN SOLUTION" not in coursework.cell_source(mine)
        if plan.kind == "full":
            assert submitted == coursework.full_submission(plan.assignment)
    assert kinds_seen == {"full", "partial", "blank"}


def test_expected_points_count_the_tests_of_solved_answers():
    for plan in classroom.plan_class(3, seed=1):
        maximum = sum(float(coursework.nbgrader_meta(c).get("points", 0))
                      for c in coursework.source_notebook(plan.assignment)["cells"]
                      if coursework.nbgrader_meta(c).get("grade"))
        expected = classroom.expected_points(plan)
        if plan.kind == "full":
            assert expected == maximum
        elif plan.kind == "blank":
            assert expected == 0
        else:
            assert 0 <= expected < maximum


# ----------------------------------------------------------------------------- the graders' results

def test_stock_configuration_is_the_course_one_without_grader_integrity():
    config = (ROOT / "nbgrader_config.py").read_text(encoding="utf-8")
    cut = stock.stock_config(config)
    code = cut.split('"""', 2)[-1]  # after the docstring
    assert "import" in config.split('"""', 2)[-1].split("Execute.timeout")[-1]  # the part that is cut
    assert "from grader" not in code and "import grader" not in code and "configure(" not in code
    assert "c.Execute.timeout" in cut and 'c.CourseDirectory.source_directory = "solutions"' in cut
    with pytest.raises(ValueError):
        stock.stock_config("c = get_config()\n")


def test_our_grades_are_read_from_grades_csv(tmp_path):
    def result(student, assignment, scores):
        return SubmissionResult(student, assignment, parts=[
            PartResult(assignment, gid, f"{assignment}:{gid}", 2.0, score) for gid, score in scores.items()])

    rows = [Row(result("ann", "01_a", {"test_x": 2.0, "test_y": 0.0})), Row(result("bo", "02_b", {"test_z": 1.5}))]
    path = tmp_path / "grades.csv"
    write_grades_csv(path, rows, ["01_a:test_x", "01_a:test_y", "02_b:test_z"])
    assert ours.read_grades(path) == {("ann", "01_a"): {"total": 2.0, "parts": {"test_x": 2.0, "test_y": 0.0}},
                                      ("bo", "02_b"): {"total": 1.5, "parts": {"test_z": 1.5}}}


def test_timings_are_summed_and_missing_ones_tolerated(tmp_path):
    results = tmp_path / "state" / "results"
    for folder, name, data in [
        ("ann", "a1", {"notebooks": 1, "timings": {"kernel_start": 1.0, "verification": 2.0}}),
        ("ann", "a2", {"notebooks": 2, "timings": {"kernel_start": 0.5, "writing": [0.25, 0.25]}}),
        ("bo", "a1", {"notebooks": 1}),  # an older record without timings
    ]:
        (results / folder).mkdir(parents=True, exist_ok=True)
        (results / folder / f"{name}.json").write_text(json.dumps(data))
    (results / "bo" / "broken.json").write_text("{not json")
    sums, timed, total = ours.read_timings(tmp_path / "state")
    assert sums == {"kernel_start": 1.5, "verification": 2.0, "writing": 0.5}
    assert (timed, total) == (3, 4)
    assert ours._seconds([1, 2]) == 3 and ours._seconds({"w0": 1.5}) == 1.5 and ours._seconds("x") is None


def grades(**totals):
    return {(s, "a1"): {"total": t, "parts": {"test_x": t}} for s, t in totals.items()}


def test_agreement_finds_every_difference():
    assert report.compare(grades(ann=2.0, bo=0.0), grades(ann=2.0, bo=0.0)) == []
    found = report.compare(grades(ann=2.0, bo=0.0), grades(ann=1.0, cy=0.0))
    assert [(m.student, m.what, m.stock, m.ours) for m in found] == [
        ("ann", "total", 2.0, 1.0), ("ann", "test_x", 2.0, 1.0),
        ("bo", "missing", "graded", "no grade"), ("cy", "missing", "no grade", "graded")]
    extra_part = {("ann", "a1"): {"total": 2.0, "parts": {"test_x": 2.0, "test_y": 0.0}}}
    assert [m.what for m in report.compare(grades(ann=2.0), extra_part)] == ["test_y"]


def fake_runs(stock_grades, our_grades):
    stock_run = stock.StockRun(seconds=400.0, generate_seconds=20.0, peak_rss=500 * 2**20, peak_pss=300 * 2**20,
                               peak_uss=200 * 2**20,
                               per_assignment={"a1": 400.0}, grades=stock_grades, notebooks=100)
    our_run = ours.OursRun(seconds=50.0, peak_rss=3 * 2**30, grades=our_grades,
                           timings={"kernel_start": 20.0, "verification": 30.0}, timed_notebooks=100,
                           notebooks=100, worker_start=4.0, workers=2,
                           run={"statuses": {"ok": 100}, "sandboxed": True, "verified": True},
                           verified=100, sandboxed=100, autograded=100)
    return stock_run, our_run


def test_the_report_has_the_figures_the_breakdown_and_the_agreement():
    stock_run, our_run = fake_runs(grades(ann=2.0), grades(ann=2.0))
    bench = report.Benchmark(parameters={"students": 20, "assignments": 5, "seed": 0, "rounds": 1,
                                         "mix": {"full": 60, "partial": 30, "blank": 10}, "scratch": "/tmp/x"},
                             notebooks=100, expected={("ann", "a1"): 2.0},
                             rounds=[report.Round(1, ["stock", "ours"], stock_run, our_run)],
                             machine={"CPU": "test CPU", "cores": "2"})
    text = report.render(bench)
    assert "| CPU | test CPU |" in text
    assert "| 400.0 | 15.0 | 500 MiB |" in text      # stock: wall, notebooks/min, peak
    assert "| 50.0 | 120.0 | 3.00 GiB |" in text      # ours
    assert "| ratio ours/stock | 0.12× | 8.00× | 6.14× |" in text
    assert "**Our throughput is 8.00× stock nbgrader's**" in text and "met)" in text
    assert "| stock | 500 MiB | 300 MiB | 200 MiB |" in text  # RSS, PSS, USS sums
    assert "| ours | 3.00 GiB | n/a | n/a |" in text                  # not measured: said so, not 0
    assert "| kernel start | 0.200 | 20 % |" in text  # 20 s / 100 notebooks, of 2 × 50 / 100 = 1 s each
    assert "| process start-up (worker start-up, amortized) | 0.040 |" in text
    assert "| imports | n/a | n/a |" in text
    assert "identical points, total and every part, for all 1 submissions" in text
    assert "every total is what the plan expects" in text
    assert "## Book build\n\nSkipped" in text
    assert not bench.grades_differ and not bench.errors

    slower, _ = fake_runs(grades(ann=2.0), grades(ann=2.0))
    slower.seconds = 600.0
    bench.rounds.append(report.Round(2, ["ours", "stock"], slower, our_run))
    text = report.render(bench)
    assert "## Round 2 (ours then stock)" in text and "## Summary (median of 2 rounds)" in text
    assert "| 500.0 | 12.0 | 500 MiB |" in text and "**Our throughput is 10.00× stock nbgrader's**" in text

    stock_run, our_run = fake_runs(grades(ann=2.0), grades(ann=0.0))
    bench.rounds = [report.Round(1, ["ours", "stock"], stock_run, our_run)]
    text = report.render(bench)
    assert bench.grades_differ
    assert "**2 differences**" in text and "| ann | a1 | total | 2.0 | 0.0 |" in text
    assert "**they differ**" in text


@pytest.mark.parametrize("same", [True, False])
def test_the_command_exits_non_zero_when_the_graders_disagree(tmp_path, monkeypatch, same):
    """The whole command with stand-ins for the two graders: RESULTS.md is written, and the exit code
    says whether the points agreed."""
    seen = {}

    def fake_stock(submissions, folder, course_root, assignments, students, log):
        seen["students"] = sorted(p.name for p in submissions.iterdir())
        totals = {(s, a): {"total": 1.0, "parts": {"t": 1.0}} for s in students for a in assignments}
        return stock.StockRun(seconds=10.0, grades=totals, notebooks=len(totals))

    def fake_ours(submissions, out, course_root, log):
        totals = {(s, a): {"total": 1.0 if same else 0.5, "parts": {"t": 1.0 if same else 0.5}}
                  for s in seen["students"] for a in coursework_assignments()}
        return ours.OursRun(seconds=2.0, grades=totals, notebooks=len(totals), workers=2)

    monkeypatch.setattr(stock, "run", fake_stock)
    monkeypatch.setattr(ours, "run", fake_ours)
    results = tmp_path / "RESULTS.md"
    code = bench_main.main(["--students", "1", "--skip-book", "--out", str(tmp_path / "scratch"),
                            "--results", str(results)])
    assert code == (0 if same else 1)
    text = results.read_text(encoding="utf-8")
    assert "**Our throughput is 5.00× stock nbgrader's**" in text
    assert ("**they differ**" in text) != same
    assert (tmp_path / "scratch" / "class.json").is_file() and seen["students"] == ["student001"]


def test_the_book_build_is_not_attempted_without_the_sites_assets(tmp_path):
    times = bench_main.book.time_builds(tmp_path, tmp_path / "out", tmp_path / "log")
    assert times.cold is None and "make book" in times.problem


# ----------------------------------------------------------------------------- end to end

@pytest.mark.slow
def test_the_benchmark_end_to_end_with_two_students(tmp_path):
    """``python -m benchmarks --students 2 --skip-book``: both graders run, agree, and RESULTS.md has figures."""
    results = tmp_path / "RESULTS.md"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--students", "2", "--skip-book",
                          "--out", str(tmp_path / "scratch"), "--results", str(results)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    text = results.read_text(encoding="utf-8")
    assert text.strip() in run.stdout  # printed, and written
    assert "identical points, total and every part, for all 10 submissions" in text
    assert "**Our throughput is " in text
    for line in text.splitlines():
        if line.startswith(("| stock nbgrader", "| ours (")):
            wall, per_minute, peak = [cell.strip() for cell in line.strip("|").split("|")[1:]]
            assert float(wall) > 0 and float(per_minute) > 0 and peak.endswith(("MiB", "GiB")), line
    assert "a trusted verdict in 10 of 10 graded notebooks" in text


# ----------------------------------------------------------------------------- memory


def test_the_memory_of_a_forked_tree_counts_shared_pages_once_in_pss(tmp_path):
    """A parent that touches 200 MiB, then forks two children that keep it shared: the RSS sum counts it
    three times, the PSS sum about once, the USS sum (pages no other process shares) hardly at all."""
    from benchmarks import sampling

    script = ("import os, sys, time\n"
              "block = bytearray(200 * 2**20)\n"
              "for i in range(0, len(block), 4096): block[i] = 1\n"
              "for _ in range(2):\n"
              "    if os.fork() == 0:\n"
              "        time.sleep(30); os._exit(0)\n"
              "print('ready', flush=True); time.sleep(30)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        import psutil

        memory = sampling.tree_memory(psutil.Process(parent.pid))
    finally:
        for child in psutil.Process(parent.pid).children():
            child.kill()
        parent.kill()
        parent.wait()
    block = 200 * 2**20
    assert memory.rss > 2.8 * block
    assert 0.9 * block < memory.pss < 1.6 * block
    assert memory.uss < 0.5 * block
