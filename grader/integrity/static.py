"""Reading a submission's code without running it: forbidden uses per part, and signs of tampering.

Two questions, both answered from the ``ast`` alone in the trusted process:

* :func:`forbidden_uses`: which forbidden things a part's code names (its definition and every
  helper of the answer cells it reaches, except the helpers the checks substitute). Names are
  resolved through the imports (``from torch import nn`` makes ``nn.LSTMCell`` the class
  ``torch.nn.LSTMCell``), looked up only in modules the trusted process already has loaded, and
  classified with :func:`grader.checks.forbidden.classify`, exactly like the checks' own static
  detection. Strings that name a recurrent op or layer (``getattr(torch, "lstm_cell")``) and any
  mention of ``grader.reference`` count as uses too. A use scores zero for the part.
* :func:`tampering`: code anywhere in the notebook that has no business in an exercise: it
  replaces attributes of modules (``torch.allclose = ...``), rebinds the notebook's ``check``,
  reaches into IPython (input or AST transformers, ``set_custom_exc``), exits the process, reads
  files or runs commands, introspects the interpreter (frames, ``gc``, ``sys.setprofile``...),
  defines counterfeit values (``__eq__`` overrides, tensor subclasses) or hard-codes many numbers.
  These findings make a submission *suspicious* (listed with the reason); they do not by
  themselves change a score: the trusted verification already ignores everything but the
  answer cells' definitions.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass

from grader.checks.forbidden import dotted_name

from . import inert
from .definitions import MAGIC_LINE, Definitions, cell_source, nbgrader_meta
from .names import import_bindings, resolve  # re-exported: part of this module's interface

# ----------------------------------------------------------------------------- name resolution


def live_object(dotted: str):
    """The object at ``dotted`` if its module is already loaded here (nothing is imported); else ``None``.

    Attributes are followed only through modules, classes and torch's op namespaces, as the
    checks' own static detection does.
    """
    import types

    import torch

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            break
    else:
        return None
    obj = module
    for attr in parts[cut:]:
        if not isinstance(obj, (types.ModuleType, type, torch._ops._OpNamespace, torch._ops._Ops)):
            return None
        try:
            obj = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - a missing or odd attribute: not resolvable
            return None
    return obj


# ----------------------------------------------------------------------------- forbidden uses


def _forbidden_strings():
    from grader.checks import forbidden

    names = set(forbidden.RNN_OP_NAMES)
    names |= {cls.__name__ for cls in forbidden.RNN_CLASSES} | {"_VF", "_VariableFunctions"}
    return names


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


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


def forbidden_uses(definitions: Definitions, name: str, rules, skip=()) -> list[str]:  # noqa: C901
    """What the part ``name`` uses that ``rules`` forbid, found in its code (see the module's docstring)."""
    from grader.checks import forbidden

    if rules is None:
        return []
    named, imports = _top_definitions(definitions)
    nodes = reachable(name, named, skip)
    bindings = import_bindings([ast.parse(definitions.preamble)] + imports + nodes)
    strings = _forbidden_strings() if rules.from_scratch else set()
    found: list[str] = []

    def note(what):
        if what not in found:
            found.append(what)

    for top in nodes:
        docstrings = _docstrings(top)
        for node in ast.walk(top):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    parts = dotted_name(base)
                    dotted = resolve(parts, bindings) if parts else None
                    if dotted and forbidden.course_package(dotted):
                        note(f"{dotted} (as a base class)")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{node.module}.{a.name}" for a in node.names if node.module]
                for dotted in modules:
                    if forbidden.course_package(dotted):
                        note(forbidden.course_package(dotted))
                    elif rules.from_scratch or rules.codes:
                        obj = live_object(dotted)
                        if obj is not None and forbidden.classify(obj, rules):
                            note(dotted)
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                parts = dotted_name(node)
                dotted = resolve(parts, bindings) if parts else None
                if dotted is None:
                    continue
                if forbidden.course_package(dotted):
                    note(forbidden.course_package(dotted))
                    continue
                obj = live_object(dotted)
                if obj is not None and forbidden.classify(obj, rules):
                    note(dotted)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
                named = re.search(r"grader\s*\.\s*(reference|answers)", text)
                if named or (text in ("reference", "answers") and "grader" in bindings):
                    package = f"grader.{named.group(1) if named else text}"
                    note(f"{package} (named in the string {text[:40]!r})")
                elif text in strings:
                    note(f"{text} (named in a string, e.g. for getattr)")
    # the part itself imported rather than written (from grader.reference import rnn_forward)
    own = import_bindings(imports).get(name)
    if own is not None:
        if forbidden.course_package(own):
            note(forbidden.course_package(own))
        else:
            obj = live_object(own)
            if obj is not None and forbidden.classify(obj, rules):
                note(own)
    # a name bound at the top level to something forbidden (from grader.reference import rnn_cell)
    for local, dotted in bindings.items():
        if forbidden.course_package(dotted) and any(
                isinstance(n, ast.Name) and n.id == local for top in nodes for n in ast.walk(top)):
            note(forbidden.course_package(dotted))
    return found


# ----------------------------------------------------------------------------- tampering

IPYTHON_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "input_splitter", "ast_transformers",
                 "set_custom_exc", "custom_exceptions", "showtraceback", "_showtraceback", "showsyntaxerror",
                 "register_magic_function", "prefilter_manager", "run_cell", "run_cell_async", "events",
                 "displayhook", "display_pub", "transform_cell", "InteractiveTB", "SyntaxTB"}
EXITS = {"sys.exit", "os._exit", "os.abort", "os.kill", "os.killpg", "signal.raise_signal", "signal.pthread_kill",
         "signal.signal", "signal.alarm", "signal.setitimer", "os.fork", "os.forkpty", "posix._exit"}
SYSTEM_PREFIXES = ("os.", "subprocess.", "shutil.", "glob.", "pathlib.", "io.", "socket.", "urllib.", "http.",
                   "requests.", "ctypes.", "cffi.", "gc.", "inspect.", "linecache.", "importlib.", "pickle.",
                   "marshal.", "dill.", "builtins.", "code.", "codeop.", "runpy.", "zipimport.", "tempfile.",
                   "pty.", "multiprocessing.", "threading.", "asyncio.subprocess", "tracemalloc.", "faulthandler.")
SYS_ATTRS = {"setprofile", "settrace", "_getframe", "modules", "meta_path", "path_hooks", "path",
             "addaudithook", "breakpointhook", "excepthook", "displayhook", "stdout", "stderr", "__stdout__",
             "__stderr__", "exit", "setrecursionlimit"}
SYS_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}  # printing to them is harmless; replacing them is not
DUNDER_ATTRS = {"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame", "gi_frame",
                "cr_frame", "__code__", "__globals__", "__closure__", "__builtins__", "__subclasses__",
                "__mro__", "__bases__", "__func__", "__self__", "__defaults__", "__kwdefaults__"}
BUILTIN_CALLS = {"open": "opens a file", "exec": "executes code from a string", "eval": "evaluates a string",
                 "compile": "compiles code from a string", "__import__": "imports a module by name",
                 "exit": "exits the process", "quit": "exits the process", "breakpoint": "starts a debugger",
                 "globals": "reads the notebook's global namespace", "vars": "reads a namespace",
                 "setattr": None, "delattr": None, "input": "waits for input"}
COUNTERFEIT_METHODS = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__",
                       "__array__", "__array_function__", "__array_ufunc__", "__instancecheck__",
                       "__subclasscheck__", "__getattribute__", "__float__", "__index__", "__abs__", "__lt__",
                       "__le__", "__gt__", "__ge__"}
# The course's and the system's files, named in a string: as a path or a path's part (``"../solutions"``,
# ``"reference.py"``), not as a word of a message (``print("matches the reference")``).
FILE_WORDS = re.compile(r"(^|[/\\.])(solutions|gradebook|reference|autograded|submitted|feedback|nbgrader)"
                        r"([/\\.]|$)|grader[/\\.]|\.ipynb|/work/|\.venv|site-packages|/proc/|/etc/|/root",
                        re.IGNORECASE)
# IPython's display functions show outputs; the rest of IPython can rewrite or hide what cells do.
HARMLESS_IPYTHON = ("IPython.display",)
NUMBER_LIMIT = 24  # literal numbers in one part's code beyond which it looks hard-coded


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


def _module_like(dotted: str) -> bool:
    head = dotted.split(".")[0]
    return head in sys.modules or head in ("torch", "numpy", "math", "grader", "IPython", "builtins", "sys", "os")


def code_findings(tree: ast.Module, bindings: dict[str, str], protected_names=(), part_code=False) -> list[str]:  # noqa: C901
    """What in ``tree`` looks like tampering (see the module's docstring); plain sentences."""
    found: list[str] = []

    def note(what):
        if what not in found:
            found.append(what)

    def target_of(node) -> str | None:
        """The dotted module attribute an assignment target replaces, if it is one."""
        base = node
        while isinstance(base, ast.Subscript):
            base = base.value
        parts = dotted_name(base) if isinstance(base, (ast.Attribute, ast.Name)) else None
        if isinstance(base, ast.Call):  # vars(torch)[...] = ...
            func = dotted_name(base.func)
            if func in (["vars"], ["globals"]) and base.args:
                inner = dotted_name(base.args[0]) if base.args else None
                resolved = resolve(inner, bindings) if inner else None
                return f"the namespace of {resolved or 'the notebook'}"
            return None
        if not parts or len(parts) < 2 and isinstance(base, ast.Name):
            return None
        resolved = resolve(parts, bindings)
        if resolved and _module_like(resolved):
            return resolved
        if parts[0] in ("__builtins__", "builtins"):
            return ".".join(parts)
        return None

    numbers = 0
    docstrings = _docstrings(tree)
    local = _local_bindings(tree)
    for node in ast.walk(tree):
        # replacing attributes of modules, or names the notebook imported
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for element in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                    if isinstance(element, (ast.Attribute, ast.Subscript)):
                        replaced = target_of(element)
                        if replaced:
                            note(f"replaces {replaced}" if not isinstance(node, ast.Delete) else f"deletes {replaced}")
                    elif isinstance(element, ast.Name) and element.id in protected_names and \
                            id(element) not in local:
                        note(f"rebinds {element.id}, which the notebook imported")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected_names \
                and id(node) not in local:
            note(f"redefines {node.name}, which the notebook imported")
        if isinstance(node, ast.ClassDef):
            defined = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
            methods = sorted(defined & COUNTERFEIT_METHODS)
            if methods:
                note(f"defines class {node.name} with {', '.join(methods)} (a value that can pass comparisons)")
            for base in node.bases:
                parts = dotted_name(base)
                resolved = resolve(parts, bindings) if parts else None
                label = resolved or (".".join(parts) if parts else "")
                if label.endswith(("Tensor", "ndarray", "Parameter")) or label in ("float", "int", "tuple", "list",
                                                                                   "dict"):
                    note(f"defines class {node.name}, a subclass of {label} (a counterfeit value)")
        if isinstance(node, ast.Call):
            parts = dotted_name(node.func)
            if parts:
                dotted = resolve(parts, bindings) or ".".join(parts)
                if parts == ["get_ipython"] or _ipython_internals(dotted):
                    note("uses IPython's API (get_ipython), which can rewrite or hide what cells do")
                if dotted in EXITS or parts in (["exit"], ["quit"]):
                    note(f"calls {dotted} (ends or signals the process)")
                elif len(parts) == 1 and parts[0] in BUILTIN_CALLS and parts[0] not in bindings:
                    if parts[0] in ("setattr", "delattr") and node.args:
                        inner = dotted_name(node.args[0])
                        resolved = resolve(inner, bindings) if inner else None
                        if resolved and _module_like(resolved):
                            note(f"{'replaces' if parts[0] == 'setattr' else 'deletes'} attributes of {resolved}")
                    elif parts[0] == "getattr":
                        pass
                    elif BUILTIN_CALLS.get(parts[0]):
                        note(f"calls {parts[0]}() ({BUILTIN_CALLS[parts[0]]})")
                elif dotted.startswith(SYSTEM_PREFIXES) or dotted.split(".")[0] in ("subprocess", "shutil", "ctypes",
                                                                                     "gc", "socket", "pathlib"):
                    note(f"calls {dotted} (files, processes or the interpreter's internals)")
                elif dotted.startswith("sys.") and dotted.split(".")[1] in SYS_ATTRS - SYS_STREAMS:
                    note(f"uses {dotted} (the interpreter's internals)")
                elif parts[-1] in ("read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "rglob") \
                        and len(parts) > 1:
                    note(f"calls .{parts[-1]}() (reads or writes files)")
        if isinstance(node, ast.Attribute):
            if node.attr in IPYTHON_ATTRS and isinstance(node.value, ast.Call) and \
                    dotted_name(node.value.func) == ["get_ipython"]:
                note(f"uses get_ipython().{node.attr}")
            elif node.attr in DUNDER_ATTRS:
                note(f"uses .{node.attr} (the interpreter's internals)")
            parts = dotted_name(node)
            resolved = resolve(parts, bindings) if parts else None
            if resolved and resolved.startswith("sys.") and resolved.split(".")[1] in SYS_ATTRS - SYS_STREAMS and \
                    resolved.split(".")[1] not in ("exit",):
                note(f"uses {resolved} (the interpreter's internals)")
            if resolved and resolved.startswith("grader") and not resolved.startswith("grader.checks.check"):
                note(f"uses {resolved} (the grader's own code)")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in ("get_ipython", "__IPYTHON__") :
                note("uses IPython's API (get_ipython), which can rewrite or hide what cells do")
            elif node.id == "__builtins__":
                note("uses __builtins__ (the interpreter's internals)")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                head = module.split(".")[0]
                display_only = module == "IPython" and names in ([], ["display"])  # its uses are read as calls
                if _ipython_internals(module) and not display_only:
                    note(f"imports {module} (IPython's internals)")
                elif head in ("ctypes", "cffi", "gc", "subprocess", "pty", "socket", "importlib", "inspect",
                              "builtins", "pickle", "marshal", "dill", "runpy", "multiprocessing"):
                    note(f"imports {module}")
                elif module.startswith("grader") and module not in ("grader.checks",):
                    note(f"imports {module} (the grader's own code)")
                elif module == "grader.checks" and isinstance(node, ast.ImportFrom) and \
                        any(a.name != "check" for a in node.names):
                    note("imports the grader's internals from grader.checks")
        if isinstance(node, ast.Raise) and node.exc is not None:
            parts = dotted_name(node.exc.func if isinstance(node.exc, ast.Call) else node.exc)
            if parts and parts[-1] in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
                note(f"raises {parts[-1]} (ends the process)")
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, str) and FILE_WORDS.search(node.value) and len(node.value) < 300:
                note(f"names the course's or the system's files ({node.value[:60]!r})")
            elif isinstance(node.value, float) or (isinstance(node.value, int) and not isinstance(node.value, bool)
                                                   and abs(node.value) > 16):
                numbers += 1
    if part_code and numbers > NUMBER_LIMIT:
        note(f"contains {numbers} literal numbers (hard-coded outputs?)")
    return found


def _ipython_internals(dotted: str) -> bool:
    """Whether ``dotted`` is part of IPython other than its display functions."""
    return dotted.split(".")[0] in ("IPython", "ipykernel") and \
        not any(dotted == m or dotted.startswith(m + ".") for m in HARMLESS_IPYTHON)


def _local_bindings(tree) -> set[int]:
    """ids of the name and definition nodes that bind a function's local variable (not declared ``global``):
    rebinding ``check`` inside a function changes nothing outside it."""
    local: set[int] = set()
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        inner = [n for child in ast.iter_child_nodes(function) for n in ast.walk(child)]
        declared = {name for n in inner if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
        for n in inner:
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id not in declared:
                local.add(id(n))
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name not in declared:
                local.add(id(n))
    return local


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
