"""CSV files that a spreadsheet opens as data, never as formulas (OWASP's "CSV injection" advice).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
as a formula (``=HYPERLINK(...)``, ``=cmd|...``). Every text cell the grader writes goes through
:func:`neutralize`, which puts a single quote ``'`` before such a cell, the way OWASP recommends,
and every cell is quoted (``csv.QUOTE_ALL``), so a ``;`` or ``,`` inside a cell cannot start a
new one in a spreadsheet that splits on another separator.

The exact text stays recoverable by one rule, :func:`recover`: **a text cell that starts with ``'``
had one added; drop it**. To keep that rule exact, a cell that itself starts with ``'`` gets one
more (``'quoted`` is written ``''quoted``). Numbers (score columns) are written as numbers: a
negative score stays ``-1``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralize(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates (see the module's rule)."""
    return QUOTE + text if text.startswith(FORMULA_STARTS + (QUOTE,)) else text


def recover(cell: str) -> str:
    """The exact text of a cell written by :func:`neutralize`."""
    return cell[1:] if cell.startswith(QUOTE) else cell


def write_csv(path: Path, header: list[str], rows: list[list[str]], numeric: set[str] = frozenset()) -> None:
    """Write a formula-safe CSV atomically (a reader never sees half a file).

    ``numeric``: the columns that hold numbers the grader formatted (left as they are); every other
    cell, the header included, is neutralized.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow([neutralize(name) for name in header])
    for row in rows:
        writer.writerow([cell if column in numeric else neutralize(cell) for column, cell in zip(header, row)])
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    temporary.replace(path)


def read_csv(path: Path, numeric: set[str] = frozenset()) -> list[dict]:
    """The rows of a CSV written by :func:`write_csv`, with the exact texts recovered."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [recover(name) for name in next(reader, [])]
        return [{column: cell if column in numeric else recover(cell) for column, cell in zip(header, row)}
                for row in reader]
