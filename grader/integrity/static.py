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
from grader.checks.uses import ForbiddenUses, live_object
from grader.notebook_changes import CellChange, Comparison, compare
from grader.notebooks import cell_label, normalized

from . import inert
from .definitions import MAGIC_LINE, Definitions, cell_source, nbgrader_meta
from .names import import_bindings, resolve
from .tampering import code_findings

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


def tampering(notebook, source_nb, definitions: Definitions | None = None, parts=()) -> tuple[list[Finding], dict]:
    """``(notebook findings, {part name: findings in its code})`` for a submitted notebook.

    Cells identical to a locked cell of the source (set-up and test cells as released) are not
    read; every other code cell is. ``parts``: ``(name, skip)`` pairs whose reachable code is also
    checked for hard-coded numbers.
    """
    locked = {normalized(cell_source(c)) for c in source_nb.get("cells", [])
              if c.get("cell_type") == "code" and nbgrader_meta(c).get("locked")}
    setup = [ast.parse(definitions.preamble)] if definitions is not None else []
    bindings = import_bindings(setup)
    protected = set(bindings) | {"check"}
    findings: list[Finding] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        if normalized(source) in locked:
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


def structure(notebook, source_nb) -> list[Finding]:
    """Graded and locked cells deleted, edited, duplicated or stripped of their metadata, compared with the source."""
    cells = notebook.get("cells", [])
    comparison = compare(cells, source_nb.get("cells", []))
    per_cell = [(index, f"carries the unknown grade id {grade_id!r} (an added cell)")
                for index, grade_id in comparison.unknown]
    per_cell += [(change.index, what) for change in comparison.known for what in _changed(change, cells, comparison)]
    findings = [Finding(cell_label(cells[index], index), what) for index, what in sorted(per_cell, key=lambda f: f[0])]
    findings += [Finding(f"grade id {grade_id}", f"appears in {count} cells (an added copy)")
                 for grade_id, count in comparison.copies().items()]
    if comparison.stripped:
        return findings + [Finding("notebook", "the nbgrader metadata of every cell was removed")]
    for grade_id in comparison.missing:
        what = "test cell" if nbgrader_meta(comparison.reference[grade_id]).get("grade") else "cell"
        findings.append(Finding(f"{what} {grade_id}", "was deleted or lost its nbgrader metadata"))
    return findings


def _changed(change: CellChange, cells: list, comparison: Comparison) -> list[str]:
    """What :func:`structure` says of one submitted cell that carries a known grade id."""
    meta = nbgrader_meta(cells[change.index])
    graded = meta.get("grade") and nbgrader_meta(comparison.reference[change.grade_id]).get("grade")
    said = [f"its points were changed to {meta.get('points')}"] if graded and change.points_changed else []
    if change.edited:
        said.append("a locked cell (set-up or test) was edited")
    return said + [f"its nbgrader flag {key!r} was changed" for key in change.flags]
