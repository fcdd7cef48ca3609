"""Which top-level statements of an answer cell the verification keeps: definitions and inert bindings.

Kept (everything else is dropped, and listed with the reason):

* ``import`` and ``from ... import``; ``def``, ``async def`` and ``class`` (with their decorators);
* assignments to plain names (``NAME = ...``, ``A, B = ...``, ``NAME: T = ...``, ``NAME += ...``)
  whose right-hand side is an *inert expression*: literals, names, attribute reads, subscripts
  (``tuple[torch.Tensor, torch.Tensor]``), operators, conditional expressions, f-strings,
  containers and comprehensions of inert parts, lambdas (their body runs only when called), and
  calls to the pure functions of :data:`PURE_CALLS` (``math.sqrt``, ``functools.partial``,
  ``torch.tensor``, ``nn.Tanh``, ``typing.TypeVar``...), whose arguments are inert and not lambdas.

So ``ACT = {"tanh": torch.tanh, "relu": torch.relu}``, ``sig = torch.sigmoid``,
``SCALE = 1 / math.sqrt(2)``, ``step = partial(rnn_step, act=torch.tanh)`` and
``State = tuple[Tensor, Tensor]`` run in the verification as in the notebook, while
``torch.allclose = ...`` (an attribute), ``check = ...`` or ``torch = ...`` (names the notebook
imported), ``print(...)``, ``open(...)``, ``get_ipython()...``, loops, ``if`` blocks and calls of
the submission's own functions do not. An inert expression calls no code of the submission
directly: it may name the submission's functions (in a table, or in ``partial``), not call them.
What it can still run is what operators or conversions run on the submission's own classes,
which is no more than those classes' bodies already run when they are defined; and whatever is
kept runs inside the sandboxed runner, with its time and memory limits.

Names are resolved through the imports of the set-up cells and of every answer cell
(:mod:`.names`); a name also bound by a definition or an assignment of an answer cell is not
trusted to be the module or built-in it may look like.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from grader.checks.uses import dotted_name

from .names import resolve

PROTECTED = frozenset({"check"})  # imported by the notebook's locked set-up cell (not part of the preamble)

PURE_BUILTINS = frozenset({
    "int", "float", "complex", "bool", "str", "bytes", "tuple", "list", "dict", "set", "frozenset", "range",
    "slice", "len", "abs", "min", "max", "sum", "round", "divmod", "pow", "sorted", "reversed", "zip",
    "enumerate", "any", "all", "chr", "ord", "repr", "format", "isinstance", "issubclass"})

PURE_CALLS = frozenset({
    "functools.partial", "functools.partialmethod",
    "operator.itemgetter", "operator.attrgetter", "operator.methodcaller",
    "collections.namedtuple", "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
    "typing.TypeVar", "typing.NewType", "typing.NamedTuple", "typing.TypedDict", "typing.ParamSpec",
    "typing.cast", "dataclasses.field",
    "torch.tensor", "torch.as_tensor", "torch.zeros", "torch.ones", "torch.full", "torch.eye", "torch.arange",
    "torch.linspace", "torch.logspace", "torch.empty", "torch.zeros_like", "torch.ones_like",
    "torch.full_like", "torch.empty_like", "torch.finfo", "torch.iinfo", "torch.device", "torch.Size",
    "torch.get_default_dtype", "torch.cuda.is_available", "torch.sqrt", "torch.exp", "torch.log",
    "torch.tanh", "torch.sigmoid", "torch.cat", "torch.stack",
    *(f"torch.nn.{name}" for name in ("Tanh", "ReLU", "Sigmoid", "Identity", "Softmax", "LogSoftmax",
                                      "LeakyReLU", "GELU", "ELU", "Hardtanh", "Softplus", "Softsign",
                                      "Tanhshrink", "SiLU"))})
PURE_MODULES = ("math.",)  # every function of these modules is pure


@dataclass
class Scope:
    """What the names of the answer cells stand for.

    ``imports``: name -> dotted path, from the set-up cells' and the answer cells' imports (names
    imported two different ways, or also bound otherwise, left out); ``rebound``: names that a
    definition or an assignment of an answer cell binds (never trusted as a module or a built-in);
    an assignment may not rebind an ``imported`` name.
    """

    imports: dict = field(default_factory=dict)
    rebound: set = field(default_factory=set)
    imported: set = field(default_factory=set)   # every name an import binds (kept or not in ``imports``)

    def protected(self, name: str) -> bool:
        return name in PROTECTED or name in self.imported or name in self.imports or \
            (name.startswith("__") and name.endswith("__"))


def statement_problem(node: ast.stmt, scope: Scope) -> str | None:
    """Why the top-level statement ``node`` is not kept, or ``None`` when it is (see the module's docstring)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None
    if isinstance(node, ast.Assign):
        targets, value, annotation = node.targets, node.value, None
    elif isinstance(node, ast.AnnAssign):
        targets, value, annotation = [node.target], node.value, node.annotation
        if value is None:
            return "an annotation without a value binds nothing"
    elif isinstance(node, ast.AugAssign):
        targets, value, annotation = [node.target], node.value, None
    else:
        return "not a definition, an import or an assignment to a name"
    for target in targets:
        problem = _target_problem(target, scope)
        if problem:
            return problem
    return _expression_problem(value, scope) or (_expression_problem(annotation, scope) if annotation else None)


def _target_problem(target, scope: Scope) -> str | None:
    if isinstance(target, (ast.Tuple, ast.List)):
        return next((p for p in (_target_problem(t, scope) for t in target.elts) if p), None)
    if isinstance(target, ast.Starred):
        return _target_problem(target.value, scope)
    if not isinstance(target, ast.Name):
        return "it assigns to an attribute or an item, not to a plain name"
    if scope.protected(target.id):
        return f"it rebinds {target.id}, which the notebook imported"
    return None


def _expression_problem(node, scope: Scope, in_call=False) -> str | None:
    """Why ``node`` is not an inert expression, or ``None``. ``in_call``: an argument of a call."""
    for kind in type(node).__mro__:  # the table's entry for the node's class (or a base class)
        check = _EXPRESSIONS.get(kind)
        if check is not None:
            return check(node, scope, in_call)
    return f"it is not a plain expression ({type(node).__name__})"


def _first_problem(nodes, scope: Scope, in_call: bool) -> str | None:
    """The problem of the first of ``nodes`` (``None`` entries skipped) that is not inert."""
    return next((p for p in (_expression_problem(n, scope, in_call) for n in nodes if n is not None) if p), None)


def _inert_parts(parts):
    """The check of an expression that is inert when all its ``parts(node)`` are."""
    def check(node, scope: Scope, in_call: bool) -> str | None:
        return _first_problem(parts(node), scope, in_call)

    return check


def _name_problem(node: ast.Name, scope: Scope, in_call: bool) -> str | None:
    return f"it uses {node.id}" if node.id.startswith("__") else None


def _attribute_problem(node: ast.Attribute, scope: Scope, in_call: bool) -> str | None:
    return f"it reads .{node.attr}" if node.attr.startswith("__") else _first_problem([node.value], scope, in_call)


def _lambda_problem(node: ast.Lambda, scope: Scope, in_call: bool) -> str | None:
    """A lambda's body runs only when it is called: its defaults must be inert, and no call may receive it."""
    if in_call:
        return "it passes a lambda to a call (the call could run it)"
    return _first_problem(node.args.defaults + node.args.kw_defaults, scope, in_call)


def _comprehension_parts(node) -> list:
    elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    return elements + [part for gen in node.generators for part in (gen.iter, *gen.ifs)]


def _call_problem(node: ast.Call, scope: Scope) -> str | None:
    parts = dotted_name(node.func)
    if not parts:
        return "it calls the result of an expression"
    label = ".".join(parts)
    if parts[0] in scope.rebound:
        return f"it calls {label}, a function of the answer cells"
    if len(parts) == 1 and parts[0] not in scope.imports:
        pure = parts[0] in PURE_BUILTINS
        dotted = parts[0]
    else:
        dotted = resolve(parts, scope.imports)
        pure = dotted is not None and (dotted in PURE_CALLS or dotted.startswith(PURE_MODULES))
    if not pure:
        return f"it calls {label}, which is not one of the pure functions the grader runs at the top level"
    if any(k.arg == "key" for k in node.keywords) and dotted in ("sorted", "min", "max"):
        return f"it calls {label} with key= (which calls a function)"
    inner = [*node.args, *(k.value for k in node.keywords)]
    lambdas_allowed = dotted in ("functools.partial", "functools.partialmethod", "collections.defaultdict",
                                 "dataclasses.field")
    return _first_problem(inner, scope, in_call=not lambdas_allowed)


# node class -> the check of an expression of that class (any other class is not a plain expression)
_EXPRESSIONS = {
    ast.Constant: lambda node, scope, in_call: None,
    ast.Name: _name_problem,
    ast.Attribute: _attribute_problem,
    ast.Subscript: _inert_parts(lambda node: [node.value, node.slice]),
    ast.Slice: _inert_parts(lambda node: [node.lower, node.upper, node.step]),
    ast.Tuple: _inert_parts(lambda node: node.elts),
    ast.List: _inert_parts(lambda node: node.elts),
    ast.Set: _inert_parts(lambda node: node.elts),
    ast.Starred: _inert_parts(lambda node: [node.value]),
    ast.Dict: _inert_parts(lambda node: node.keys + node.values),
    ast.BinOp: _inert_parts(lambda node: [node.left, node.right]),
    ast.UnaryOp: _inert_parts(lambda node: [node.operand]),
    ast.BoolOp: _inert_parts(lambda node: node.values),
    ast.JoinedStr: _inert_parts(lambda node: node.values),
    ast.Compare: _inert_parts(lambda node: [node.left, *node.comparators]),
    ast.IfExp: _inert_parts(lambda node: [node.test, node.body, node.orelse]),
    ast.FormattedValue: _inert_parts(lambda node: [node.value, node.format_spec]),
    ast.Lambda: _lambda_problem,
    ast.ListComp: _inert_parts(_comprehension_parts),
    ast.SetComp: _inert_parts(_comprehension_parts),
    ast.GeneratorExp: _inert_parts(_comprehension_parts),
    ast.DictComp: _inert_parts(_comprehension_parts),
    ast.Call: lambda node, scope, in_call: _call_problem(node, scope),
}


def bound_names(node: ast.stmt) -> list[str]:
    """Names a top-level statement binds at the module level (also inside ``if``/``try``/``for`` blocks)."""
    names: list[str] = []
    todo = [node]
    while todo:
        current = todo.pop(0)
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(current.name)
            continue  # their bodies bind local names
        if isinstance(current, (ast.Import, ast.ImportFrom)):
            names += [a.asname or a.name.split(".")[0] for a in current.names if a.name != "*"]
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.append(current.id)
        if isinstance(current, (ast.Lambda, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            continue  # their variables are their own
        todo.extend(ast.iter_child_nodes(current))
    return list(dict.fromkeys(names))
