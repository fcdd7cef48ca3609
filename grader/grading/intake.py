"""Intake of one submission folder: which file is graded as which notebook, read and repaired.

:func:`prepare_submission` lists the folder (junk such as ``__MACOSX`` skipped, links not
followed), reads ``timestamp.txt`` if there is one, decides which file is graded as which expected
notebook (by its name, then case-insensitively, then by the grade ids of its cells, then as the
only candidate left), reads each one defensively (:func:`.notebook_reader.read_notebook`) and has
:func:`.repair.repair` put back what the student broke of the released notebook. Every problem
becomes a :class:`~.results.Note`; nothing stops the rest of the submission from being graded.

Nothing here runs student code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from grader import notebooks

from .course import AssignmentSpec
from .names import is_junk
from .notebook_reader import MAX_NOTEBOOK_BYTES, Unreadable, read_notebook
from .repair import repair
from .results import Note


@dataclass
class PreparedNotebook:
    name: str                       # the expected notebook (without .ipynb)
    notebook: object | None = None  # the repaired NotebookNode, or None if it cannot be graded
    submitted_as: str | None = None  # the file it came from, relative to the submission folder
    notes: list[Note] = field(default_factory=list)


@dataclass
class PreparedSubmission:
    notebooks: dict[str, PreparedNotebook]
    notes: list[Note] = field(default_factory=list)
    timestamp: str | None = None


def prepare_submission(folder: Path, spec: AssignmentSpec, max_bytes: int = MAX_NOTEBOOK_BYTES) -> PreparedSubmission:
    """Decide what to grade in ``folder`` and prepare it; every problem becomes a note."""
    files, links = list_files(folder)
    notes: list[Note] = []
    if links:
        notes.append(Note("extra_files", f"symbolic links ignored: {_short_list(links)}"))
    timestamp = None
    if "timestamp.txt" in files:
        files.remove("timestamp.txt")
        timestamp = _read_timestamp(folder / "timestamp.txt")
        if timestamp is None:
            notes.append(Note("ok", "timestamp.txt does not hold a valid time; ignored"))
    chosen, candidates = _choose_files(folder, files, spec, max_bytes)
    prepared = {name: _prepare_notebook(folder, name, chosen.get(name), candidates, spec, max_bytes)
                for name in spec.notebooks}
    extra = [file for file in files if file not in chosen.values()]
    if extra:
        notes.append(Note("extra_files", f"extra files ignored: {_short_list(extra)}"))
    return PreparedSubmission(notebooks=prepared, notes=notes, timestamp=timestamp)


# ----------------------------------------------------------------------------- which file is which notebook


def _choose_files(folder: Path, files: list[str], spec: AssignmentSpec, max_bytes: int) -> tuple[dict, list]:
    """``({notebook name: file}, the notebook files left over)``."""
    expected = {f"{name}.ipynb": name for name in spec.notebooks}
    chosen: dict[str, str] = {name: file for file, name in expected.items() if file in files}
    candidates = [file for file in files if file.lower().endswith(".ipynb") and file not in chosen.values()]
    missing = [name for name in spec.notebooks if name not in chosen]
    for name in list(missing):
        pick = _pick(folder, name, candidates, spec, max_bytes, only_one_missing=len(missing) == 1)
        if pick is not None:
            chosen[name] = pick
            candidates.remove(pick)
            missing.remove(name)
    return chosen, candidates


def _pick(folder: Path, name: str, candidates: list[str], spec: AssignmentSpec, max_bytes: int,
          only_one_missing: bool) -> str | None:
    """The candidate file graded as notebook ``name``: same name in another case or folder, else the one
    sharing most grade ids with the release, else the only file left for the only notebook missing."""
    same_name = [f for f in candidates if Path(f).name.lower() == f"{name}.ipynb".lower()]
    if same_name:
        return same_name[0]
    release = spec.release.get(name)
    release_ids = {notebooks.grade_id(c) for c in release.cells} - {None} if release else set()
    if release_ids:
        scored = sorted(((len(_grade_ids_in(folder / f, max_bytes) & release_ids), f) for f in candidates),
                        key=lambda item: (-item[0], item[1]))
        if scored and scored[0][0] > 0:
            return scored[0][1]
    if only_one_missing and len(candidates) == 1:
        return candidates[0]
    return None


def _grade_ids_in(path: Path, max_bytes: int) -> set[str]:
    try:
        notebook, _ = read_notebook(path, max_bytes)
    except (Unreadable, OSError):
        return set()
    return {gid for gid in (notebooks.grade_id(cell) for cell in notebook.cells) if gid}


# ----------------------------------------------------------------------------- one notebook


def _prepare_notebook(folder: Path, name: str, file: str | None, candidates: list[str], spec: AssignmentSpec,
                      max_bytes: int) -> PreparedNotebook:
    item = PreparedNotebook(name=name)
    if file is None:
        hint = f" (found {_short_list(candidates)}, none recognisably this notebook)" if candidates else ""
        item.notes.append(Note("missing", f"{name}.ipynb was not submitted{hint}"))
        return item
    item.submitted_as = file
    if file != f"{name}.ipynb":
        item.notes.append(Note("wrong_name", f"{file!r} was graded as {name}.ipynb"))
    try:
        notebook, read_notes = read_notebook(folder / file, max_bytes)
    except Unreadable as exc:
        item.notes.append(Note("invalid_notebook", f"{file} {exc}"))
        return item
    except OSError as exc:
        item.notes.append(Note("invalid_notebook", f"{file} cannot be read ({exc.strerror})"))
        return item
    item.notes += read_notes
    release = spec.release.get(name)
    if release is not None:
        item.notes += repair(notebook, release)
    item.notebook = notebook
    return item


# ----------------------------------------------------------------------------- files


def list_files(folder: Path) -> tuple[list[str], list[str]]:
    """``(files, links)``: paths relative to ``folder`` (POSIX form), sorted; links are not followed."""
    files, links = [], []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not is_junk(d))
        base = Path(directory)
        for d in list(subdirs):
            if (base / d).is_symlink():
                links.append((base / d).relative_to(folder).as_posix())
                subdirs.remove(d)
        for name in sorted(names):
            if is_junk(name):
                continue
            path = base / name
            relative = path.relative_to(folder).as_posix()
            (links if path.is_symlink() else files).append(relative)
    return sorted(files), sorted(links)


def _short_list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _read_timestamp(path: Path) -> str | None:
    from nbgrader.utils import parse_utc

    try:
        text = path.read_text(encoding="utf-8", errors="strict").strip()
        if not text or len(text) > 100:
            return None
        parse_utc(text)
        return text
    except Exception:  # noqa: BLE001 - any unparsable content
        return None
