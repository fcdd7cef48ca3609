"""A generated class of submissions for the grading tests, built from the real course notebooks.

Submissions start from ``solutions/<a>/<a>.ipynb`` (full marks), ``exercises/<a>/<a>.ipynb``
(blank), or a solution with one function replaced by its release stub (partial); the bad kinds
damage a copy of the solution in one way each. :data:`EXPECTED` says what grading must give.
"""

from __future__ import annotations

import copy
import io
import json
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from grader.coursework import cell_source as source
from grader.coursework import nbgrader_meta as nbgrader
from grader.coursework import release_notebook as release
from grader.coursework import source_notebook as solution
from grader.grading.kernels import KernelLauncher

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"


def assignments() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def points(assignment: str) -> dict[str, float]:
    """grade id -> points of the assignment's test cells, in order."""
    return {nbgrader(c)["grade_id"]: float(nbgrader(c)["points"]) for c in solution(assignment)["cells"]
            if nbgrader(c).get("grade")}


def solution_ids(assignment: str) -> list[str]:
    return [nbgrader(c)["grade_id"] for c in solution(assignment)["cells"] if nbgrader(c).get("solution")]


def test_ids(assignment: str) -> list[str]:
    return list(points(assignment))


def partial(assignment: str) -> dict:
    """The solution with its first solution cell replaced by the release's stub."""
    nb = solution(assignment)
    first = solution_ids(assignment)[0]
    stub = next(c for c in release(assignment)["cells"] if nbgrader(c).get("grade_id") == first)
    for cell in nb["cells"]:
        if nbgrader(cell).get("grade_id") == first:
            cell["source"] = source(stub)
    return nb


def insert_after(nb: dict, grade_id: str, code: str) -> dict:
    """A copy of ``nb`` with a new code cell right after the cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb["cells"]) if nbgrader(c).get("grade_id") == grade_id)
    nb["cells"].insert(index + 1, {"cell_type": "code", "execution_count": None, "id": "student-added",
                                   "metadata": {}, "outputs": [], "source": code})
    return nb


def dumps(nb: dict) -> bytes:
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class Submission:
    student: str
    assignment: str
    files: dict[str, bytes]  # relative to <student>/<assignment>/
    score: float
    status: str
    reason_contains: str = ""


def bad_kinds(a: str) -> list[Submission]:
    """One submission of assignment ``a`` per bad kind, with the grade and status it must get.

    The trusted verification decides every part from the answer cells' definitions, so a notebook
    that hangs or dies after correct answers keeps their points; code that has no business in an
    exercise (signals, ``os._exit``, edited tests) makes it ``suspicious``, the status the row shows.
    """
    name = f"{a}.ipynb"
    full = sum(points(a).values())
    tests = test_ids(a)
    sols = solution_ids(a)
    sol = solution(a)

    edited = solution(a)
    for cell in edited["cells"]:
        if nbgrader(cell).get("grade_id") == tests[0]:
            cell["source"] = "pass  # I promise it works\n"
    deleted = solution(a)
    deleted["cells"] = [c for c in deleted["cells"] if nbgrader(c).get("grade_id") != tests[1]]
    stripped = solution(a)
    for cell in stripped["cells"]:
        cell.get("metadata", {}).pop("nbgrader", None)
    old = nbformat.writes(nbformat.convert(nbformat.reads(json.dumps(sol), as_version=4), 3)).encode()
    text = dumps(sol)
    return [
        Submission("bad-invalid-json", a, {name: text[: len(text) // 2]}, 0, "invalid_notebook", "not valid JSON"),
        Submission("bad-empty", a, {name: b""}, 0, "invalid_notebook", "is empty"),
        Submission("bad-binary", a, {name: bytes(range(256)) * 8}, 0, "invalid_notebook", "binary"),
        Submission("bad-wrong-name", a, {"my homework.ipynb": text}, full, "wrong_name", "my homework.ipynb"),
        Submission("bad-missing", a, {"notes.txt": b"I ran out of time\n"}, 0, "missing", f"{name} was not submitted"),
        Submission("bad-extra", a, {name: text, "scratch.ipynb": dumps(release(a)), "data.csv": b"1,2\n"},
                   full, "extra_files", "scratch.ipynb"),
        Submission("bad-old-nbformat", a, {name: old}, full, "old_nbformat", "format 3"),
        Submission("bad-edited-test", a, {name: dumps(edited)}, full, "suspicious", f"{tests[0]!r} was edited"),
        Submission("bad-deleted-test", a, {name: dumps(deleted)}, full, "suspicious", f"{tests[1]!r} was deleted"),
        Submission("bad-stripped", a, {name: dumps(stripped)}, full, "suspicious", "metadata was missing"),
        Submission("bad-hang", a, {name: dumps(insert_after(sol, sols[2], "while True:\n    pass\n"))},
                   full, "timeout", "was interrupted"),
        Submission("bad-hang-hard", a, {name: dumps(insert_after(
            sol, tests[1], "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                           "while True:\n    time.sleep(0.01)\n"))}, full, "suspicious", "ran longer than"),
        Submission("bad-memory", a, {name: dumps(insert_after(
            sol, sols[0], "import torch\nchunks = []\nwhile True:  # 1 GiB more each time, until the limit\n"
                          "    chunks.append(torch.empty(2**28))\n"))},
                   full, "memory", "memory limit"),
        Submission("bad-print-flood", a, {name: dumps(insert_after(sol, sols[1], "while True:\n    print('spam ' * 200)\n"))},
                   full, "output_limit", "printed more than"),
        Submission("bad-kernel-dies", a, {name: dumps(insert_after(sol, tests[1], "import os\nos._exit(3)\n"))},
                   full, "suspicious", "exited with code 3"),
    ]


def good_kinds(a: str) -> list[Submission]:
    name = f"{a}.ipynb"
    full = sum(points(a).values())
    first_part = points(a)[test_ids(a)[0]]
    return [
        Submission("ada", a, {name: dumps(solution(a))}, full, "ok"),
        Submission("bo", a, {name: dumps(release(a))}, 0, "ok"),
        Submission("cy", a, {name: dumps(partial(a))}, full - first_part, "ok"),
        Submission("José Müller", a, {name: dumps(solution(a))}, full, "ok"),
        Submission("Anna Maria", a, {name: dumps(partial(a))}, full - first_part, "ok"),
    ]


def write_folder(root: Path, submissions: list[Submission]) -> Path:
    for sub in submissions:
        folder = root / sub.student / sub.assignment
        folder.mkdir(parents=True, exist_ok=True)
        for relative, data in sub.files.items():
            (folder / relative).write_bytes(data)
    return root


def write_zip(path: Path, submissions: list[Submission], hostile: list[tuple[str, bytes]] = (),
              symlinks: list[tuple[str, str]] = ()) -> Path:
    """A zip of the class (wrapped in one folder, as zips usually are), plus hostile entries at the top."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for sub in submissions:
            for relative, data in sub.files.items():
                archive.writestr(f"class/{sub.student}/{sub.assignment}/{relative}", data)
        for name, data in hostile:
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def hidden_only_strings(a: str) -> list[str]:
    """Lines of the hidden tests that appear nowhere in the student release (must never reach students)."""
    released = json.dumps(release(a))
    lines = []
    for cell in solution(a)["cells"]:
        inside = False
        for line in source(cell).split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip() and line.strip() not in released:
                lines.append(line.strip())
    return lines


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- seams, for the tests

LAUNCH_WRAPPER = Path(__file__).with_name("grading_launch_wrapper.py")


@dataclass
class MarkingLauncher(KernelLauncher):
    """A stand-in for a sandbox: starts kernels through a wrapper script that records each start."""

    record: str = ""
    env_marker: dict = field(default_factory=lambda: {"HIDDEN_STATE_LAUNCHER": "sandboxed"})

    def wrap(self, command):
        return [sys.executable, str(LAUNCH_WRAPPER), self.record, "--", *command]

    def environment(self, env):
        return {**env, **self.env_marker}


class FailFirstTest(NbGraderPreprocessor):
    """A stand-in for trusted verification: it rejects the first test cell, whatever it printed."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
                cell.outputs.append(nbformat.from_dict({"output_type": "error", "ename": "VerificationFailed",
                                                        "evalue": "the trusted check disagrees", "traceback": []}))
                break
        return nb, resources
