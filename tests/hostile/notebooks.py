"""Pathological notebooks: each is the course's full-marks solution with one thing blown up.

Every builder returns a :class:`grading_class.Submission` (student id, assignment, files, the grade
and status grading must give, and a fragment of the reason), ready for
:func:`grading_class.write_zip` or :func:`grading_class.write_folder`::

    import grading_class as g
    from hostile import notebooks as hostile

    subs = g.good_kinds(a) + hostile.all_kinds(a)
    g.write_zip(tmp / "class.zip", subs)

``all_kinds(a)`` is every builder at its default size; each builder takes a size to scale it (the
benchmark ``python -m benchmarks limits`` uses larger ones). None of them runs anything: the
damage is in the notebook's *data* (cells, nesting, outputs, attachments), what the trusted side
(reading, repairing, nbgrader's converter, feedback) has to get through before any timeout of the
kernel applies.
"""

from __future__ import annotations

import base64
import copy
import os

import grading_class as g

from grader.coursework import nbgrader_meta as nbgrader
from grader.coursework import source_notebook as solution


def _markdown(index: int, text: str) -> dict:
    return {"cell_type": "markdown", "id": f"hostile-{index}", "metadata": {}, "source": text}


def _after_first_answer(a: str, cells: list[dict]) -> dict:
    """The solution with ``cells`` inserted right after its first answer cell."""
    nb = solution(a)
    first = g.solution_ids(a)[0]
    index = next(i for i, c in enumerate(nb["cells"]) if nbgrader(c).get("grade_id") == first)
    nb["cells"][index + 1:index + 1] = cells
    return nb


def _submission(student: str, a: str, nb: dict | bytes, score: float, status: str, reason: str) -> g.Submission:
    data = nb if isinstance(nb, bytes) else g.dumps(nb)
    return g.Submission(student, a, {f"{a}.ipynb": data}, score, status, reason)


def _full(a: str) -> float:
    return sum(g.points(a).values())


def many_cells(a: str, cells: int = 100_000) -> g.Submission:
    """``cells`` tiny markdown cells (the 89-second notebook of issue 13): refused as too many cells."""
    nb = _after_first_answer(a, [_markdown(i, "x") for i in range(cells)])
    return _submission("hostile-many-cells", a, nb, 0, "invalid_notebook", "cells")


def huge_cell(a: str, megabytes: int = 20) -> g.Submission:
    """One markdown cell of ``megabytes`` MiB of text: refused as a cell too large."""
    nb = _after_first_answer(a, [_markdown(0, ("word " * 200 + "\n") * (megabytes * 1024))])
    return _submission("hostile-huge-cell", a, nb, 0, "invalid_notebook", "too large")


def deep_nesting(a: str, depth: int = 500) -> g.Submission:
    """Cell metadata nested ``depth`` levels deep (written by hand: ``json`` itself refuses to)."""
    nb = _after_first_answer(a, [_markdown(0, "deep")])
    marker = '"DEEP"'
    text = g.dumps(nb).decode().replace('"source": "deep"', f'"source": "deep", "x": {marker}', 1)
    nested = "[" * depth + "1" + "]" * depth
    return _submission("hostile-deep-nesting", a, text.replace(marker, nested).encode(), 0, "invalid_notebook",
                       "nested")


def many_outputs(a: str, outputs: int = 200_000) -> g.Submission:
    """A code cell that arrives with ``outputs`` stored outputs: they are cleared, the rest graded."""
    nb = solution(a)
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and not nbgrader(c))
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "spam\n"}] * outputs
    return _submission("hostile-many-outputs", a, nb, _full(a), "ok", "")


def huge_image(a: str, megabytes: int = 40) -> g.Submission:
    """A markdown cell with a ``megabytes`` MiB base64 PNG attachment: refused as a cell too large."""
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(megabytes * 2**20 * 3 // 4)).decode()
    cell = _markdown(0, "![plot](attachment:plot.png)")
    cell["attachments"] = {"plot.png": {"image/png": data}}
    nb = _after_first_answer(a, [cell])
    return _submission("hostile-huge-image", a, nb, 0, "invalid_notebook", "too large")


def all_kinds(a: str) -> list[g.Submission]:
    return [copy.deepcopy(build(a)) for build in (many_cells, huge_cell, deep_nesting, many_outputs, huge_image)]
