"""The cell outputs the grader writes itself, built in one place.

:func:`error_output` is the one builder of ``{"output_type": "error", ...}`` outputs: a cell that
was not run, a kernel that died or timed out (:mod:`.execute`), a trusted verdict that failed
(:mod:`grader.integrity.preprocessor`), an error output rebuilt from a student's notebook
(:mod:`.inert`). nbgrader scores a graded cell with an error output zero. :func:`stdout_output`
is its plain-text counterpart.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode


def error_output(ename: str, evalue: str, traceback: list[str] | None = None) -> NotebookNode:
    """An error output; its traceback is the single line ``ename: evalue`` unless one is given."""
    lines = [f"{ename}: {evalue}"] if traceback is None else list(traceback)
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=lines)


def stdout_output(text: str) -> NotebookNode:
    """A ``stdout`` stream output holding ``text``."""
    return NotebookNode(output_type="stream", name="stdout", text=text)
