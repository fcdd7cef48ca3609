"""Statuses, the result of grading one submission, and ``grades.csv``.

A submission is one student's folder for one assignment. Grading it yields a
:class:`SubmissionResult`: a score for every graded part (test cell) of the assignment's notebooks,
and notes, each of a *kind* from :data:`STATUSES`. The row's ``status`` is the most serious kind
among its notes (``ok`` when there are none) and its ``reason`` joins the notes' texts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .csvsafe import read_csv, write_csv
from .names import valid_text

# The status vocabulary, most serious first. Each: what it means and what happened to the grade.
STATUSES: dict[str, str] = {
    "grader_error": "the grader itself failed on this submission (zero); it is retried on the next run",
    "suspicious": "the code did something no honest answer needs (patching the checks or torch, reading "
                  "files, forbidden calls...; the reason says what); the trusted verification decided every "
                  "part, so an attack gains nothing, and a forbidden use scores zero for its part",
    "lost_in_runner": "a part passed in the student's notebook but failed in the trusted verification, which "
                      "runs only the answer cells' imports, definitions and plain assignments (zero for the "
                      "part); its message tells the student what to change: worth a look",
    "limit_exceeded": "processing the submission on the grader's side (reading and repairing it, nbgrader's "
                      "converter, the feedback, the gradebook) exceeded its CPU-time or memory bound, and was "
                      "stopped (zero); it is not retried until the submission or the limits change",
    "missing": "no notebook for the assignment (or one of its notebooks) was submitted (zero for it)",
    "invalid_notebook": "the file is not a readable notebook: invalid JSON, empty, binary, too large, "
                        "or an unsupported format (zero for it)",
    "kernel_died": "the kernel died (e.g. os._exit, a crash); the trusted verification still decides every part",
    "timeout": "a cell or the whole notebook ran out of time and was interrupted or stopped; "
               "the trusted verification still decides every part",
    "memory": "the code hit the memory limit; the trusted verification still decides every part",
    "output_limit": "a cell printed more than the output limit; its output was cut and the cell interrupted",
    "tampered_tests": "a locked (test or set-up) cell was edited or deleted; it was restored from the source "
                      "before grading",
    "metadata_stripped": "the notebook's nbgrader metadata was missing or broken; cells were recognised by "
                         "their content and graded",
    "wrong_name": "the notebook was submitted under another name; it was graded as the expected notebook",
    "old_nbformat": "the notebook was in an old format (nbformat < 4) and was converted before grading",
    "unsafe_zip_entry": "entries of the zip that climb out of the folder, are absolute or are links were "
                        "not extracted; the rest was graded",
    "refused_zip_entry": "entries of the zip over a limit (a file too large, too many entries or bytes in the "
                         "zip), repeated or corrupt were not extracted; the rest was graded",
    "odd_name": "the student's id needs a look: the folder name is not valid UTF-8 (shown with \\xNN escapes), "
                "is hidden (starts with '.'), holds markup (stored in the gradebook under its folder name), or "
                "looks like another student's id (Unicode normalization, case)",
    "extra_files": "extra notebooks or files were submitted; they were ignored",
    "unsandboxed": "graded WITHOUT a sandbox (the instructor passed --unsandboxed): student code could "
                   "read files and use the network while it ran",
    "ok": "graded normally",
}
SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}

# Statuses whose grade is a zero given without running the notebook.
UNGRADED = {"grader_error", "missing", "invalid_notebook"}


@dataclass
class Note:
    """One thing worth knowing about a submission: a status kind and a sentence."""

    kind: str
    text: str

    def __post_init__(self):
        if self.kind not in STATUSES:
            raise ValueError(f"unknown status {self.kind!r}")
        self.text = valid_text(self.text)  # a file name's undecodable bytes must not break the CSV


@dataclass
class PartResult:
    """The score of one graded part (a test cell).

    ``message`` is the failure message shown to the instructor (empty when the part passed); it
    never contains hidden-test source.
    """

    notebook: str
    grade_id: str
    column: str
    max_score: float
    score: float = 0.0
    message: str = ""


@dataclass
class SubmissionResult:
    """Everything the coordinator keeps about one graded submission (also the resume state)."""

    student: str
    assignment: str
    fingerprint: str = ""
    parts: list[PartResult] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)  # paths relative to the workspace
    notebooks: int = 0  # how many notebooks this submission counts for in the progress bar
    seconds: float = 0.0
    timestamp: str | None = None  # the submission's timestamp.txt, if valid
    graded: bool = True  # False for a row made without grading (no folder at all)
    sandboxed: bool | None = None  # whether student code ran sandboxed (None: none of it ran)
    timings: dict = field(default_factory=dict)  # seconds per phase, summed over the notebooks (for benchmarks)

    @property
    def total(self) -> float:
        return sum(part.score for part in self.parts)

    @property
    def max_score(self) -> float:
        return sum(part.max_score for part in self.parts)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        data = dict(data)
        data["parts"] = [PartResult(**part) for part in data.get("parts", [])]
        data["notes"] = [Note(**note) for note in data.get("notes", [])]
        return cls(**data)


def status_of(notes: list[Note]) -> str:
    """The most serious kind among ``notes``; ``ok`` when there is none."""
    return min((note.kind for note in notes), key=SEVERITY.__getitem__, default="ok")


def reason_of(notes: list[Note]) -> str:
    """The notes' texts, most serious first, without repeats."""
    ordered = sorted(notes, key=lambda note: SEVERITY[note.kind])
    seen, texts = set(), []
    for note in ordered:
        if note.text not in seen:
            seen.add(note.text)
            texts.append(note.text)
    return "; ".join(texts)


def format_score(value: float | None) -> str:
    """Scores as short, stable text: 2 -> "2", 1.5 -> "1.5"."""
    if value is None:
        return ""
    value = round(float(value), 6)
    return f"{value:g}" if value != 0 else "0"


@dataclass
class Row:
    """One row of grades.csv: a result plus the notes known only at run time (e.g. zip entries)."""

    result: SubmissionResult
    extra_notes: list[Note] = field(default_factory=list)

    @property
    def notes(self) -> list[Note]:
        return list(self.result.notes) + list(self.extra_notes)

    @property
    def status(self) -> str:
        return status_of(self.notes)

    @property
    def reason(self) -> str:
        return reason_of(self.notes)


FIXED_COLUMNS = ("student", "assignment")
TAIL_COLUMNS = ("total", "max_score", "status", "reason", "sandboxed")


def csv_columns(part_columns: list[str]) -> list[str]:
    return [*FIXED_COLUMNS, *part_columns, *TAIL_COLUMNS]


def write_grades_csv(path: Path, rows: list[Row], part_columns: list[str]) -> None:
    """``grades.csv``: one row per student and assignment, sorted by (student, assignment).

    Columns: ``student``, ``assignment``, one per graded part (``<assignment>:<grade id>``; empty
    where the part belongs to another assignment), ``total``, ``max_score``, ``status``, ``reason``,
    ``sandboxed`` (``yes``; ``no`` when graded with ``--unsandboxed``; empty when nothing ran).
    Formula-safe (see :mod:`.csvsafe`: a text cell starting with ``'`` had one added); written to
    a temporary file and renamed, so a reader never sees half a file.
    """
    table = []
    for row in sorted(rows, key=lambda r: (r.result.student, r.result.assignment)):
        scores = {part.column: format_score(part.score) for part in row.result.parts}
        table.append([row.result.student, row.result.assignment,
                      *(scores.get(column, "") for column in part_columns),
                      format_score(row.result.total), format_score(row.result.max_score),
                      row.status, row.reason, {True: "yes", False: "no"}.get(row.result.sandboxed, "")])
    write_csv(path, csv_columns(part_columns), table, numeric={*part_columns, "total", "max_score"})


def read_grades_csv(path: Path) -> list[dict]:
    """The rows of a ``grades.csv`` as dicts, exact texts recovered (for tests and scripts)."""
    return read_csv(path)
