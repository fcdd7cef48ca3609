"""The exercise checks' speed, live and from recorded cases: ``python -m benchmarks.checks [--repeat N]``.

For every check it times ``run_check`` on the part's solution (the notebook's own code, as a student
would run it, forbidden-call rules on) over the visible seeds, from the live source (cases generated,
the reference run next to the solution: the instructor's side) and from recordings (the student
kit), the median of ``--repeat`` runs each; and how long recording takes and how large it is. It
prints a table and totals; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from grader.checks import ASSIGNMENTS, run_check, sources
from grader.coursework import solution_cells, source_notebook, strip_markers


def solutions() -> dict:
    """part -> the solution of the notebook, defined as a notebook cell defines it."""
    import linecache
    import math

    from torch import nn

    found = {}
    for assignment in ASSIGNMENTS:
        namespace = {"torch": torch, "nn": nn, "math": math, "__name__": "__main__"}
        for index, (part, code) in enumerate(solution_cells(source_notebook(assignment)).items()):
            filename = f"<solution {assignment} {index}>"
            code = strip_markers(code)
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - the course's own solutions
        found.update({check.name: namespace[check.name] for check in ASSIGNMENTS[assignment]})
    return found


def median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checks = [check for group in ASSIGNMENTS.values() for check in group]
    fns = solutions()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        counts = sources.record(checks, Path(folder))
        record_seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        recorded = sources.RecordedSource(Path(folder))
        for check in checks:  # read every recording once, as a kernel does on its first check()
            recorded.cases(check, 0, False)
        rows, live_total, recorded_total = [], 0.0, 0.0
        for check in checks:
            live = median_seconds(lambda: run_check(check, fns[check.name], quiet=True), args.repeat)
            kit = median_seconds(lambda: run_check(check, fns[check.name], quiet=True, source=recorded), args.repeat)
            live_total, recorded_total = live_total + live, recorded_total + kit
            rows.append(f"| `{check.name}` | {counts[check.name]} | {1e3 * live:.1f} | {1e3 * kit:.1f} | "
                        f"{live / kit:.1f}x |")
    print(f"torch {torch.__version__}, {args.repeat} runs per figure (median), one intra-op thread\n")
    print("| check | visible cases | live (ms) | recorded (ms) | live / recorded |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"| all {len(checks)} | {sum(counts.values())} | {1e3 * live_total:.0f} | {1e3 * recorded_total:.0f} | "
          f"{live_total / recorded_total:.1f}x |")
    print(f"\nrecording every check: {record_seconds:.1f} s, {size / 2**20:.1f} MiB (JSON and .npz, uncompressed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
