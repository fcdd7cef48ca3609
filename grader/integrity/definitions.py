"""The student's definitions: what the trusted verification runs from a submitted notebook.

Only the *answer cells* count: the cells that are solution cells (``"solution": true`` in their
nbgrader metadata) in the source notebook of ``solutions/``. From each one, parsed with ``ast``,
only these top-level statements are kept (:mod:`.inert` says exactly which):

* ``import`` and ``from ... import``;
* function and class definitions (``def``, ``async def``, ``class``, with their decorators);
* assignments to plain names of *inert* expressions: literals, names, attribute reads, operators,
  lambdas, calls of a few pure functions (``ACT = {"tanh": torch.tanh}``, ``sig = torch.sigmoid``,
  ``SCALE = 1 / math.sqrt(2)``, ``step = partial(rnn_step, act=torch.relu)``).

Everything else (calls of anything else, attribute assignments such as ``torch.allclose = ...``,
rebinding an imported name, loops, ``if`` blocks, IPython magics, cell magics) is dropped and
listed with the reason, so top-level patching, IPython input transformers, custom exception
handlers and anything in other cells have no effect on the verification. A statement that does
not parse is skipped alone: the cell is then parsed statement by statement, so a syntax error in
one function does not take the cell's other definitions with it. What a dropped or broken
statement would have defined is remembered (:meth:`Definitions.why_missing`), so that a part
failing for want of it is told why. The imports of the source notebook's locked set-up cells (``import torch``,
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

from grader.notebooks import cell_source, nbgrader_meta, strip_markers

from . import inert
from .names import import_bindings
from .statements import Broken, statements

MAGIC_LINE = re.compile(r"^(\s*)[%!]")


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
            tree = _parse(strip_markers(cell_source(cell)))
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
        tree = _parse(strip_markers(cell_source(cell)))
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
    code: str = ""                # imports, definitions and inert bindings (ast.unparse)
    names: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # "line 4: torch.allclose = ...; why" per dropped statement
    dropped: dict = field(default_factory=dict)        # name -> "line 4: X = f(); why": bound by a dropped statement
    broken: list[Broken] = field(default_factory=list)  # statements that do not parse (skipped one by one)
    error: str | None = None      # why the cell contributes nothing (cell magic, not found, nothing parses)


@dataclass
class Definitions:
    """Everything the verification runs from one submission, in order: the preamble, then the cells."""

    preamble: str
    cells: list[AnswerCell]
    elsewhere: dict = field(default_factory=dict)   # name -> "cell 7": bound in a cell that is not an answer cell

    def defining(self, name: str) -> list[AnswerCell]:
        return [cell for cell in self.cells if name in cell.names]

    @property
    def code(self) -> str:
        return "\n\n".join([self.preamble] + [cell.code for cell in self.cells if cell.code])

    def defined(self) -> set[str]:
        return {name for cell in self.cells for name in cell.names}

    def why_missing(self, name: str) -> str | None:
        """Why ``name`` may be undefined in the verification though the notebook had it, as advice; or ``None``."""
        if name in self.defined():
            return None
        for cell in self.cells:
            for broken in cell.broken:
                if name in broken.names:
                    return (f"{name} is defined at line {broken.line} of answer cell {cell.grade_id!r}, which does "
                            f"not parse ({broken.message}): fix that statement")
        for cell in self.cells:
            if name in cell.dropped:
                return (f"your answer uses {name}, defined in answer cell {cell.grade_id!r} by a statement the "
                        f"grader does not run ({cell.dropped[name]}); define it inside the function that uses it, "
                        f"or as an import, a literal constant or a plain expression of names and literals")
        if name in self.elsewhere:
            return (f"your answer uses {name}, defined in {self.elsewhere[name]}, which is not an answer cell: "
                    f"the grader runs only the answer cells, so move it into one")
        return None


def _describe(source_lines: list[str], node) -> str:
    line = source_lines[node.lineno - 1].strip() if 0 < node.lineno <= len(source_lines) else ""
    return f"line {node.lineno}: {line[:100]}"


def _prepared(source: str) -> tuple[str | None, list[str], str | None]:
    """The cell's text with its IPython magics made ``pass``, what was dropped, and why nothing of it runs."""
    stripped = source.lstrip()
    if stripped.startswith("%%"):
        return None, ["the whole cell (a cell magic)"], (
            f"the answer cell starts with the cell magic {stripped.split()[0]}: it is not Python and does not run")
    lines, ignored = [], []
    for number, line in enumerate(source.split("\n"), start=1):
        match = MAGIC_LINE.match(line)
        if match:
            ignored.append(f"line {number}: {line.strip()[:100]} (an IPython magic or shell command)")
            line = match.group(1) + "pass"
        lines.append(line)
    return "\n".join(lines), ignored, None


def parse_answer(source: str) -> tuple[list, list[Broken], list[str], str | None]:
    """An answer cell's top-level statements, those that do not parse, what was dropped, and a whole-cell error."""
    text, ignored, error = _prepared(source)
    if text is None:
        return [], [], ignored, error
    try:
        body, broken = statements(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        return [], [], ignored, f"the answer cell cannot be parsed ({type(exc).__name__})"
    if broken and not body:
        error = f"{broken[0].message} in the answer cell"
    return body, broken, ignored, error


def scope_of(preamble_code: str, bodies: list[list]) -> inert.Scope:
    """What the names of the answer cells stand for (``bodies``: each cell's top-level statements)."""
    imports: dict[str, str] = {}
    ambiguous, rebound = set(), set()
    for node in [*ast.parse(preamble_code).body, *(n for body in bodies for n in body)]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, dotted in import_bindings([node]).items():
                if imports.setdefault(name, dotted) != dotted:
                    ambiguous.add(name)
        else:
            rebound.update(inert.bound_names(node))
    imported = set(imports)
    for name in ambiguous | rebound:
        imports.pop(name, None)
    return inert.Scope(imports=imports, rebound=rebound | ambiguous, imported=imported)


def reduce_cell(source: str, grade_id: str, scope: inert.Scope | None = None, parsed=None) -> AnswerCell:
    """The kept code of one answer cell's source (see the module's docstring).

    ``scope``: what the names stand for (default: this cell's own imports); ``parsed``: the
    cell's :func:`parse_answer`, when already done.
    """
    cell = AnswerCell(grade_id=grade_id)
    body, cell.broken, ignored, cell.error = parsed or parse_answer(source)
    cell.ignored = list(ignored) + [f"line {b.line}: {b.message} (this statement is skipped, the rest of the cell "
                                    f"runs)" for b in cell.broken]
    scope = scope or scope_of("", [body])
    lines = _prepared(source)[0].split("\n") if body else []
    kept = []
    for node in body:
        problem = inert.statement_problem(node, scope)
        if problem is None:
            kept.append(node)
        elif not (isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))):
            described = f"{_describe(lines, node)}; {problem}"  # (a bare ``pass`` or string runs nothing anyway)
            cell.ignored.append(described)
            for name in inert.bound_names(node):
                cell.dropped.setdefault(name, described)
    try:
        cell.code = ast.unparse(ast.Module(body=kept, type_ignores=[]))
        reparsed = ast.parse(cell.code)
    except (ValueError, RecursionError, MemoryError, SyntaxError) as exc:
        cell.code, cell.error = "", f"the answer cell cannot be processed ({type(exc).__name__})"
        return cell
    if any(inert.statement_problem(node, scope) for node in reparsed.body):  # defensive: what runs is what was kept
        cell.code, cell.error = "", "the answer cell cannot be processed"
        return cell
    cell.names = defined_names(reparsed)
    return cell


def _defines(source: str) -> set[str]:
    tree = _parse("\n".join(MAGIC_LINE.sub(r"\1pass", line) for line in source.split("\n")))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))} \
        if tree else set()


def _carries_grade_id(answer: SourceAnswer, cell) -> bool:
    return nbgrader_meta(cell).get("grade_id") == answer.grade_id


def _carries_cell_id(answer: SourceAnswer, cell) -> bool:
    """For cells without nbgrader metadata: the cell id the release gave the answer cell."""
    return bool(answer.cell_id) and cell.get("id") == answer.cell_id and not nbgrader_meta(cell).get("grade_id")


def _defines_the_names(answer: SourceAnswer, cell) -> bool:
    """For cells without nbgrader metadata: a function or class the source's answer cell defines."""
    return bool(answer.names) and not nbgrader_meta(cell).get("grade_id") and \
        bool(set(answer.names) & _defines(cell_source(cell)))


# How an answer cell is recognised, tried in this order over all answers: (how, test, whether an answer
# already found is skipped). The first pass looks at every answer, as it always has.
RECOGNITIONS = (("grade_id", _carries_grade_id, False), ("cell id", _carries_cell_id, True),
                ("defined names", _defines_the_names, True))


def locate(submission_nb, answers: list[SourceAnswer]) -> dict[str, tuple[int, str]]:
    """grade id -> (index of the submission's cell, how it was recognised), for the answers found.

    Each submission cell is taken at most once: by the first recognition (see :data:`RECOGNITIONS`)
    and, within it, by the first answer that recognises it.
    """
    cells = submission_nb.get("cells", [])
    code_cells = [index for index, cell in enumerate(cells) if cell.get("cell_type") == "code"]
    found: dict[str, tuple[int, str]] = {}
    used: set[int] = set()
    for how, recognises, skip_found in RECOGNITIONS:
        for answer in answers:
            if skip_found and answer.grade_id in found:
                continue
            index = next((i for i in code_cells if i not in used and recognises(answer, cells[i])), None)
            if index is not None:
                found[answer.grade_id] = (index, how)
                used.add(index)
    return found


def extract(submission_nb, source_nb) -> Definitions:
    """The definitions of ``submission_nb`` that the verification runs (see the module's docstring)."""
    answers = source_answers(source_nb)
    found = locate(submission_nb, answers)
    code = preamble(source_nb)
    parsed = {grade_id: parse_answer(cell_source(submission_nb["cells"][index]))
              for grade_id, (index, _) in found.items()}
    scope = scope_of(code, [body for body, *_ in parsed.values()])
    cells = []
    for answer in answers:
        if answer.grade_id not in found:
            cells.append(AnswerCell(grade_id=answer.grade_id,
                                    error=f"the answer cell {answer.grade_id!r} was not found in the submission "
                                          f"(deleted, or its metadata removed and its content changed)"))
            continue
        index, how = found[answer.grade_id]
        cell = reduce_cell(cell_source(submission_nb["cells"][index]), answer.grade_id, scope,
                           parsed[answer.grade_id])
        cell.found_by, cell.index = how, index
        cells.append(cell)
    cells.sort(key=lambda c: (c.index < 0, c.index))
    answer_cells = {index for index, _ in found.values()}
    return Definitions(preamble=code, cells=cells, elsewhere=_bound_elsewhere(submission_nb, answer_cells))


def _bound_elsewhere(submission_nb, answer_cells: set[int]) -> dict[str, str]:
    """name -> "cell N" for the names that the submission's other code cells bind at their top level."""
    bound: dict[str, str] = {}
    for index, cell in enumerate(submission_nb.get("cells", [])):
        if cell.get("cell_type") != "code" or index in answer_cells or nbgrader_meta(cell).get("locked"):
            continue
        body, *_ = parse_answer(cell_source(cell))
        for node in body:
            for name in inert.bound_names(node):
                bound.setdefault(name, f"cell {index + 1}")
    return bound
