"""Reading a submission's code without running it: forbidden uses per part, and signs of tampering.

Three questions, all answered from the code alone in the trusted process:

* :func:`forbidden_uses`: which forbidden things a part's code names (its definition and every
  helper of the answer cells it reaches, except the helpers the checks substitute). The reading is
  the checks' own (:class:`grader.checks.uses.ForbiddenUses`, the detector ``check()`` runs in
  the notebook), with names resolved through the imports (``from torch import nn`` makes
  ``nn.LSTMCell`` the class ``torch.nn.LSTMCell``) and looked up only in modules the trusted
  process already has loaded (:func:`live_object`). A use scores zero for the part.
* :func:`tampering`: code anywhere in the notebook that has no business in an exercise
  (:func:`.tampering.code_findings` says what counts). These findings make a submission
  *suspicious* (listed with the reason); they do not by themselves change a score: the trusted
  verification already ignores everything but the answer cells' definitions.
* :func:`structure`: graded and locked cells deleted, edited, duplicated or stripped of their metadata.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.checks.forbidden import course_package
from grader.checks.uses import ForbiddenUses, live_object  # live_object: re-exported, part of this module's interface

from . import inert
from .definitions import MAGIC_LINE, Definitions, cell_source, nbgrader_meta
from .names import import_bindings, resolve  # re-exported: part of this module's interface
from .tampering import code_findings  # re-exported: part of this module's interface

# ----------------------------------------------------------------------------- forbidden uses


def _top_definitions(definitions: Definitions) -> tuple[dict[str, list], list]:
    """name -> top-level nodes of the answer cells that bind it (defs, classes, the kept assignments,
    also to several names: ``step, _ = torch.lstm_cell, 0``); and all their top-level import nodes."""
    named: dict[str, list] = {}
    imports = []
    for cell in definitions.cells:
        if not cell.code:
            continue
        tree = ast.parse(cell.code)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
                continue
            for name in inert.bound_names(node):
                named.setdefault(name, []).append(node)
    return named, imports


def reachable(name: str, named: dict[str, list], skip=()) -> list:
    """The def/class nodes of ``name`` and of every answer-cell helper they refer to (not ``skip``)."""
    seen, order, todo = set(), [], [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in named or (current in skip and current != name):
            continue
        seen.add(current)
        for node in named[current]:
            order.append(node)
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name) and inner.id in named and inner.id not in seen:
                    todo.append(inner.id)
    return order


@dataclass
class ImportedNames:
    """Names resolved through a submission's ``import`` statements, objects looked up among the loaded modules."""

    bindings: dict[str, str]

    def lookup(self, parts):
        dotted = resolve(parts, self.bindings)
        return dotted, (live_object(dotted) if dotted else None)

    def binds(self, name):
        return name in self.bindings


def forbidden_uses(definitions: Definitions, name: str, rules, skip=()) -> list[str]:
    """What the part ``name`` uses that ``rules`` forbid, found in its code (see the module's docstring)."""
    if rules is None:
        return []
    named, imports = _top_definitions(definitions)
    nodes = reachable(name, named, skip)
    bindings = import_bindings([ast.parse(definitions.preamble)] + imports + nodes)
    detector = ForbiddenUses(rules, ImportedNames(bindings))
    for top in nodes:
        detector.read(top)
    own = import_bindings(imports).get(name)  # the part itself imported rather than written
    if own is not None:
        detector.named(own, live_object(own))
    for local, dotted in bindings.items():  # a name bound to the course's code, wherever it appears
        if course_package(dotted) and any(isinstance(n, ast.Name) and n.id == local for top in nodes
                                          for n in ast.walk(top)):
            detector.note(course_package(dotted))
    return detector.found


# ----------------------------------------------------------------------------- tampering


@dataclass
class Finding:
    """One sign of tampering: where (a cell label) and what."""

    where: str
    what: str

    def text(self) -> str:
        return f"{self.where}: {self.what}"


def parse_cell(source: str) -> ast.Module | None:
    if source.lstrip().startswith("%%"):
        return None
    text = "\n".join(MAGIC_LINE.sub(r"\1pass", line) for line in source.split("\n"))
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def cell_label(cell, index: int) -> str:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return f"cell {index + 1} ({grade_id})" if grade_id else f"cell {index + 1}"


def _normalized(source: str) -> str:
    kept, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line.rstrip())
    return "\n".join(kept).strip("\n")


def tampering(notebook, source_nb, definitions: Definitions | None = None, parts=()) -> tuple[list[Finding], dict]:
    """``(notebook findings, {part name: findings in its code})`` for a submitted notebook.

    Cells identical to a locked cell of the source (set-up and test cells as released) are not
    read; every other code cell is. ``parts``: ``(name, skip)`` pairs whose reachable code is also
    checked for hard-coded numbers.
    """
    locked = {_normalized(cell_source(c)) for c in source_nb.get("cells", [])
              if c.get("cell_type") == "code" and nbgrader_meta(c).get("locked")}
    setup = [ast.parse(definitions.preamble)] if definitions is not None else []
    bindings = import_bindings(setup)
    protected = set(bindings) | {"check"}
    findings: list[Finding] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        if _normalized(source) in locked:
            continue
        tree = parse_cell(source)
        if tree is None:
            continue
        cell_bindings = dict(bindings)
        cell_bindings.update(import_bindings([tree]))
        for what in code_findings(tree, cell_bindings, protected_names=protected - _imports_same(tree, bindings)):
            findings.append(Finding(cell_label(cell, index), what))
    per_part: dict[str, list[str]] = {}
    if definitions is not None:
        named, imports = _top_definitions(definitions)
        for name, skip in parts:
            nodes = reachable(name, named, skip)
            if not nodes:
                continue
            local = dict(bindings)
            local.update(import_bindings(imports + nodes))
            module = ast.Module(body=nodes, type_ignores=[])
            # the rest is reported for the cell it is in; per part, only what needs the part's whole code
            per_part[name] = [what for what in code_findings(module, local, part_code=True)
                              if what.startswith("contains")]
    return findings, per_part


def _imports_same(tree, bindings) -> set[str]:
    """Names a cell imports again exactly as the set-up did (``import torch`` twice is not a rebinding)."""
    again = import_bindings([tree])
    return {name for name, dotted in again.items() if bindings.get(name) == dotted}


def _points(meta: dict) -> float:
    try:
        return float(meta.get("points") or 0)
    except (TypeError, ValueError):
        return float("nan")


def structure(notebook, source_nb) -> list[Finding]:  # noqa: C901
    """Graded and locked cells deleted, edited, duplicated or stripped of their metadata, compared with the source."""
    findings: list[Finding] = []
    source_cells = {nbgrader_meta(c)["grade_id"]: c for c in source_nb.get("cells", [])
                    if nbgrader_meta(c).get("grade_id")}
    seen: dict[str, int] = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if not grade_id:
            continue
        seen[grade_id] = seen.get(grade_id, 0) + 1
        if grade_id not in source_cells:
            findings.append(Finding(cell_label(cell, index),
                                    f"carries the unknown grade id {grade_id!r} (an added cell)"))
            continue
        expected = source_cells[grade_id]
        meta, wanted = nbgrader_meta(cell), nbgrader_meta(expected)
        if meta.get("grade") and wanted.get("grade") and _points(meta) != _points(wanted):
            findings.append(Finding(cell_label(cell, index), f"its points were changed to {meta.get('points')}"))
        if wanted.get("locked") and _normalized(cell_source(cell)) != _normalized(cell_source(expected)):
            findings.append(Finding(cell_label(cell, index), "a locked cell (set-up or test) was edited"))
        for key in ("grade", "solution", "locked"):
            if bool(meta.get(key)) != bool(wanted.get(key)):
                findings.append(Finding(cell_label(cell, index), f"its nbgrader flag {key!r} was changed"))
    for grade_id, count in seen.items():
        if count > 1 and grade_id in source_cells:
            findings.append(Finding(f"grade id {grade_id}", f"appears in {count} cells (an added copy)"))
    missing = [gid for gid in source_cells if gid not in seen]
    if missing and len(missing) == len(source_cells):
        findings.append(Finding("notebook", "the nbgrader metadata of every cell was removed"))
    else:
        for grade_id in missing:
            what = "test cell" if nbgrader_meta(source_cells[grade_id]).get("grade") else "cell"
            findings.append(Finding(f"{what} {grade_id}", "was deleted or lost its nbgrader metadata"))
    return findings
