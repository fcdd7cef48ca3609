"""Putting back what a student broke of the released notebook, with a note for each repair.

:func:`repair` compares a submitted notebook with its release (:func:`grader.notebook_changes.compare`)
and, in place:

* keeps nbgrader metadata only on the first cell of each released grade id (added cells and copies
  become plain cells: :func:`keep_first_graded_cells`, the one metadata sanitiser);
* recognises cells that lost their metadata by their content (a locked cell by its exact source,
  a solution cell by the function or class it defines, any other by its first line) and gives
  them the release's metadata back;
* restores the release's nbgrader settings and cell type of every recognised cell, noting changes
  to a graded or locked cell as tampering;
* gives an edited locked cell (set-up or test) its released source back, and inserts a deleted one
  again after the cell that precedes it in the release. nbgrader's own ``OverwriteCells`` then
  replaces both with the full source, hidden tests included.

Nothing here runs student code.
"""

from __future__ import annotations

import copy
import re

import nbformat

from grader import notebooks
from grader.notebook_changes import Comparison, compare

from .results import Note

DEFINES = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


def repair(notebook, release) -> list[Note]:
    """Check and repair ``notebook``'s graded and locked cells against the ``release`` notebook, in place."""
    release_cells = [cell for cell in release.cells if notebooks.grade_id(cell)]
    comparison = compare(notebook.cells, release_cells)
    keep_first_graded_cells(notebook.cells, comparison.reference)
    notes = _recover_missing(notebook.cells, comparison, release_cells)
    notes += _restore_settings(notebook.cells, comparison)
    notes += _restore_locked(notebook.cells, comparison, release_cells)
    return notes


def keep_first_graded_cells(cells: list, known) -> set[str]:
    """The one metadata sanitiser: nbgrader metadata stays only on the first cell of each grade id in
    ``known``. A copy of a graded cell, or a cell claiming a grade id ``known`` lacks, becomes a plain
    cell (nbgrader would otherwise refuse the whole notebook). Returns the grade ids kept.

    The grading chain's ``SanitizeMetadata`` step calls it too, before nbgrader's own checks."""
    seen: set[str] = set()
    for cell in cells:
        grade_id = notebooks.grade_id(cell)
        if "nbgrader" in cell.get("metadata", {}) and (grade_id is None or grade_id not in known or grade_id in seen):
            del cell.metadata["nbgrader"]
        elif grade_id is not None:
            seen.add(grade_id)
    return seen


def _recover_missing(cells: list, comparison: Comparison, release_cells: list) -> list[Note]:
    if not comparison.missing:
        return []
    missing = set(comparison.missing)
    recovered = _recover_by_content(cells, [c for c in release_cells if notebooks.grade_id(c) in missing])
    if comparison.stripped:
        return [Note("metadata_stripped", f"the nbgrader metadata was missing; {recovered} of {len(release_cells)} "
                                          f"graded or locked cells were recognised by their content")]
    if recovered:
        return [Note("metadata_stripped", f"the nbgrader metadata of {recovered} cell(s) was missing; they were "
                                          f"recognised by their content")]
    return []


def _recover_by_content(cells: list, release_cells: list) -> int:
    """Attach release metadata to cells that lost theirs, recognised by content; returns how many."""
    used: set[int] = set()
    for release_cell in release_cells:
        for index, cell in enumerate(cells):
            if index in used or notebooks.grade_id(cell) is not None or cell.cell_type != release_cell.cell_type:
                continue
            if _same_cell(cell, release_cell):
                cell.metadata["nbgrader"] = copy.deepcopy(release_cell.metadata.nbgrader)
                used.add(index)
                break
    return len(used)


def _same_cell(cell, release_cell) -> bool:
    meta = release_cell.metadata.nbgrader
    if notebooks.is_locked(meta):
        return notebooks.normalized(cell.source) == notebooks.normalized(release_cell.source)
    names = DEFINES.findall(release_cell.source) if meta.get("solution") else []
    if names:
        return bool(set(names) & set(DEFINES.findall(cell.source)))
    first = notebooks.normalized(release_cell.source).strip().split("\n")[0]
    return bool(first) and notebooks.normalized(cell.source).strip().split("\n")[0] == first


def _restore_settings(cells: list, comparison: Comparison) -> list[Note]:
    """Every recognised cell gets the release's nbgrader settings and cell type back."""
    notes = []
    changed = {change.index: change for change in comparison.first_cells()}
    for index, cell in enumerate(cells):
        grade_id = notebooks.grade_id(cell)
        if grade_id is None:
            continue
        release_cell = comparison.reference[grade_id]
        expected = release_cell.metadata.nbgrader
        change = changed.get(index)
        if change is not None and change.settings_changed and (notebooks.is_locked(expected) or expected.get("grade")):
            what = ", ".join(change.flags + (["points"] if change.points_changed else [])) or "cell type"
            notes.append(Note("tampered_tests", f"the nbgrader settings ({what}) of cell {grade_id!r} were changed; "
                                                f"restored"))
        if cell.cell_type != release_cell.cell_type:
            _set_cell_type(cell, release_cell.cell_type)
        cell.metadata["nbgrader"] = copy.deepcopy(expected)
    return notes


def _set_cell_type(cell, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _restore_locked(cells: list, comparison: Comparison, release_cells: list) -> list[Note]:
    """Edited locked cells get their released source back; deleted ones are inserted again, in release order."""
    notes = []
    edited = {change.grade_id for change in comparison.first_cells() if change.edited}
    for order, release_cell in enumerate(release_cells):
        grade_id = notebooks.grade_id(release_cell)
        if not notebooks.is_locked(release_cell.metadata.nbgrader):
            continue
        position = _positions(cells)
        if grade_id in position:
            if grade_id in edited:
                cells[position[grade_id]].source = release_cell.source
                notes.append(Note("tampered_tests", f"locked cell {grade_id!r} was edited; restored"))
            continue
        cells.insert(_insertion_point(position, release_cells[:order]), _fresh_copy(release_cell, order, cells))
        notes.append(Note("tampered_tests", f"locked cell {grade_id!r} was deleted; restored"))
    return notes


def _positions(cells: list) -> dict[str, int]:
    return {notebooks.grade_id(cell): index for index, cell in enumerate(cells) if notebooks.grade_id(cell)}


def _insertion_point(position: dict[str, int], earlier_release_cells: list) -> int:
    """Just after the last cell present of those that precede it in the release; else first."""
    before = [position[gid] for gid in map(notebooks.grade_id, earlier_release_cells) if gid in position]
    return max(before) + 1 if before else 0


def _fresh_copy(release_cell, order: int, cells: list):
    restored = nbformat.from_dict(copy.deepcopy(dict(release_cell)))
    if restored.cell_type == "code":
        restored.outputs, restored.execution_count = [], None
    taken = {cell.get("id") for cell in cells}
    restored.id = next(f"restored-{order}-{n}" for n in range(len(cells) + 1) if f"restored-{order}-{n}" not in taken)
    return restored
