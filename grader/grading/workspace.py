"""The grading workspace ``DIR``: its layout, its lock, safe folder names and the resume state.

Layout (everything the command writes is inside ``DIR``)::

    DIR/
      gradebook.db                 nbgrader's gradebook (unless --db names another database)
      grades.csv  report.html      the results
      feedback/<folder>/<assignment>/<notebook>.html
      autograded/<folder>/<assignment>/<notebook>.ipynb   (instructor only: contains hidden tests)
      source/<assignment>/  release/<assignment>/          the assignments, as nbgrader prepared them
      state/results/<folder>/<assignment>.json              one finished grade each (resume state)
      state/assignments.json       fingerprints of the prepared assignments
      unpacked/                    the submissions, when they came as a zip
      run.json                     what the last run did (counts, times)
      .work/                       scratch space of the current run (worker gradebooks, kernel logs)

``<folder>`` is the student id itself when it is a plain name (letters, digits, ``.``, ``_``,
``-``), otherwise a safe ASCII form with a hash of the exact id (see :func:`safe_name`); the CSV
and the gradebook always keep the exact id.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import unicodedata
from pathlib import Path

from . import lifeline
from .results import SubmissionResult

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_name(student: str) -> str:
    """A folder name for a student id: the id itself if plain, else ``_<ascii>-<hash>``.

    Distinct ids always get distinct names: a plain name never starts with ``_``, and the others
    end in 10 hex digits of the SHA-256 of the exact id.
    """
    if PLAIN_NAME.match(student):
        return student
    ascii_form = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", ascii_form).strip("_")[:40] or "student"
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"_{slug}-{digest}"


class WorkspaceBusy(RuntimeError):
    """Another grading run holds the workspace's lock."""


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _recorded_pid(path: Path) -> int | None:
    """The coordinator that took the lock last, as it wrote itself into the lock file."""
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


class Workspace:
    """The folder ``DIR`` of one class's grading."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._lock_handle = None

    # ------------------------------------------------------------------ layout
    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    source = property(lambda self: self.root / "source")
    release = property(lambda self: self.root / "release")
    autograded = property(lambda self: self.root / "autograded")
    feedback = property(lambda self: self.root / "feedback")
    state = property(lambda self: self.root / "state")
    unpacked = property(lambda self: self.root / "unpacked")
    work = property(lambda self: self.root / ".work")
    grades_csv = property(lambda self: self.root / "grades.csv")
    report_html = property(lambda self: self.root / "report.html")
    run_json = property(lambda self: self.root / "run.json")

    def open(self, settle: float = 30.0) -> "Workspace":
        """Create the folder, take its lock (one run at a time) and clear the previous run's scratch.

        The lock is also held by the run's workers (see :mod:`.lifeline`), so it stays taken until
        the whole process tree of the run is gone. If the run that holds it has lost its
        coordinator (killed), this waits up to ``settle`` seconds for the rest of its tree to end,
        then kills what holds the lock still (and everything those started), and takes it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "a+")
        try:
            self._take_lock(handle, settle)
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        if self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)
        for folder in (self.work, self.state / "results", self.autograded, self.feedback):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def _take_lock(self, handle, settle: float) -> None:
        if _try_lock(handle):
            return
        owner = _recorded_pid(self.root / ".lock")
        if owner is None or lifeline.alive(owner):
            raise WorkspaceBusy(f"another grading run{f' (process {owner})' if owner else ''} is using "
                                f"{self.root}")
        # The coordinator is gone; its workers end their trees and let go within moments.
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            if _try_lock(handle):
                return
            time.sleep(0.1)
        stuck = lifeline.holders(self.root / ".lock")
        lifeline.kill_all([pid for holder in stuck for pid in [holder, *lifeline.descendants(holder)]])
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if _try_lock(handle):
                return
            time.sleep(0.1)
        raise WorkspaceBusy(f"the processes of an earlier grading run ({', '.join(map(str, stuck)) or 'unknown'}) "
                            f"still hold {self.root} and could not be stopped")

    @property
    def lock_fd(self) -> int:
        """The locked file descriptor, for the workers to share (see :mod:`.lifeline`)."""
        return self._lock_handle.fileno()

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ resume state
    def _result_path(self, student: str, assignment: str) -> Path:
        return self.state / "results" / safe_name(student) / f"{assignment}.json"

    def save_result(self, result: SubmissionResult) -> None:
        """Record a finished grade; written atomically, so a killed run never leaves half a record."""
        atomic_write_text(self._result_path(result.student, result.assignment),
                          json.dumps(result.to_json(), ensure_ascii=False, indent=1, sort_keys=True))

    def load_results(self) -> dict[tuple[str, str], SubmissionResult]:
        """Every finished grade recorded so far, by (student, assignment); unreadable records are skipped."""
        results = {}
        for path in sorted((self.state / "results").glob("*/*.json")):
            try:
                result = SubmissionResult.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError):
                continue
            results[(result.student, result.assignment)] = result
        return results

    def load_json(self, name: str) -> dict:
        try:
            return json.loads((self.state / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_json(self, name: str, data: dict) -> None:
        atomic_write_text(self.state / name, json.dumps(data, indent=1, sort_keys=True))

    # ------------------------------------------------------------------ per-submission folders
    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.feedback / safe_name(student) / assignment

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.autograded / safe_name(student) / assignment
