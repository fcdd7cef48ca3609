"""Reading one submission folder and making its notebooks gradable, with a note for every problem.

:func:`prepare_submission` decides which file is graded as which expected notebook (a notebook
under another name is recognised by its graded cells), reads each one defensively (size, empty,
binary, JSON, notebook format, old versions converted) and repairs what the student may have
broken, against the released notebook (:mod:`.repair`: stripped, edited or copied nbgrader
metadata, edited or deleted locked cells).

Nothing here runs student code; it is plain data handling, so a hostile file costs at most
``max_bytes`` of reading.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .course import AssignmentSpec
from .names import is_junk
from .repair import cell_grade_id, repair
from .results import Note

MAX_NOTEBOOK_BYTES = 64 * 2**20
# The shape of a notebook an honest student can send: the course's have about 25 cells of at most a
# few KiB. Past these, nbgrader's converter (which validates and copies the whole notebook after each
# of its ~15 preprocessors) and the feedback would spend minutes before any timeout of the kernel
# applies, so the notebook is refused at once, with the reason.
MAX_CELLS = 2_000
MAX_CELL_BYTES = 8 * 2**20   # source and attachments of one cell (a plot is well under 1 MiB)
MAX_DEPTH = 64               # nesting of lists and objects (a notebook's own structure needs about 8)
ID_PATTERN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


class Unreadable(Exception):
    """The file is not a notebook we can grade; the message says why (for the student and the CSV)."""


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


# ----------------------------------------------------------------------------- reading


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES):  # noqa: C901
    """Parse a submitted notebook; returns ``(notebook, notes)`` or raises :class:`Unreadable`."""
    import nbformat

    notes = []
    size = path.stat().st_size
    if size > max_bytes:
        raise Unreadable(f"is too large ({size / 2**20:.0f} MiB; the limit is {max_bytes // 2**20} MiB)")
    data = path.read_bytes()
    if not data.strip():
        raise Unreadable("is empty")
    if b"\x00" in data:
        raise Unreadable("is a binary file, not a notebook")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("is not UTF-8 text (a binary file?), not a notebook") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise Unreadable("is not valid JSON (nested too deeply)") from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Unreadable("is JSON but not a Jupyter notebook")
    check_shape(raw)
    major, minor = raw.get("nbformat"), raw.get("nbformat_minor", 0)
    if not isinstance(major, int) or isinstance(major, bool):
        raise Unreadable("is JSON but has no notebook format version (nbformat)")
    if major > 4:
        raise Unreadable(f"uses notebook format {major}, newer than this grader reads")
    if major < 4:
        if "worksheets" not in raw and major == 3:
            raise Unreadable("claims notebook format 3 but has no worksheets")
        try:
            notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
        except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for malformed old notebooks
            raise Unreadable(f"is an old notebook (format {major}) that cannot be converted ({exc})") from None
        notes.append(Note("old_nbformat", f"was in notebook format {major}.{minor}; converted to format 4"))
    else:
        if not isinstance(raw.get("cells"), list):
            raise Unreadable("is a notebook without a list of cells")
        notebook = nbformat.from_dict(raw)
    _normalize_structure(notebook)
    return notebook, notes


def _cells_of(raw: dict) -> list:
    cells = raw.get("cells")
    if isinstance(cells, list):
        return cells
    sheets = raw.get("worksheets")
    return [cell for sheet in sheets if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
            for cell in sheet["cells"]] if isinstance(sheets, list) else []


def _text_size(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(part) for part in value if isinstance(part, str))
    return 0


def _cell_size(cell) -> int:
    """Characters of a cell's source (``input`` in format 3) and attachments."""
    if not isinstance(cell, dict):
        return 0
    size = _text_size(cell.get("source")) + _text_size(cell.get("input"))
    attachments = cell.get("attachments")
    if isinstance(attachments, dict):
        for bundle in attachments.values():
            if isinstance(bundle, dict):
                size += sum(_text_size(data) for data in bundle.values())
    return size


def _depth(value) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: a deep value must not recurse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def check_shape(raw: dict) -> None:
    """Refuse (:class:`Unreadable`) a notebook too big to process in bounded time: too many cells,
    a cell too large, or nesting too deep. Runs before anything else, in time linear in the cells;
    it empties the stored outputs (every output is cleared before grading), so they cost nothing."""
    cells = _cells_of(raw)
    if len(cells) > MAX_CELLS:
        raise Unreadable(f"has {len(cells):,} cells; the limit is {MAX_CELLS:,}")
    for index, cell in enumerate(cells):
        size = _cell_size(cell)
        if size > MAX_CELL_BYTES:
            raise Unreadable(f"has a cell (cell {index + 1}) that is too large ({size / 2**20:.1f} MiB of source and "
                             f"attachments; the limit is {MAX_CELL_BYTES // 2**20} MiB)")
        if isinstance(cell, dict) and "outputs" in cell:
            cell["outputs"] = []  # cleared before grading anyway: never walk or convert what was stored there
    if _depth(raw) > MAX_DEPTH:
        raise Unreadable(f"is nested too deeply (more than {MAX_DEPTH} levels of lists and objects)")


def _normalize_structure(notebook) -> None:  # noqa: C901
    """Make a parsed notebook well-formed for nbformat 4.5: cell types, sources, metadata, ids; outputs cleared."""
    import nbformat

    if not isinstance(notebook.get("metadata"), dict):
        notebook.metadata = nbformat.NotebookNode()
    cells, seen_ids = [], set()
    for index, cell in enumerate(notebook.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        if not isinstance(cell, nbformat.NotebookNode):
            cell = nbformat.from_dict(cell)
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        cell.source = source if isinstance(source, str) else str(source)
        if not isinstance(cell.get("metadata"), dict):
            cell.metadata = nbformat.NotebookNode()
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        if cell.cell_type != "markdown" and cell.cell_type != "raw":
            cell.pop("attachments", None)
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not ID_PATTERN.match(cell_id) or cell_id in seen_ids:
            cell_id = f"cell-{index}"
            while cell_id in seen_ids:
                cell_id += "x"
            cell.id = cell_id
        seen_ids.add(cell_id)
        for key in [key for key in cell if key not in ("cell_type", "source", "metadata", "outputs",
                                                      "execution_count", "id", "attachments")]:
            del cell[key]
        cells.append(cell)
    notebook.cells = cells
    notebook.nbformat = 4
    notebook.nbformat_minor = max(5, int(notebook.get("nbformat_minor", 5) or 0))


# ----------------------------------------------------------------------------- a submission


def _grade_ids_in(path: Path, max_bytes: int) -> set[str]:
    try:
        notebook, _ = read_notebook(path, max_bytes)
    except (Unreadable, OSError):
        return set()
    return {gid for gid in (cell_grade_id(cell) for cell in notebook.cells) if gid}


def prepare_submission(folder: Path, spec: AssignmentSpec, max_bytes: int = MAX_NOTEBOOK_BYTES) -> PreparedSubmission:  # noqa: C901
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

    expected = {f"{name}.ipynb": name for name in spec.notebooks}
    chosen: dict[str, str] = {name: file for file, name in expected.items() if file in files}
    candidates = [file for file in files if file.lower().endswith(".ipynb") and file not in chosen.values()]
    missing = [name for name in spec.notebooks if name not in chosen]
    for name in list(missing):
        release_ids = {cell_grade_id(c) for c in spec.release[name].cells} - {None} if spec.release.get(name) else set()
        same_name = [f for f in candidates if Path(f).name.lower() == f"{name}.ipynb".lower()]
        pick = same_name[0] if same_name else None
        if pick is None and release_ids:
            scored = sorted(((len(_grade_ids_in(folder / f, max_bytes) & release_ids), f) for f in candidates),
                            key=lambda item: (-item[0], item[1]))
            if scored and scored[0][0] > 0:
                pick = scored[0][1]
        if pick is None and len(missing) == 1 and len(candidates) == 1:
            pick = candidates[0]
        if pick is not None:
            chosen[name] = pick
            candidates.remove(pick)
            missing.remove(name)

    prepared = {}
    for name in spec.notebooks:
        item = PreparedNotebook(name=name)
        prepared[name] = item
        file = chosen.get(name)
        if file is None:
            hint = f" (found {_short_list(candidates)}, none recognisably this notebook)" if candidates else ""
            item.notes.append(Note("missing", f"{name}.ipynb was not submitted{hint}"))
            continue
        item.submitted_as = file
        if file != f"{name}.ipynb":
            item.notes.append(Note("wrong_name", f"{file!r} was graded as {name}.ipynb"))
        try:
            notebook, read_notes = read_notebook(folder / file, max_bytes)
        except Unreadable as exc:
            item.notes.append(Note("invalid_notebook", f"{file} {exc}"))
            continue
        except OSError as exc:
            item.notes.append(Note("invalid_notebook", f"{file} cannot be read ({exc.strerror})"))
            continue
        item.notes += read_notes
        release = spec.release.get(name)
        if release is not None:
            item.notes += repair(notebook, release)
        item.notebook = notebook

    extra = [file for file in files if file not in chosen.values()]
    if extra:
        notes.append(Note("extra_files", f"extra files ignored: {_short_list(extra)}"))
    return PreparedSubmission(notebooks=prepared, notes=notes, timestamp=timestamp)


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
