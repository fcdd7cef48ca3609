"""The course's notebooks as nbgrader marks them up: one reading of cells, metadata and markers.

Everything that looks at a notebook's cells (the release, the intake and repair of submissions,
the trusted verification, the feedback, the tests and the benchmark) reads them through these:

* :func:`cell_source`, :func:`nbgrader_meta`, :func:`grade_id`, :func:`points`, :func:`is_locked`,
  :func:`cell_label`: one cell (a plain ``dict`` or an ``nbformat`` node), tolerant of what a
  student can break (a ``source`` given as a list of lines, metadata that is not a dict, points
  that are not a number);
* :func:`split_hidden`, :func:`strip_hidden`, :func:`hidden_lines`, :func:`redact_hidden`: the hidden-test
  regions of a test cell (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``; a marker counts
  anywhere on its line, and an unterminated region runs to the end of the cell);
* :func:`strip_markers`: code as a student sees it, without nbgrader's marker lines;
* :func:`normalized`: a cell's source as it is compared with the release (hidden regions removed,
  trailing blanks ignored).

Plain data handling, standard library only (the student kit ships it too).
"""

from __future__ import annotations

import math
import re

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
MARKERS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")

# ----------------------------------------------------------------------------- one cell


def cell_source(cell) -> str:
    """The cell's source as one string (nbformat allows a list of lines on disk)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader``, or ``{}`` when it is missing or not a mapping."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader grade id, or ``None`` when it has none (or one that is not a string)."""
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) and value else None


def points(meta: dict) -> float:
    """The points of a graded cell's metadata: 0 when absent, NaN when not a number (never equal to any)."""
    try:
        return float(meta.get("points") or 0)
    except (TypeError, ValueError):
        return math.nan


def is_locked(meta: dict) -> bool:
    """Whether a student may not change the cell: nbgrader's ``locked``, or a test cell (graded, no solution)."""
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def cell_label(cell, index: int) -> str:
    """How a report names a cell: ``cell 3 (hidden-state-test)``, 1-based, with its grade id if any
    (whatever the metadata holds: a report escapes it)."""
    gid = nbgrader_meta(cell).get("grade_id")
    return f"cell {index + 1} ({gid})" if gid else f"cell {index + 1}"


# ----------------------------------------------------------------------------- hidden tests and markers


def split_hidden(source: str, placeholder: str | None = None) -> tuple[list[str], list[str]]:
    """``(kept, hidden)``: the lines of ``source`` outside and inside its hidden-test regions.

    The marker lines belong to neither. With ``placeholder``, each region is replaced in ``kept`` by
    that line, indented like the region's opening marker.
    """
    kept, inside, hidden = [], [], False
    for line in source.split("\n"):
        if HIDDEN_BEGIN in line:
            if placeholder is not None and not hidden:
                kept.append(line[: len(line) - len(line.lstrip())] + placeholder)
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        else:
            (inside if hidden else kept).append(line)
    return kept, inside


def strip_hidden(source: str) -> str:
    """``source`` without its hidden-test regions."""
    return "\n".join(split_hidden(source)[0])


def redact_hidden(source: str, placeholder: str) -> str:
    """``source`` with each hidden-test region replaced by the line ``placeholder``."""
    return "\n".join(split_hidden(source, placeholder)[0])


def hidden_lines(source: str) -> list[str]:
    """The lines inside the hidden-test regions of ``source``, stripped, non-empty."""
    return [line.strip() for line in split_hidden(source)[1] if line.strip()]


def strip_markers(source: str) -> str:
    """``source`` without nbgrader's ``### BEGIN/END SOLUTION`` and ``HIDDEN TESTS`` marker lines."""
    return "\n".join(line for line in source.split("\n") if not MARKERS.match(line))


def normalized(source: str) -> str:
    """Source as it is compared with the release: hidden regions removed, trailing blanks ignored."""
    return "\n".join(line.rstrip() for line in strip_hidden(source).split("\n")).strip("\n")
