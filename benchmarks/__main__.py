"""``python -m benchmarks`` (``make bench``): our grading against stock nbgrader, and the book build.

1. generate a class (``--students``, a seed) in a scratch folder;
2. for each round, grade it with stock nbgrader and with ``python -m grader grade``, in alternating
   order (round 1: stock first), each from a fresh folder;
3. time the book build, cold and unchanged (unless ``--skip-book``);
4. print the report and write it to ``--results`` (``benchmarks/RESULTS.md``).

Exits 1 when the two graders gave different points or a run failed, else 0; times are reported,
never judged. A default scratch folder is removed at the end unless something went wrong.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.release import assignments as course_assignments

from . import book, classroom, ours, report, stock

ROOT = Path(__file__).resolve().parents[1]


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=positive, default=40, metavar="N",
                        help="students in the generated class (default: %(default)s)")
    parser.add_argument("--rounds", type=positive, default=1, metavar="R",
                        help="times to grade the class with both graders, alternating who goes first "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated class (default: %(default)s)")
    parser.add_argument("--skip-book", action="store_true", help="do not time the book build")
    parser.add_argument("--skip-stock", action="store_true", help="grade with ours only (no comparison)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="scratch folder, kept afterwards (default: a new folder under the temp directory, "
                             "removed at the end unless something went wrong)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md", metavar="PATH",
                        help="where to write the report (default: benchmarks/RESULTS.md)")
    return parser


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def grade_round(number: int, order: list[str], submissions: Path, scratch: Path, students: list[str],
                assignments: list[str]) -> report.Round:
    """One round: each grader in ``order``, from a fresh folder of its own."""
    result = report.Round(number=number, order=order)
    logs = scratch / "logs"
    for grader in order:
        if grader == "stock":
            say(f"round {number}: stock nbgrader (generate_assignment, then autograde each assignment)")
            result.stock = stock.run(submissions, scratch / f"round{number}-stock", ROOT, assignments, students,
                                     logs / f"round{number}-stock.log")
            say(f"round {number}: stock nbgrader took {result.stock.seconds:.1f} s")
        else:
            say(f"round {number}: python -m grader grade")
            result.ours = ours.run(submissions, scratch / f"round{number}-ours", ROOT, logs / f"round{number}-ours.log")
            say(f"round {number}: ours took {result.ours.seconds:.1f} s")
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; give a new or empty scratch folder", file=sys.stderr)
        return 2
    scratch = (args.out or Path(tempfile.mkdtemp(prefix="hidden-state-bench-"))).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())  # others' work on the machine skews the figures

    assignments = course_assignments(ROOT)
    plans = classroom.plan_class(args.students, args.seed, assignments=assignments)
    submissions = classroom.write_class(scratch / "class", plans)
    classroom.write_manifest(scratch / "class.json", plans, args.seed)
    students = classroom.student_ids(args.students)
    say(f"class of {args.students} students in {submissions}: {classroom.mix_of(plans)}")

    bench = report.Benchmark(
        parameters={"students": args.students, "assignments": len(assignments), "seed": args.seed,
                    "rounds": args.rounds, "mix": classroom.mix_of(plans), "scratch": str(scratch)},
        notebooks=len(plans), expected={(p.student, p.assignment): classroom.expected_points(p) for p in plans})
    for number in range(1, args.rounds + 1):
        order = ["ours"] if args.skip_stock else (["stock", "ours"] if number % 2 else ["ours", "stock"])
        bench.rounds.append(grade_round(number, order, submissions, scratch, students, assignments))
    if not args.skip_book:
        say("book: building cold, then again unchanged")
        bench.book = book.time_builds(ROOT, scratch / "book", scratch / "logs" / "book.log")
    bench.machine = {**report.machine(), "load average at the start (1, 5, 15 min)": load}
    failed = bench.grades_differ or bool(bench.errors)
    keep = args.out is not None or failed
    bench.parameters["scratch"] = str(scratch) if keep else None

    text = report.render(bench)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    say(f"wrote {args.results}")

    if bench.grades_differ:
        say("FAILED: stock nbgrader and ours gave different points (see 'Grades')")
    for error in bench.errors:
        say(f"FAILED: {error}")
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        say(f"scratch folder and logs: {scratch}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
