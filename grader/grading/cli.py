"""``python -m grader grade`` (also the ``hidden-state-grade`` command): grade a class in one command."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from .settings import GiB, Limits, MiB

DESCRIPTION = """Grade a class's submissions: grades.csv, feedback for every student and report.html in DIR.
SUBMISSIONS is a folder laid out as <student_id>/<assignment>/<notebook>.ipynb, or a .zip of one.
Run it from the course root (the folder holding solutions/). Re-running on the same DIR grades only
what is new or changed; an interrupted run resumes where it stopped."""


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_size(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5GiB"`` or a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4G, 512M)")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * {"": 1, "K": 2**10, "M": MiB, "G": GiB, "T": 2**40}[unit])


def positive(kind):
    def convert(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value
    return convert


def build_parser(prog: str = "python -m grader grade") -> argparse.ArgumentParser:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", metavar="SUBMISSIONS", type=Path,
                        help="folder of <student>/<assignment>/<notebook>.ipynb, or a .zip of one")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True,
                        help="the grading workspace (created if needed; reused to resume)")
    parser.add_argument("--assignment", metavar="NAME", action="append", default=[],
                        help="grade this assignment (repeatable; default: every assignment found)")
    parser.add_argument("--workers", metavar="N", type=positive(int), default=cpu_count(),
                        help="grading processes (default: the number of CPUs, here %(default)s)")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="gradebook as an SQLAlchemy URL (default: sqlite:///DIR/gradebook.db)")
    parser.add_argument("--timeout", metavar="S", type=positive(float), default=defaults.timeout,
                        help="seconds one notebook may run (default: %(default)g)")
    parser.add_argument("--cell-timeout", metavar="S", type=positive(float), default=None,
                        help=f"seconds one cell may run before it is interrupted (default: "
                             f"{defaults.cell_timeout:g}, at most --timeout)")
    parser.add_argument("--memory", metavar="SIZE", type=parse_size, default=defaults.memory_bytes,
                        help=f"address space of a kernel, e.g. 4G (default: {defaults.memory_bytes / GiB:g}G; "
                             f"torch alone takes about 1.4G)")
    parser.add_argument("--max-output", metavar="SIZE", type=parse_size, default=defaults.max_output_bytes,
                        help=f"output kept per cell (default: {defaults.max_output_bytes // MiB}M)")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="start every kernel as a new Python process instead of forking it from a warm "
                             "template process (slower; each kernel is fresh either way)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade even where no sandbox (bubblewrap, as root) works: student code then runs "
                             "as this user, with the network; every result is marked unsandboxed")
    parser.add_argument("--force", action="store_true", help="grade everything again, even if unchanged")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--course", metavar="PATH", type=Path, default=Path.cwd(),
                        help="the course root, holding solutions/ (default: the current folder)")
    return parser


def options_from(args):
    from .coordinator import RunOptions

    cell_timeout = min(args.cell_timeout or Limits().cell_timeout, args.timeout)
    limits = Limits(timeout=args.timeout, cell_timeout=cell_timeout, memory_bytes=args.memory,
                    max_output_bytes=args.max_output,
                    output_interrupt_bytes=max(16 * args.max_output, Limits().output_interrupt_bytes))
    return RunOptions(submissions=args.submissions, out=args.out, course_root=args.course,
                      assignments=list(dict.fromkeys(args.assignment)), workers=args.workers, db_url=args.db,
                      limits=limits, force=args.force, quiet=args.quiet, fork=not args.fresh_kernels,
                      sandboxed=not args.unsandboxed)


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog or "hidden-state-grade").parse_args(argv)
    from .coordinator import UsageError, run  # imports nbgrader: after the arguments are checked
    from .pool import PoolError
    from .workspace import WorkspaceBusy

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    options = options_from(args)
    try:
        summary = run(options, logging.getLogger("grader.grading"))
    except (UsageError, WorkspaceBusy, PoolError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: every finished grade is kept; run the same command again to resume.",
              file=sys.stderr)
        return 130
    counts = summary.counts()
    attention = sum(count for status, count in counts.items() if status != "ok")
    out = options.out
    print(f"graded {summary.graded} submission(s), kept {summary.reused} from earlier runs, in "
          f"{summary.seconds:g} s: {counts.get('ok', 0)} ok, {attention} need attention "
          f"({', '.join(f'{status} {count}' for status, count in sorted(counts.items()) if status != 'ok') or 'none'}).")
    print(f"grades: {out / 'grades.csv'}\nreport: {out / 'report.html'}\nfeedback: {out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
