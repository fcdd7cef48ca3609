"""The book build, timed cold (fresh output folder, no execution cache) and again with nothing changed.

The command is the Makefile's ``book`` target with ``--path-output`` pointing at a scratch
folder, so the build writes (and caches its executed chapters in) ``<scratch>/_build`` and the
repository's own ``book/_build`` is left alone. The site's front-end assets (``book/_vendor``)
must have been copied once by ``make book``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .sampling import Measurement, run_measured, tool_env

FLAGS = ("--warningiserror", "--nitpick", "--keep-going")  # as in the Makefile's book target


@dataclass
class BookTimes:
    cold: Measurement | None = None
    unchanged: Measurement | None = None
    problem: str = ""


def command(book: Path, output: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "--path-output", str(output),
            *FLAGS]


def time_builds(course_root: Path, scratch: Path, log: Path) -> BookTimes:
    """Build the book into the fresh folder ``scratch`` twice; time both builds."""
    book = course_root / "book"
    if not (book / "_vendor" / ".copied").exists():
        return BookTimes(problem="book/_vendor is missing: run `make book` once (it copies the site's assets)")
    if scratch.exists():
        return BookTimes(problem=f"{scratch} exists: a cold build needs a fresh output folder")
    env = tool_env(course_root)
    times = BookTimes()
    for attempt in ("cold", "unchanged"):
        measured = run_measured(command(book, scratch), cwd=course_root, env=env, log=log)
        setattr(times, attempt, measured)
        if measured.returncode:
            times.problem = f"the {attempt} build exited with {measured.returncode} (see {log})"
            break
    return times
