"""Signs of tampering in a cell's code, read from its syntax tree without running it.

Code that has no business in an exercise: it replaces attributes of modules (``torch.allclose =
...``), rebinds the notebook's ``check``, reaches into IPython (input or AST transformers,
``set_custom_exc``), exits the process, reads files or runs commands, introspects the interpreter
(frames, ``gc``, ``sys.setprofile``...), defines counterfeit values (``__eq__`` overrides, tensor
subclasses) or hard-codes many numbers. :func:`code_findings` says so in plain sentences; the
:class:`_Tampering` visitor has one small method per kind of node, and what counts is data: the
tables below.
"""

from __future__ import annotations

import ast
import re
import sys

from grader.checks.uses import BreadthFirstVisitor, docstrings, dotted_name

from .names import resolve

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
SYSTEM_MODULES = ("subprocess", "shutil", "ctypes", "gc", "socket", "pathlib")  # any call into them
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
FILE_METHODS = ("read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "rglob")
SUSPICIOUS_IMPORTS = ("ctypes", "cffi", "gc", "subprocess", "pty", "socket", "importlib", "inspect",
                      "builtins", "pickle", "marshal", "dill", "runpy", "multiprocessing")
PROCESS_EXCEPTIONS = ("SystemExit", "KeyboardInterrupt", "GeneratorExit")
COUNTERFEIT_METHODS = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__",
                       "__array__", "__array_function__", "__array_ufunc__", "__instancecheck__",
                       "__subclasscheck__", "__getattribute__", "__float__", "__index__", "__abs__", "__lt__",
                       "__le__", "__gt__", "__ge__"}
COUNTERFEIT_BASE_ENDINGS = ("Tensor", "ndarray", "Parameter")
COUNTERFEIT_BUILTIN_BASES = ("float", "int", "tuple", "list", "dict")
# The course's and the system's files, named in a string: as a path or a path's part (``"../solutions"``,
# ``"reference.py"``), not as a word of a message (``print("matches the reference")``).
FILE_WORDS = re.compile(r"(^|[/\\.])(solutions|gradebook|reference|autograded|submitted|feedback|nbgrader)"
                        r"([/\\.]|$)|grader[/\\.]|\.ipynb|/work/|\.venv|site-packages|/proc/|/etc/|/root",
                        re.IGNORECASE)
# IPython's display functions show outputs; the rest of IPython can rewrite or hide what cells do.
HARMLESS_IPYTHON = ("IPython.display",)
LOADED_ELSEWHERE = ("torch", "numpy", "math", "grader", "IPython", "builtins", "sys", "os")  # module-like heads
NUMBER_LIMIT = 24  # literal numbers in one part's code beyond which it looks hard-coded
USES_IPYTHON = "uses IPython's API (get_ipython), which can rewrite or hide what cells do"


def _module_like(dotted: str) -> bool:
    head = dotted.split(".")[0]
    return head in sys.modules or head in LOADED_ELSEWHERE


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


def _assigned(target) -> list:
    """The elements an assignment target binds: ``a, b.c = ...`` binds ``a`` and ``b.c``."""
    return target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]


class _Tampering(BreadthFirstVisitor):
    def __init__(self, tree, bindings: dict[str, str], protected_names):
        self.bindings, self.protected = bindings, protected_names
        self.found: list[str] = []
        self.numbers = 0  # literal numbers, counted as a part's code may hard-code its outputs
        self.docstrings = docstrings(tree)
        self.local = _local_bindings(tree)

    def note(self, what: str) -> None:
        if what not in self.found:
            self.found.append(what)

    def resolved(self, node) -> str | None:
        parts = dotted_name(node)
        return resolve(parts, self.bindings) if parts else None

    # ------------------------------------------------------------------ replacing modules' attributes and names

    def visit_Assign(self, node):  # also AugAssign, AnnAssign and Delete
        verb = "deletes" if isinstance(node, ast.Delete) else "replaces"
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for element in (element for target in targets for element in _assigned(target)):
            if isinstance(element, (ast.Attribute, ast.Subscript)):
                replaced = self.replaced(element)
                if replaced:
                    self.note(f"{verb} {replaced}")
            elif isinstance(element, ast.Name) and element.id in self.protected and id(element) not in self.local:
                self.note(f"rebinds {element.id}, which the notebook imported")

    visit_AugAssign = visit_AnnAssign = visit_Delete = visit_Assign

    def replaced(self, target) -> str | None:
        """The dotted module attribute an assignment target replaces, if it is one."""
        while isinstance(target, ast.Subscript):
            target = target.value
        if isinstance(target, ast.Call):  # vars(torch)[...] = ...
            return self.replaced_namespace(target)
        if not isinstance(target, ast.Attribute):
            return None
        parts = dotted_name(target)
        if not parts:
            return None
        resolved = resolve(parts, self.bindings)
        if resolved and _module_like(resolved):
            return resolved
        if parts[0] in ("__builtins__", "builtins"):
            return ".".join(parts)
        return None

    def replaced_namespace(self, call) -> str | None:
        if dotted_name(call.func) not in (["vars"], ["globals"]) or not call.args:
            return None
        return f"the namespace of {self.resolved(call.args[0]) or 'the notebook'}"

    # ------------------------------------------------------------------ definitions

    def visit_FunctionDef(self, node):  # also AsyncFunctionDef; and ClassDef, through visit_ClassDef
        if node.name in self.protected and id(node) not in self.local:
            self.note(f"redefines {node.name}, which the notebook imported")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.visit_FunctionDef(node)
        defined = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        methods = sorted(defined & COUNTERFEIT_METHODS)
        if methods:
            self.note(f"defines class {node.name} with {', '.join(methods)} (a value that can pass comparisons)")
        for base in node.bases:
            parts = dotted_name(base)
            label = self.resolved(base) or (".".join(parts) if parts else "")
            if label.endswith(COUNTERFEIT_BASE_ENDINGS) or label in COUNTERFEIT_BUILTIN_BASES:
                self.note(f"defines class {node.name}, a subclass of {label} (a counterfeit value)")

    # ------------------------------------------------------------------ calls

    def visit_Call(self, node):
        parts = dotted_name(node.func)
        if not parts:
            return
        dotted = resolve(parts, self.bindings) or ".".join(parts)
        if parts == ["get_ipython"] or _ipython_internals(dotted):
            self.note(USES_IPYTHON)
        if dotted in EXITS or parts in (["exit"], ["quit"]):
            self.note(f"calls {dotted} (ends or signals the process)")
        elif len(parts) == 1 and parts[0] in BUILTIN_CALLS and parts[0] not in self.bindings:
            self.builtin_call(parts[0], node.args)
        elif dotted.startswith(SYSTEM_PREFIXES) or dotted.split(".")[0] in SYSTEM_MODULES:
            self.note(f"calls {dotted} (files, processes or the interpreter's internals)")
        elif dotted.startswith("sys.") and dotted.split(".")[1] in SYS_ATTRS - SYS_STREAMS:
            self.note(f"uses {dotted} (the interpreter's internals)")
        elif parts[-1] in FILE_METHODS and len(parts) > 1:
            self.note(f"calls .{parts[-1]}() (reads or writes files)")

    def builtin_call(self, name: str, args) -> None:
        if name in ("setattr", "delattr") and args:
            resolved = self.resolved(args[0])
            if resolved and _module_like(resolved):
                self.note(f"{'replaces' if name == 'setattr' else 'deletes'} attributes of {resolved}")
        elif BUILTIN_CALLS.get(name):
            self.note(f"calls {name}() ({BUILTIN_CALLS[name]})")

    # ------------------------------------------------------------------ attributes and names

    def visit_Attribute(self, node):
        if node.attr in IPYTHON_ATTRS and isinstance(node.value, ast.Call) and \
                dotted_name(node.value.func) == ["get_ipython"]:
            self.note(f"uses get_ipython().{node.attr}")
        elif node.attr in DUNDER_ATTRS:
            self.note(f"uses .{node.attr} (the interpreter's internals)")
        resolved = self.resolved(node)
        if resolved and resolved.startswith("sys.") and resolved.split(".")[1] in SYS_ATTRS - SYS_STREAMS - {"exit"}:
            self.note(f"uses {resolved} (the interpreter's internals)")
        if resolved and resolved.startswith("grader") and not resolved.startswith("grader.checks.check"):
            self.note(f"uses {resolved} (the grader's own code)")

    def visit_Name(self, node):
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id in ("get_ipython", "__IPYTHON__"):
            self.note(USES_IPYTHON)
        elif node.id == "__builtins__":
            self.note("uses __builtins__ (the interpreter's internals)")

    # ------------------------------------------------------------------ imports, raises, constants

    def visit_Import(self, node):  # also ImportFrom
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.imported(alias.name, [], node)
        else:
            self.imported(node.module or "", [a.name for a in node.names], node)

    visit_ImportFrom = visit_Import

    def imported(self, module: str, names: list[str], node) -> None:
        display_only = module == "IPython" and names in ([], ["display"])  # its uses are read as calls
        if _ipython_internals(module) and not display_only:
            self.note(f"imports {module} (IPython's internals)")
        elif module.split(".")[0] in SUSPICIOUS_IMPORTS:
            self.note(f"imports {module}")
        elif module.startswith("grader") and module not in ("grader.checks",):
            self.note(f"imports {module} (the grader's own code)")
        elif module == "grader.checks" and isinstance(node, ast.ImportFrom) and any(n != "check" for n in names):
            self.note("imports the grader's internals from grader.checks")

    def visit_Raise(self, node):
        if node.exc is None:
            return
        parts = dotted_name(node.exc.func if isinstance(node.exc, ast.Call) else node.exc)
        if parts and parts[-1] in PROCESS_EXCEPTIONS:
            self.note(f"raises {parts[-1]} (ends the process)")

    def visit_Constant(self, node):
        value = node.value
        if id(node) in self.docstrings:
            return
        if isinstance(value, str) and FILE_WORDS.search(value) and len(value) < 300:
            self.note(f"names the course's or the system's files ({value[:60]!r})")
        elif isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) > 16):
            self.numbers += 1


def code_findings(tree: ast.Module, bindings: dict[str, str], protected_names=(), part_code=False) -> list[str]:
    """What in ``tree`` looks like tampering (see the module's docstring); plain sentences.

    ``bindings``: the names the code's imports bind (:func:`.names.import_bindings`);
    ``protected_names``: names the notebook imported, which the code may not rebind;
    ``part_code``: ``tree`` is one part's whole code, which may not hard-code many numbers.
    """
    visitor = _Tampering(tree, bindings, protected_names)
    visitor.visit_tree(tree)
    if part_code and visitor.numbers > NUMBER_LIMIT:
        visitor.note(f"contains {visitor.numbers} literal numbers (hard-coded outputs?)")
    return visitor.found
