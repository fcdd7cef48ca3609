"""The machine, grade agreement, and ``RESULTS.md``: everything the benchmark reports, as Markdown.

:func:`compare` checks that two graders gave the same points, total and per part, for every
submission; :func:`render` turns a :class:`Benchmark` (the parameters, every round's runs, the
book's times) into the Markdown that is both printed and written to ``RESULTS.md``. Figures only:
nothing here judges a time, except saying whether the throughput goal was met.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata

import psutil

from .ours import PHASES

GOAL = 4.0  # our throughput over stock nbgrader's, on the 2-core machine
TOLERANCE = 1e-6
PHASE_LABELS = {"kernel_start": "kernel start", "imports": "imports", "student_code": "the student's code",
                "verification": "verification", "writing": "writing results"}


# ----------------------------------------------------------------------------- the machine

def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    system = f"{platform.system()} {platform.release()}"
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            pretty = next((line.split("=", 1)[1].strip().strip('"') for line in handle
                           if line.startswith("PRETTY_NAME=")), "")
        system = f"{pretty}, {system}" if pretty else system
    except OSError:
        pass
    info = {"CPU": cpu, "cores": f"{os.cpu_count()} ({usable} usable)",
            "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB", "OS": system,
            "Python": platform.python_version()}
    for package in ("torch", "nbgrader", "jupyter-book", "myst-nb"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    bwrap = shutil.which("bwrap")
    info["bubblewrap"] = (subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
                          if bwrap else "not installed")
    return info


# ----------------------------------------------------------------------------- grade agreement

@dataclass
class Mismatch:
    student: str
    assignment: str
    what: str        # "total", a part's grade id, or "missing"
    stock: object
    ours: object


def compare(stock: dict, ours: dict) -> list[Mismatch]:
    """Every difference between two ``(student, assignment) -> {"total", "parts"}`` gradings."""
    mismatches = []
    for key in sorted(set(stock) | set(ours)):
        student, assignment = key
        if key not in stock or key not in ours:
            mismatches.append(Mismatch(student, assignment, "missing",
                                       "graded" if key in stock else "no grade",
                                       "graded" if key in ours else "no grade"))
            continue
        left, right = stock[key], ours[key]
        if abs(left["total"] - right["total"]) > TOLERANCE:
            mismatches.append(Mismatch(student, assignment, "total", left["total"], right["total"]))
        for part in sorted(set(left["parts"]) | set(right["parts"])):
            a, b = left["parts"].get(part), right["parts"].get(part)
            if a is None or b is None or abs(a - b) > TOLERANCE:
                mismatches.append(Mismatch(student, assignment, part, a, b))
    return mismatches


def off_plan(grades: dict, expected: dict) -> list[tuple]:
    """Submissions whose total is not what the class plan expects: (student, assignment, expected, got)."""
    return [(*key, expected[key], grades[key]["total"]) for key in sorted(expected)
            if key in grades and abs(grades[key]["total"] - expected[key]) > TOLERANCE]


# ----------------------------------------------------------------------------- the report

@dataclass
class Round:
    number: int
    order: list            # the graders in the order they ran, e.g. ["stock", "ours"]
    stock: object = None   # benchmarks.stock.StockRun
    ours: object = None    # benchmarks.ours.OursRun

    @property
    def mismatches(self) -> list[Mismatch] | None:
        if self.stock is None or self.ours is None:
            return None
        return compare(self.stock.grades, self.ours.grades)


@dataclass
class Benchmark:
    parameters: dict                      # students, seed, rounds, mix, scratch, ...
    notebooks: int                        # notebooks in the class
    expected: dict = field(default_factory=dict)   # (student, assignment) -> points the plan expects
    rounds: list = field(default_factory=list)
    book: object = None                   # benchmarks.book.BookTimes
    machine: dict = field(default_factory=dict)
    date: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def errors(self) -> list[str]:
        found = []
        for run in self.rounds:
            for grader in (run.stock, run.ours):
                if grader is not None:
                    found += [f"round {run.number}: {error}" for error in grader.errors]
        if self.book is not None and self.book.problem:
            found.append(f"book: {self.book.problem}")
        return found

    @property
    def grades_differ(self) -> bool:
        return any(run.mismatches for run in self.rounds)


def size(nbytes: float | None) -> str:
    if not nbytes:
        return "n/a"
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def per_minute(notebooks: int, wall: float | None) -> str:
    return "n/a" if not wall else f"{notebooks * 60 / wall:.1f}"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _divide(a, b):
    return a / b if a is not None and b else None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _grading_table(notebooks: int, stock_s, ours_s, stock_rss, ours_rss, workers) -> list[str]:
    speedup = _divide(stock_s, ours_s)
    return _table(["", "wall time (s)", "notebooks/min", "peak memory (RSS sum)"], [
        ["stock nbgrader (`nbgrader autograde`, each assignment in series)", seconds(stock_s),
         per_minute(notebooks, stock_s), size(stock_rss)],
        [f"ours (`python -m grader grade`, {workers or 'default'} workers)", seconds(ours_s),
         per_minute(notebooks, ours_s), size(ours_rss)],
        ["ratio ours/stock", ratio(_divide(ours_s, stock_s)), ratio(speedup), ratio(_divide(ours_rss, stock_rss))],
    ])


def _memory_table(stock, ours) -> list[str]:
    """Peak memory of each grader's process tree by three measures (see :mod:`.sampling`)."""
    def row(label, run):
        return [label] + [size(getattr(run, f"peak_{kind}", None) or None if run else None)
                          for kind in ("rss", "pss", "uss")]
    return _table(["peak memory of the process tree", "RSS sum", "PSS sum (real footprint)", "USS sum (private)"],
                  [row("stock", stock), row("ours", ours)])


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _breakdown(bench: Benchmark) -> list[str]:
    """Seconds per notebook of each phase of our grading, and its share of the worker time."""
    runs = [run.ours for run in bench.rounds if run.ours is not None]
    if not runs:
        return ["Our command did not run."]
    notebooks = sum(run.notebooks for run in runs) or bench.notebooks * len(runs)
    timed = sum(run.timed_notebooks for run in runs)
    budget = sum((run.workers or 1) * run.seconds for run in runs) / notebooks if notebooks else None
    recorded = {phase for run in runs for phase in run.timings}
    phases = [*PHASES, *sorted(recorded - set(PHASES))]

    def mean(phase):
        return sum(run.timings.get(phase, 0.0) for run in runs) / timed if timed and phase in recorded else None

    starts = [run.worker_start for run in runs]
    start = sum(starts) / notebooks if notebooks and None not in starts else None
    rows = [("process start-up (worker start-up, amortized)", start)]
    rows += [(PHASE_LABELS.get(phase, phase), mean(phase)) for phase in phases]
    accounted = sum(value for _, value in rows if value is not None)
    rest = budget - accounted if budget is not None else None
    rows.append(("not accounted for (preparing assignments, the coordinator, idle workers)",
                 rest if rest is None or rest >= 0 else None))  # below zero when phases overlap

    def share(value):
        return "n/a" if value is None or not budget else f"{100 * value / budget:.0f} %"

    lines = [f"Seconds per notebook, averaged over {notebooks} graded notebooks"
             + (f" in {len(runs)} rounds" if len(runs) > 1 else "")
             + (f" ({timed} of them with recorded timings)" if timed != notebooks else "")
             + ". The share is of the worker time (workers × wall time"
             + (f": {budget:.2f} s per notebook)." if budget is not None else ")."), ""]
    lines += _table(["phase", "s per notebook", "share of worker time"],
                    [[label, "n/a" if value is None else f"{value:.3f}", share(value)] for label, value in rows])
    if not timed:
        lines += ["", "No graded submission recorded `timings` (in `DIR/state/results/<folder>/<assignment>.json`)."]
    if None in starts:
        lines += ["", "`DIR/run.json` has no `worker_start`: process start-up is n/a."]
    return lines


def _agreement(bench: Benchmark) -> list[str]:
    lines = []
    for run in bench.rounds:
        mismatches = run.mismatches
        label = f"Round {run.number}: "
        if mismatches is None:
            lines.append(label + "not compared (only one grader ran).")
        elif not mismatches:
            compared = len(set(run.stock.grades) | set(run.ours.grades))
            lines.append(label + f"identical points, total and every part, for all {compared} submissions.")
        else:
            lines.append(label + f"**{len(mismatches)} differences**:")
            lines += [""] + _table(["student", "assignment", "what", "stock", "ours"],
                                   [[m.student, m.assignment, m.what, m.stock, m.ours] for m in mismatches[:50]])
            if len(mismatches) > 50:
                lines.append(f"... and {len(mismatches) - 50} more.")
            lines.append("")
    for run in bench.rounds[-1:]:
        for name, grader in (("stock nbgrader", run.stock), ("ours", run.ours)):
            if grader is None or not bench.expected:
                continue
            off = off_plan(grader.grades, bench.expected)
            lines.append(f"Against the class plan ({name}, round {run.number}): "
                         + ("every total is what the plan expects." if not off else
                            f"{len(off)} totals differ from the plan, e.g. "
                            + ", ".join(f"{s}/{a} expected {e:g} got {g:g}" for s, a, e, g in off[:5]) + "."))
    return lines


def _integrity(bench: Benchmark) -> list[str]:
    lines = []
    for run in bench.rounds:
        ours = run.ours
        if ours is None:
            continue
        statuses = ours.run.get("statuses", {})
        flags = ", ".join(f"{flag} {ours.run[flag]}" for flag in ("verified", "sandboxed") if flag in ours.run)
        lines.append(f"Round {run.number}: a trusted verdict in {ours.verified} of {ours.autograded} graded "
                     f"notebooks, verified in the sandbox in {ours.sandboxed}"
                     + (f" (`run.json`: {flags})" if flags else "") + "; statuses: "
                     + (", ".join(f"{status} {count}" for status, count in sorted(statuses.items())) or "n/a") + ".")
    return lines


def _book(bench: Benchmark) -> list[str]:
    book = bench.book
    if book is None:
        return ["Skipped (`--skip-book`)."]
    lines = _table(["build", "wall time (s)", "peak memory (RSS sum)"], [
        [label, seconds(m.seconds if m else None), size(m.peak_rss if m else None)]
        for label, m in (("cold (fresh output folder, no execution cache)", book.cold),
                         ("again, nothing changed", book.unchanged))])
    return lines + (["", f"Problem: {book.problem}"] if book.problem else [])


def render(bench: Benchmark) -> str:
    """``RESULTS.md``: the machine, the parameters, each round, the summary, the breakdown, the book."""
    p = bench.parameters
    lines = ["# Benchmark: grading a class, ours against stock nbgrader", "",
             f"Written by `python -m benchmarks` (`make bench`) on {bench.date}; the command rewrites this file.", "",
             "## Machine", ""]
    lines += _table(["", ""], [[key, value] for key, value in bench.machine.items()])
    mix = ", ".join(f"{count} {kind}" for kind, count in p.get("mix", {}).items())
    lines += ["", "## Parameters", "",
              f"{p.get('students')} students × {p.get('assignments')} assignments = {bench.notebooks} notebooks "
              f"({mix}; seed {p.get('seed')}; every submission honest), {p.get('rounds')} round(s), each running "
              "both graders, in alternating order. Stock nbgrader: the course's `nbgrader_config.py` without "
              "`grader.integrity`, `nbgrader autograde` for each assignment in series; its `generate_assignment` "
              "is timed apart. Ours: `python -m grader grade` with its defaults (a worker per CPU, the sandbox and "
              "the trusted verification on), preparing the assignments included. Scratch folder and logs: "
              + (f"`{p['scratch']}`." if p.get("scratch") else "removed at the end (`--out DIR` keeps them)."), ""]
    for run in bench.rounds:
        stock, ours = run.stock, run.ours
        lines += [f"## Round {run.number} ({' then '.join(run.order)})", ""]
        lines += _grading_table(bench.notebooks, stock.seconds if stock else None, ours.seconds if ours else None,
                                stock.peak_rss if stock else None, ours.peak_rss if ours else None,
                                ours.workers if ours else None)
        lines += [""] + _memory_table(stock, ours)
        if stock is not None:
            lines += ["", f"Stock `nbgrader generate_assignment`, all assignments (not in the figures above): "
                          f"{stock.generate_seconds:.1f} s. Stock `autograde` per assignment: "
                      + ", ".join(f"{a} {s:.1f} s" for a, s in stock.per_assignment.items()) + "."]
        lines.append("")
    stock_s = _median([run.stock.seconds for run in bench.rounds if run.stock])
    ours_s = _median([run.ours.seconds for run in bench.rounds if run.ours])
    speedup = _divide(stock_s, ours_s)
    lines += ["## Summary" + (f" (median of {len(bench.rounds)} rounds)" if len(bench.rounds) > 1 else ""), ""]
    if len(bench.rounds) > 1:
        lines += _grading_table(bench.notebooks, stock_s, ours_s,
                                _median([run.stock.peak_rss for run in bench.rounds if run.stock]),
                                _median([run.ours.peak_rss for run in bench.rounds if run.ours]),
                                next((run.ours.workers for run in bench.rounds if run.ours), None))
        lines += [""]
    if speedup is not None:
        lines.append(f"**Our throughput is {speedup:.2f}× stock nbgrader's** (goal: at least {GOAL:g}× on the "
                     f"2-core machine: {'met' if speedup >= GOAL else 'not met'}).")
    lines.append("Grades: " + ("**they differ** (see below)." if bench.grades_differ else
                               "identical for every honest submission." if any(r.mismatches is not None
                                                                              for r in bench.rounds)
                               else "not compared."))
    lines += ["", "## Where our time goes", ""] + _breakdown(bench)
    lines += ["", "## Grades", ""] + _agreement(bench)
    lines += ["", "## Integrity (ours)", ""] + (_integrity(bench) or ["Our command did not run."])
    lines += ["", "## Book build", ""] + _book(bench)
    if bench.errors:
        lines += ["", "## Problems", ""] + [f"- {error}" for error in bench.errors]
    lines += ["", "## Notes", "",
              "- Peak memory is the largest sum of the RSS of the grader's whole process tree, sampled every "
              "0.2 s. Processes forked from a warm template share torch's pages, which a sum of RSS counts once "
              "per process, so ours is overstated.",
              "- Ours includes preparing the assignments (nbgrader's `generate_assignment`); stock's figure "
              "does not, so the ratio is conservative.",
              "- Benchmarks print figures; they assert no times. The command exits non-zero only when the two "
              "graders' points differ or a run failed."]
    return "\n".join(lines) + "\n"
