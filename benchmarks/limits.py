"""Pathological notebooks, timed: ``python -m benchmarks.limits [--kinds K ...] [--before CHECKOUT]``.

Each hostile notebook of ``tests/hostile/notebooks.py`` (the full-marks solution with one thing
blown up: 100,000 cells, a 20 MiB cell, deep nesting, 200,000 stored outputs, a 40 MiB image) is
graded alone by ``python -m grader grade`` (one worker, sandboxed, in a fresh workspace); the
script prints the wall-clock seconds, the status and the reason of each. ``--before CHECKOUT``
grades the same notebooks with the grader of another checkout too (e.g. the main branch, before
the limits), side by side. It also times reading each notebook in process
(:func:`grader.grading.notebook_reader.read_notebook`, the first thing the worker does). It asserts
nothing: the figures depend on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile import notebooks as hostile  # noqa: E402 - the builders live with the tests

import grading_class as g  # noqa: E402

from grader.grading import notebook_reader  # noqa: E402

A = "01_hidden_state"
KINDS = ["many_cells", "huge_cell", "deep_nesting", "many_outputs", "huge_image"]


def grade_alone(checkout: Path, submission: g.Submission, scratch: Path, timeout: float) -> tuple[float, str]:
    """``(seconds, "status: reason")`` of grading one submission with the grader in ``checkout``."""
    folder = scratch / "class"
    g.write_folder(folder, [submission])
    out = scratch / "out"
    command = [sys.executable, "-B", "-m", "grader", "grade", str(folder), "--out", str(out), "--quiet",
               "--workers", "1"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, f"(still running after {timeout:.0f} s; stopped)"
    seconds = time.monotonic() - started
    if done.returncode != 0:
        return seconds, f"(exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] })"
    with open(out / "grades.csv", encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle))
    return seconds, f"{row['status']}: {row['reason'][:90]}"


def read_seconds(submission: g.Submission, scratch: Path) -> tuple[float, str]:
    path = scratch / "read.ipynb"
    path.write_bytes(submission.files[f"{A}.ipynb"])
    started = time.process_time()
    try:
        notebook_reader.read_notebook(path)
        outcome = "read"
    except notebook_reader.Unreadable as exc:
        outcome = f"refused: {exc}"[:90]
    return time.process_time() - started, outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limits", description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS)
    parser.add_argument("--before", type=Path, metavar="CHECKOUT", help="also grade with this checkout's grader")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run (default: %(default)s)")
    args = parser.parse_args(argv)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    for kind in args.kinds:
        submission = getattr(hostile, kind)(A)
        size = len(submission.files[f"{A}.ipynb"]) / 2**20
        with tempfile.TemporaryDirectory() as scratch:
            seconds, outcome = read_seconds(submission, Path(scratch))
        print(f"\n{kind} ({size:.1f} MiB)\n  read_notebook: {seconds:.2f} s CPU, {outcome}")
        checkouts = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
        for label, checkout in checkouts:
            with tempfile.TemporaryDirectory() as scratch:
                seconds, outcome = grade_alone(checkout, submission, Path(scratch), args.timeout)
            print(f"  {label:6} grade: {seconds:6.1f} s  {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
