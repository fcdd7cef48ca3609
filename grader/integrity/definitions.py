"""The student's definitions: what the trusted verification runs from a submitted notebook.

Only the *answer cells* count: the cells that are solution cells (``"solution": true`` in their
nbgrader metadata) in the source notebook of ``solutions/``. From each one, parsed with ``ast``,
only these top-level statements are kept:

* ``import`` and ``from ... import``;
* function and class definitions (``def``, ``async def``, ``class``, with their decorators);
* assignments of a literal constant to a plain name (``GATES = {"RNN": 1, "LSTM": 4}``), which
  run no code.

Everything else (calls, attribute assignments such as ``torch.allclose = ...``, loops, ``if``
blocks, IPython magics, cell magics) is dropped and listed, so top-level patching, IPython input
transformers, custom exception handlers and anything in other cells have no effect on the
verification. The imports of the source notebook's locked set-up cells (``import torch``,
``from torch import nn``; not those of ``grader``) run first, as they do in the notebook.

Answer cells are recognised in the submission by their nbgrader ``grade_id``; when the metadata
was stripped, by the cell ``id`` the release gave them, and failing that by the function or class
the source's answer cell defines. An answer cell that cannot be recognised contributes nothing
(its parts then fail with a message saying so).

Nothing here runs student code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def cell_source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def defined_names(tree: ast.Module) -> list[str]:
    """Names bound at the top level by ``def``, ``class`` and imports."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.append(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _without_markers(source: str) -> str:
    return "\n".join(line for line in source.split("\n")
                     if not re.match(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$", line))


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@dataclass
class SourceAnswer:
    """An answer cell of the source notebook: its grade id, cell id and the names it defines."""

    grade_id: str
    cell_id: str | None
    names: list[str]
    position: int  # its index among the source notebook's cells


def source_answers(source_nb) -> list[SourceAnswer]:
    answers = []
    for position, cell in enumerate(source_nb.get("cells", [])):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            tree = _parse(_without_markers(cell_source(cell)))
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            names = [n.name for n in tree.body if isinstance(n, kinds)] if tree else []
            answers.append(SourceAnswer(meta["grade_id"], cell.get("id"), names, position))
    return answers


def preamble(source_nb) -> str:
    """The imports of the source notebook's locked set-up cells (not ``grader``'s), as code."""
    imports = []
    for cell in source_nb.get("cells", []):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") != "code" or not meta.get("locked") or meta.get("grade") or meta.get("solution"):
            continue
        tree = _parse(_without_markers(cell_source(cell)))
        for node in tree.body if tree else []:
            if isinstance(node, ast.Import) and all(not a.name.split(".")[0] == "grader" for a in node.names):
                imports.append(node)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                    (node.module or "").split(".")[0] != "grader":
                imports.append(node)
    return ast.unparse(ast.Module(body=imports, type_ignores=[]))


@dataclass
class AnswerCell:
    """One answer cell of the submission, reduced to the code the verification runs."""

    grade_id: str
    found_by: str = ""            # "grade_id", "cell id", "defined names", or "" when not found
    index: int = -1               # the cell's index in the submission
    code: str = ""                # imports, definitions and literal constants (ast.unparse)
    names: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # "line 4: torch.allclose = ..." per dropped statement
    error: str | None = None      # why the cell contributes nothing (syntax error, cell magic, not found)


@dataclass
class Definitions:
    """Everything the verification runs from one submission, in order: the preamble, then the cells."""

    preamble: str
    cells: list[AnswerCell]

    def defining(self, name: str) -> list[AnswerCell]:
        return [cell for cell in self.cells if name in cell.names]

    @property
    def code(self) -> str:
        return "\n\n".join([self.preamble] + [cell.code for cell in self.cells if cell.code])


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _keep(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Name) for t in node.targets) and _is_literal(node.value)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.value is not None and _is_literal(node.value)
    return False


def _describe(source_lines: list[str], node) -> str:
    line = source_lines[node.lineno - 1].strip() if 0 < node.lineno <= len(source_lines) else ""
    return f"line {node.lineno}: {line[:100]}"


def reduce_cell(source: str, grade_id: str) -> AnswerCell:
    """The kept code of one answer cell's source (see the module's docstring)."""
    cell = AnswerCell(grade_id=grade_id)
    stripped = source.lstrip()
    if stripped.startswith("%%"):
        cell.error = (f"the answer cell starts with the cell magic {stripped.split()[0]}: it is not Python and "
                      f"does not run")
        cell.ignored.append("the whole cell (a cell magic)")
        return cell
    lines = []
    for number, line in enumerate(source.split("\n"), start=1):
        match = MAGIC_LINE.match(line)
        if match:
            cell.ignored.append(f"line {number}: {line.strip()[:100]} (an IPython magic or shell command)")
            line = match.group(1) + "pass"
        lines.append(line)
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        cell.error = f"SyntaxError in the answer cell: {exc.msg} (line {exc.lineno})"
        return cell
    except (ValueError, RecursionError, MemoryError) as exc:
        cell.error = f"the answer cell cannot be parsed ({type(exc).__name__})"
        return cell
    kept = []
    for node in tree.body:
        if _keep(node):
            kept.append(node)
        elif not (isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))):
            cell.ignored.append(_describe(lines, node))  # (a bare ``pass`` or string runs nothing either way)
    try:
        cell.code = ast.unparse(ast.Module(body=kept, type_ignores=[]))
        reparsed = ast.parse(cell.code)
    except (ValueError, RecursionError, MemoryError, SyntaxError) as exc:
        cell.code, cell.error = "", f"the answer cell cannot be processed ({type(exc).__name__})"
        return cell
    if not all(_keep(node) for node in reparsed.body):  # defensive: what runs is exactly what was kept
        cell.code, cell.error = "", "the answer cell cannot be processed"
        return cell
    cell.names = defined_names(reparsed)
    return cell


def _defines(source: str) -> set[str]:
    tree = _parse("\n".join(MAGIC_LINE.sub(r"\1pass", line) for line in source.split("\n")))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))} \
        if tree else set()


def locate(submission_nb, answers: list[SourceAnswer]) -> dict[str, tuple[int, str]]:
    """grade id -> (index of the submission's cell, how it was recognised), for the answers found."""
    cells = submission_nb.get("cells", [])
    found: dict[str, tuple[int, str]] = {}
    used: set[int] = set()
    for answer in answers:  # 1. by grade id (the first code cell carrying it)
        for index, cell in enumerate(cells):
            if cell.get("cell_type") == "code" and nbgrader_meta(cell).get("grade_id") == answer.grade_id \
                    and index not in used:
                found[answer.grade_id] = (index, "grade_id")
                used.add(index)
                break
    for answer in answers:  # 2. by cell id, for cells without nbgrader metadata
        if answer.grade_id in found or not answer.cell_id:
            continue
        for index, cell in enumerate(cells):
            if index not in used and cell.get("cell_type") == "code" and cell.get("id") == answer.cell_id \
                    and not nbgrader_meta(cell).get("grade_id"):
                found[answer.grade_id] = (index, "cell id")
                used.add(index)
                break
    for answer in answers:  # 3. by the names the source's answer defines
        if answer.grade_id in found or not answer.names:
            continue
        for index, cell in enumerate(cells):
            if index in used or cell.get("cell_type") != "code" or nbgrader_meta(cell).get("grade_id"):
                continue
            if set(answer.names) & _defines(cell_source(cell)):
                found[answer.grade_id] = (index, "defined names")
                used.add(index)
                break
    return found


def extract(submission_nb, source_nb) -> Definitions:
    """The definitions of ``submission_nb`` that the verification runs (see the module's docstring)."""
    answers = source_answers(source_nb)
    found = locate(submission_nb, answers)
    cells = []
    for answer in answers:
        if answer.grade_id not in found:
            cells.append(AnswerCell(grade_id=answer.grade_id,
                                    error=f"the answer cell {answer.grade_id!r} was not found in the submission "
                                          f"(deleted, or its metadata removed and its content changed)"))
            continue
        index, how = found[answer.grade_id]
        cell = reduce_cell(cell_source(submission_nb["cells"][index]), answer.grade_id)
        cell.found_by, cell.index = how, index
        cells.append(cell)
    cells.sort(key=lambda c: (c.index < 0, c.index))
    return Definitions(preamble=preamble(source_nb), cells=cells)
