"""Repairing what a student broke in a notebook's graded cells, against the released notebook.

:func:`repair` (called by :func:`grader.grading.validate.prepare_submission`), in place, with a note
for every repair:

* nbgrader metadata stays only on the first cell of each known grade id
  (:func:`keep_first_graded_cells`, the one metadata sanitiser: the grading chain's
  ``SanitizeMetadata`` step calls it too); metadata that is missing or stripped is put back from
  the release, cells recognised by their content (a locked cell by its exact source, a solution
  cell by the function or class it defines);
* edited metadata gets the release's back (a change to what is graded is ``tampered_tests``);
* a locked cell (set-up or test) that was edited gets its released source back, one that was
  deleted is inserted again after the cell that precedes it in the release; nbgrader's own
  ``OverwriteCells`` then replaces both with the full source, hidden tests included.

Nothing here runs student code.
"""

from __future__ import annotations

import copy
import re

from .course import normalized
from .results import Note

DEFINES = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def cell_grade_id(cell) -> str | None:
    grade_id = _meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


def _is_locked(meta: dict) -> bool:
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def _defined_names(source: str) -> list[str]:
    return DEFINES.findall(source)


def _recover_by_content(cells: list, release_cells: list) -> int:
    """Attach release metadata to cells that lost theirs, recognised by content; returns how many."""
    used = set()
    recovered = 0
    for release_cell in release_cells:
        meta = release_cell.metadata.nbgrader
        target = normalized(release_cell.source)
        names = _defined_names(release_cell.source) if meta.get("solution") else []
        for index, cell in enumerate(cells):
            if index in used or cell_grade_id(cell) is not None or cell.cell_type != release_cell.cell_type:
                continue
            if _is_locked(meta):
                match = normalized(cell.source) == target
            elif names:
                match = bool(set(names) & set(_defined_names(cell.source)))
            else:
                first = target.strip().split("\n")[0]
                match = bool(first) and normalized(cell.source).strip().split("\n")[0] == first
            if match:
                cell.metadata["nbgrader"] = copy.deepcopy(meta)
                used.add(index)
                recovered += 1
                break
    return recovered


def keep_first_graded_cells(cells: list, known) -> set[str]:
    """The one metadata sanitiser: nbgrader metadata stays only on the first cell of each grade id in
    ``known``. A copy of a graded cell, or a cell claiming a grade id ``known`` lacks, becomes a plain
    cell (nbgrader would otherwise refuse the whole notebook). Returns the grade ids kept."""
    seen: set[str] = set()
    for cell in cells:
        grade_id = cell_grade_id(cell)
        unknown = grade_id is None or grade_id not in known
        if "nbgrader" in cell.get("metadata", {}) and (unknown or grade_id in seen):
            del cell.metadata["nbgrader"]
        elif grade_id is not None:
            seen.add(grade_id)
    return seen


def _restore_metadata(cells: list, release_cells: list, notes: list[Note]) -> None:
    """1. nbgrader metadata: only on the first cell of each known grade id; lost metadata is
    recognised by content."""
    seen = keep_first_graded_cells(cells, {cell.metadata.nbgrader["grade_id"] for cell in release_cells})
    unmatched = [cell for cell in release_cells if cell.metadata.nbgrader["grade_id"] not in seen]
    if not unmatched:
        return
    recovered = _recover_by_content(cells, unmatched)
    if not seen:
        notes.append(Note("metadata_stripped",
                          f"the nbgrader metadata was missing; {recovered} of {len(release_cells)} graded "
                          f"or locked cells were recognised by their content"))
    elif recovered:
        notes.append(Note("metadata_stripped",
                          f"the nbgrader metadata of {recovered} cell(s) was missing; they were recognised "
                          f"by their content"))


def _restore_settings(cell, release_cell, notes: list[Note]) -> None:
    """2. the cell's metadata (and type) become the release's; changes to what matters are tampering."""
    expected = release_cell.metadata.nbgrader
    got = _meta(cell)
    changed = [key for key in ("grade", "solution", "locked", "points")
               if bool(got.get(key)) != bool(expected.get(key))
               or (key == "points" and _points(got) != _points(expected))]
    if (changed or cell.cell_type != release_cell.cell_type) and (_is_locked(expected) or expected.get("grade")):
        what = ", ".join(changed) if changed else "cell type"
        notes.append(Note("tampered_tests", f"the nbgrader settings ({what}) of cell {expected['grade_id']!r} were "
                                            f"changed; restored"))
    if cell.cell_type != release_cell.cell_type:
        cell.cell_type = release_cell.cell_type
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    cell.metadata["nbgrader"] = copy.deepcopy(expected)


def _positions(cells: list) -> dict[str, int]:
    return {cell_grade_id(cell): index for index, cell in enumerate(cells) if cell_grade_id(cell)}


def _reinsert(cells: list, release_cells: list, order: int) -> None:
    """Put the deleted locked cell ``release_cells[order]`` back after the graded cells before it."""
    import nbformat

    restored = nbformat.from_dict(copy.deepcopy(dict(release_cells[order])))
    if restored.cell_type == "code":
        restored.outputs, restored.execution_count = [], None
    taken = {cell.get("id") for cell in cells}
    restored.id = next(f"restored-{order}-{n}" for n in range(len(cells) + 1) if f"restored-{order}-{n}" not in taken)
    position = _positions(cells)
    before = [position[c.metadata.nbgrader["grade_id"]] for c in release_cells[:order]
              if c.metadata.nbgrader["grade_id"] in position]
    cells.insert(max(before) + 1 if before else 0, restored)


def _restore_locked(cells: list, release_cells: list, notes: list[Note]) -> None:
    """3. locked cells: edited ones get their source back, deleted ones are inserted again."""
    for order, release_cell in enumerate(release_cells):
        meta = release_cell.metadata.nbgrader
        if not _is_locked(meta):
            continue
        grade_id = meta["grade_id"]
        position = _positions(cells)
        if grade_id not in position:
            _reinsert(cells, release_cells, order)
            notes.append(Note("tampered_tests", f"locked cell {grade_id!r} was deleted; restored"))
        elif normalized(cells[position[grade_id]].source) != normalized(release_cell.source):
            cells[position[grade_id]].source = release_cell.source
            notes.append(Note("tampered_tests", f"locked cell {grade_id!r} was edited; restored"))


def repair(notebook, release) -> list[Note]:
    """Check and repair ``notebook``'s graded cells against the ``release`` notebook, in place."""
    notes: list[Note] = []
    release_cells = [cell for cell in release.cells if _meta(cell).get("grade_id")]
    by_id = {cell.metadata.nbgrader["grade_id"]: cell for cell in release_cells}
    cells = notebook.cells
    _restore_metadata(cells, release_cells, notes)
    for cell in cells:
        grade_id = cell_grade_id(cell)
        if grade_id is not None:
            _restore_settings(cell, by_id[grade_id], notes)
    _restore_locked(cells, release_cells, notes)
    return notes


def _points(meta: dict) -> float:
    try:
        return float(meta.get("points", 0) or 0)
    except (TypeError, ValueError):
        return float("nan")
