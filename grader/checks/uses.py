"""Forbidden uses read from code without running it: one rule table, one AST visitor, two ways to resolve names.

:class:`ForbiddenUses` visits a part's syntax tree, a small method per kind of node: imports, names
and attribute chains, base classes, string constants. What it reports is decided by
:func:`grader.checks.forbidden.classify` for the object a name resolves to (the course's code
always; PyTorch's recurrent layers and ops under ``from_scratch``; autograd's and the part's extra
functions under ``by_hand`` and ``functions``) and by :data:`RULES` for how a thing is written (a
dotted name or a string that names the course's code, ``torch._VF``, a recurrent ``torch.ops.aten``
op, autograd's engine), whatever it resolves to.

The two readers differ only in how a written name is resolved, the resolver they pass in:

* :func:`in_function`, for ``check()`` in the student's notebook, reads a function's source (found
  by ``inspect``) and resolves names through its live namespace (:class:`LiveNames`);
* :func:`grader.integrity.static.forbidden_uses`, the trusted verification, resolves them through
  the submission's ``import`` statements.

Neither imports anything: an ``import`` in the code, and every resolution, is looked up only among
the modules already loaded (:func:`live_object`), and only through a module's own namespace, never
a module's ``__getattr__`` (which may import a submodule).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Protocol

import torch

from .forbidden import RNN_CLASSES, RNN_OP_NAMES, Rules, classify, course_package

# ----------------------------------------------------------------------------- the rule table


@dataclass(frozen=True)
class Rule:
    """A forbidden thing recognised by how it is written, whatever it resolves to.

    Attributes:
        flag: the :class:`~grader.checks.forbidden.Rules` attribute that turns the rule on; ``None``: every part.
        where: ``"name"`` (a dotted name as written, ``a.b.c``) or ``"string"`` (a string constant, not a docstring).
        pattern: searched in it.
        label: the use reported, formatted with the pattern's named groups, ``text`` (the string) and
            ``short`` (the repr of its first 40 characters).
        needs: a name the code must bind for the rule to apply.
    """

    flag: str | None
    where: str
    pattern: re.Pattern
    label: str
    needs: str | None = None

    def applies(self, rules: Rules) -> bool:
        return self.flag is None or bool(getattr(rules, self.flag))

    def use(self, text: str, binds) -> str | None:
        """The use ``text`` makes under this rule, or ``None``."""
        if self.needs is not None and not binds(self.needs):
            return None
        match = self.pattern.search(text)
        if match is None:
            return None
        return self.label.format(text=text, short=repr(text[:40]), **match.groupdict())


def _words(*names) -> re.Pattern:
    return re.compile(r"\A(" + "|".join(re.escape(n) for n in sorted(names)) + r")\Z")


RECURRENT_NAMES = set(RNN_OP_NAMES) | {cls.__name__ for cls in RNN_CLASSES} | {"_VF", "_VariableFunctions"}
ENGINE_NAMES = ("_execution_engine", "run_backward")
IN_A_STRING = "{text} (named in a string, e.g. for getattr)"

# What each flag forbids, by spelling. By object (what a name resolves to), forbidden.classify decides under
# the same flags: the course's code always, recurrent layers and ops under from_scratch, autograd's and the
# part's extra functions (Rules.codes) under by_hand and functions.
RULES = (
    Rule(None, "name", re.compile(r"^grader\.(?P<package>reference|answers)(\.|$)"), "grader.{package}"),
    Rule(None, "string", re.compile(r"grader\s*\.\s*(?P<package>reference|answers)"),
         "grader.{package} (named in the string {short})"),
    Rule(None, "string", re.compile(r"\A(?P<package>reference|answers)\Z"),
         "grader.{package} (named in the string {short})", needs="grader"),
    Rule("from_scratch", "name", re.compile(r"(^|\.)_VF(\.|$)"), "torch._VF"),
    Rule("from_scratch", "name", re.compile(r"(^|\.)ops\.aten\.(?P<op>\w*(rnn|lstm|gru)\w*)", re.I),
         "torch.ops.aten.{op}"),
    Rule("from_scratch", "string", _words(*RECURRENT_NAMES), IN_A_STRING),
    Rule("by_hand", "name", re.compile(r"(^|\.)(_execution_engine|run_backward)(\.|$)"), "torch's autograd engine"),
    Rule("by_hand", "string", _words(*ENGINE_NAMES), IN_A_STRING),
)

# ----------------------------------------------------------------------------- resolving names


def _followed(obj) -> bool:
    """Attributes are followed only through modules, classes and torch's op namespaces."""
    return isinstance(obj, (types.ModuleType, type, torch._ops._OpNamespace, torch._ops._Ops))


def _attribute(obj, attr: str):
    if type(obj) is types.ModuleType:  # a plain module: its namespace only, not its __getattr__ (lazy imports)
        return vars(obj)[attr]
    return getattr(obj, attr)


def attribute_chain(obj, attrs):
    """``obj.a.b...`` for ``attrs = ["a", "b", ...]``, followed as :func:`_followed` says; ``None`` if it stops."""
    for attr in attrs:
        if not _followed(obj):
            return None
        try:
            obj = _attribute(obj, attr)
        except Exception:  # noqa: BLE001 - a missing or odd attribute: not resolvable
            return None
    return obj


def live_object(dotted: str):
    """The object at ``dotted`` if its module is already loaded here (nothing is imported); else ``None``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            return attribute_chain(module, parts[cut:])
    return None


class Resolver(Protocol):
    """How the names written in the code are resolved."""

    def lookup(self, parts: list[str]) -> tuple[str | None, object]:
        """``(the dotted path the name stands for, or None; the object, or None if it is not loaded)``."""

    def binds(self, name: str) -> bool:
        """Whether the code's namespace binds ``name``."""


def _qualified_name(obj, written: str) -> str:
    """The dotted path of a module, class or function, as reported; ``written`` for anything else."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) and obj.__module__:
        for name in (obj.__qualname__, obj.__name__):  # a builtin's __qualname__ may name a C class
            if live_object(f"{obj.__module__}.{name}") is obj:
                return f"{obj.__module__}.{name}"
    return written


@dataclass
class LiveNames:
    """Names resolved through a running function's namespace (its globals, closure and the builtins)."""

    namespace: dict

    def lookup(self, parts):
        if parts[0] not in self.namespace:
            return None, None
        head = self.namespace[parts[0]]
        return ".".join([_qualified_name(head, parts[0]), *parts[1:]]), attribute_chain(head, parts[1:])

    def binds(self, name):
        return name in self.namespace


# ----------------------------------------------------------------------------- reading a tree


def dotted_name(node) -> list[str] | None:
    """``["torch", "nn", "LSTM"]`` for the expression ``torch.nn.LSTM``; ``None`` if it is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def docstrings(tree) -> set[int]:
    """ids of the docstring constants of the modules, functions and classes in ``tree``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted paths an ``import`` statement names (``from torch.nn import LSTM``: ``torch.nn.LSTM``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [f"{node.module}.{alias.name}" for alias in node.names if node.module]


class BreadthFirstVisitor(ast.NodeVisitor):
    """A visitor that reaches every node of a tree once, in :func:`ast.walk`'s breadth-first order
    (what is found keeps the order of the code's reading), each node by its own ``visit_*`` method."""

    def visit_tree(self, tree) -> None:
        for node in ast.walk(tree):
            self.visit(node)

    def generic_visit(self, node) -> None:
        pass  # ast.walk reaches the children


class ForbiddenUses(BreadthFirstVisitor):
    """What the code read with :meth:`read` uses that ``rules`` forbid, names resolved by ``resolver``."""

    def __init__(self, rules: Rules, resolver: Resolver):
        self.rules, self.resolver = rules, resolver
        self.found: list[str] = []
        self.name_rules = [r for r in RULES if r.where == "name" and r.applies(rules)]
        self.string_rules = [r for r in RULES if r.where == "string" and r.applies(rules)]
        self.docstrings: set[int] = set()

    def read(self, tree) -> list[str]:
        self.docstrings |= docstrings(tree)
        self.visit_tree(tree)
        return self.found

    def note(self, what: str | None) -> None:
        if what and what not in self.found:
            self.found.append(what)

    def named(self, dotted: str, obj) -> bool:
        """Note ``dotted`` (the path of ``obj``, ``None`` if not loaded) if it is forbidden; whether it is."""
        package = course_package(dotted)
        if package:
            self.note(package)
            return True
        reason = classify(obj, self.rules) if obj is not None else None
        if reason:
            self.note(reason if course_package(reason) else dotted)
        return bool(reason)

    def visit_Import(self, node):
        for dotted in imported_names(node):
            self.named(dotted, live_object(dotted))

    visit_ImportFrom = visit_Import

    def visit_Name(self, node):  # and attribute chains: torch.nn.LSTM
        parts = dotted_name(node) if isinstance(node.ctx, ast.Load) else None
        if not parts:
            return
        dotted, obj = self.resolver.lookup(parts)
        if dotted is not None and self.named(dotted, obj):
            return
        for rule in self.name_rules:  # what resolving cannot see: the name as written
            self.note(rule.use(".".join(parts), self.resolver.binds))

    visit_Attribute = visit_Name

    def visit_ClassDef(self, node):
        for base in node.bases:
            parts = dotted_name(base)
            dotted = self.resolver.lookup(parts)[0] if parts else None
            if dotted and course_package(dotted):
                self.note(f"{dotted} (as a base class)")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and id(node) not in self.docstrings:
            for rule in self.string_rules:
                self.note(rule.use(node.value, self.resolver.binds))


# ----------------------------------------------------------------------------- a function in the notebook


def _sources(fn) -> list[tuple[str, dict]]:
    """(source, namespace) pairs: the function's, or each method's for a class."""
    if isinstance(fn, type):
        found = []
        for value in vars(fn).values():
            value = getattr(value, "__func__", value)
            if isinstance(value, types.FunctionType):
                found += _sources(value)
        return found
    function = inspect.unwrap(fn)
    if not isinstance(function, types.FunctionType):
        return []
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return []
    namespace = dict(vars(builtins))
    namespace.update(function.__globals__)
    try:
        namespace.update(inspect.getclosurevars(function).nonlocals)
    except (TypeError, ValueError):
        pass
    return [(source, namespace)]


def _course_of(fn, rules: Rules) -> list[str]:
    """The course's code ``fn`` is (imported rather than written) or, for a class, derives from."""
    found = []
    reason = classify(fn, rules)
    if reason and course_package(reason):
        found.append(reason)
    for base in fn.__mro__[1:] if isinstance(fn, type) else ():
        if course_package(getattr(base, "__module__", None) or ""):
            found.append(f"{base.__module__}.{base.__qualname__} (as a base class)")
    return found


def in_function(fn, rules: Rules | None) -> list[str]:
    """Forbidden things named in ``fn``'s source (or its methods', for a class), resolved in its namespace."""
    if rules is None:
        return []
    found = _course_of(fn, rules)
    for source, namespace in _sources(fn):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found += ForbiddenUses(rules, LiveNames(namespace)).read(tree)
    return list(dict.fromkeys(found))
