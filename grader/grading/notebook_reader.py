"""Reading one submitted notebook file defensively: a notebook, or a reason why it is not one.

:func:`read_notebook` refuses (:class:`Unreadable`, with a message for the student and the CSV) what
cannot be graded: a file too large, empty, binary, not UTF-8, not JSON, JSON that is not a notebook,
a notebook of an unknown format, or one shaped to be expensive (:func:`check_shape`: too many
cells, a cell too large, nesting too deep). A notebook of an old format is converted to format 4
(with a note); every notebook is made well-formed for nbformat 4.5 (:func:`well_formed`: known cell
types, string sources, dict metadata, unique valid ids, outputs cleared).

Nothing here runs student code; it is plain data handling, so a hostile file costs at most
``max_bytes`` of reading.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

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
CELL_KEYS = ("cell_type", "source", "metadata", "outputs", "execution_count", "id", "attachments")


class Unreadable(Exception):
    """The file is not a notebook we can grade; the message says why (for the student and the CSV)."""


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES):
    """Parse a submitted notebook; returns ``(notebook, notes)`` or raises :class:`Unreadable`."""
    size = path.stat().st_size
    if size > max_bytes:
        raise Unreadable(f"is too large ({size / 2**20:.0f} MiB; the limit is {max_bytes // 2**20} MiB)")
    text = _text(path.read_bytes())
    raw = _json(text)
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Unreadable("is JSON but not a Jupyter notebook")
    check_shape(raw)
    notebook, notes = _as_format_4(raw, text)
    well_formed(notebook)
    return notebook, notes


def _text(data: bytes) -> str:
    if not data.strip():
        raise Unreadable("is empty")
    if b"\x00" in data:
        raise Unreadable("is a binary file, not a notebook")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("is not UTF-8 text (a binary file?), not a notebook") from None


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise Unreadable("is not valid JSON (nested too deeply)") from None


def _as_format_4(raw: dict, text: str) -> tuple[object, list[Note]]:
    """The notebook in format 4 (converted from an older one, with a note), or :class:`Unreadable`."""
    major, minor = raw.get("nbformat"), raw.get("nbformat_minor", 0)
    if not isinstance(major, int) or isinstance(major, bool):
        raise Unreadable("is JSON but has no notebook format version (nbformat)")
    if major > 4:
        raise Unreadable(f"uses notebook format {major}, newer than this grader reads")
    if major == 4:
        if not isinstance(raw.get("cells"), list):
            raise Unreadable("is a notebook without a list of cells")
        return nbformat.from_dict(raw), []
    if "worksheets" not in raw and major == 3:
        raise Unreadable("claims notebook format 3 but has no worksheets")
    try:
        notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for malformed old notebooks
        raise Unreadable(f"is an old notebook (format {major}) that cannot be converted ({exc})") from None
    return notebook, [Note("old_nbformat", f"was in notebook format {major}.{minor}; converted to format 4")]


# ----------------------------------------------------------------------------- the shape


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


# ----------------------------------------------------------------------------- well-formed


def well_formed(notebook) -> None:
    """Make a parsed notebook well-formed for nbformat 4.5, in place: cells of a known type with a
    string source, dict metadata and a unique valid id; outputs cleared; unknown keys dropped."""
    if not isinstance(notebook.get("metadata"), dict):
        notebook.metadata = nbformat.NotebookNode()
    cells, seen_ids = [], set()
    for index, cell in enumerate(notebook.get("cells", [])):
        if isinstance(cell, dict) and cell.get("cell_type") in ("code", "markdown", "raw"):
            cells.append(_well_formed_cell(cell, _unique_id(cell.get("id"), index, seen_ids)))
    notebook.cells = cells
    notebook.nbformat = 4
    notebook.nbformat_minor = max(5, int(notebook.get("nbformat_minor", 5) or 0))


def _unique_id(cell_id, index: int, seen_ids: set) -> str:
    """The cell's id if it is valid and new, else ``cell-<index>`` (made unique); recorded in ``seen_ids``."""
    if not isinstance(cell_id, str) or not ID_PATTERN.match(cell_id) or cell_id in seen_ids:
        cell_id = f"cell-{index}"
        while cell_id in seen_ids:
            cell_id += "x"
    seen_ids.add(cell_id)
    return cell_id


def _well_formed_cell(cell, cell_id: str):
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
        cell.pop("attachments", None)
    else:  # markdown and raw cells may carry attachments
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    cell.id = cell_id
    for key in [key for key in cell if key not in CELL_KEYS]:
        del cell[key]
    return cell
