"""What a submission changed of the notebook it was handed: one comparison, two uses.

:func:`compare` matches a submitted notebook's cells with the graded and locked cells of a
reference notebook (the release, or the instructor's source: hidden regions do not count) by their
nbgrader grade id and lists what differs: cells carrying an id the reference does not have (added),
second and later copies of an id, nbgrader settings or a cell type that changed, locked cells
(set-up and tests) whose code was edited, and ids that are gone (deleted, or stripped of their
metadata). The intake's repair (:func:`grader.grading.repair.repair`) puts things back from that
list; the trusted verification (:func:`grader.integrity.static.structure`) reports it as signs of
tampering.

Plain data handling: nothing here runs code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import notebooks

FLAGS = ("grade", "solution", "locked")


@dataclass
class CellChange:
    """A submitted cell that carries a grade id of the reference, and how it differs from it.

    Attributes:
        index: the cell's position in the submission (0-based).
        grade_id: its grade id.
        copy: a second or later cell with this id (the first one is the id's cell).
        flags: the nbgrader flags (:data:`FLAGS`) whose truth changed.
        points_changed: the points it claims are not the reference cell's.
        cell_type: the cell type it has, when it is not the reference's.
        edited: the reference cell is locked and the source differs (hidden regions and trailing
            blanks ignored).
    """

    index: int
    grade_id: str
    copy: bool = False
    flags: list[str] = field(default_factory=list)
    points_changed: bool = False
    cell_type: str | None = None
    edited: bool = False

    @property
    def settings_changed(self) -> bool:
        return bool(self.flags) or self.points_changed or self.cell_type is not None


@dataclass
class Comparison:
    """Everything :func:`compare` found; ``reference`` maps each graded or locked grade id to its cell."""

    reference: dict
    known: list[CellChange] = field(default_factory=list)
    unknown: list[tuple[int, object]] = field(default_factory=list)  # (index, grade id) of added cells
    missing: list[str] = field(default_factory=list)              # reference ids no submitted cell carries

    @property
    def stripped(self) -> bool:
        """Every graded or locked cell lost its metadata (nothing of the reference is recognisable by id)."""
        return bool(self.reference) and len(self.missing) == len(self.reference)

    def first_cells(self) -> list[CellChange]:
        return [change for change in self.known if not change.copy]

    def copies(self) -> dict[str, int]:
        """grade id -> how many cells carry it, for the ids that appear more than once."""
        counts: dict[str, int] = {}
        for change in self.known:
            counts[change.grade_id] = counts.get(change.grade_id, 0) + 1
        return {grade_id: count for grade_id, count in counts.items() if count > 1}


def compare(cells: list, reference_cells: list) -> Comparison:
    """Compare the submitted ``cells`` with the cells of the reference notebook (see the module)."""
    reference = {notebooks.grade_id(c): c for c in reference_cells if notebooks.grade_id(c)}
    comparison = Comparison(reference)
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if not grade_id:
            continue
        if not isinstance(grade_id, str) or grade_id not in reference:  # a student can write any JSON there
            comparison.unknown.append((index, grade_id))
            continue
        comparison.known.append(_change(index, cell, reference[grade_id], copy=grade_id in seen))
        seen.add(grade_id)
    comparison.missing = [grade_id for grade_id in reference if grade_id not in seen]
    return comparison


def _change(index: int, cell, wanted, copy: bool) -> CellChange:
    meta, expected = notebooks.nbgrader_meta(cell), notebooks.nbgrader_meta(wanted)
    change = CellChange(index, notebooks.grade_id(cell), copy=copy)
    change.flags = [key for key in FLAGS if bool(meta.get(key)) != bool(expected.get(key))]
    change.points_changed = notebooks.points(meta) != notebooks.points(expected)
    if cell.get("cell_type") != wanted.get("cell_type"):
        change.cell_type = cell.get("cell_type")
    if notebooks.is_locked(expected):
        change.edited = notebooks.normalized(notebooks.cell_source(cell)) != \
            notebooks.normalized(notebooks.cell_source(wanted))
    return change
