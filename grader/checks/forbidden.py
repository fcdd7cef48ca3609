"""What a part may not use, and the runtime detection of those uses.

Every part may not call the course's own code: ``grader.reference`` and ``grader.answers`` (the
implementations of the graded parts, only in the instructor's repository). From-scratch parts (the
cells and forward passes) may not use PyTorch's recurrent layers either: ``torch.nn.RNN``,
``LSTM``, ``GRU``, their ``*Cell`` modules, or the ops behind them (``torch.rnn_tanh``,
``torch.lstm_cell``, ``torch._VF.*``, ``torch.ops.aten.*``). By-hand parts (backward passes) may
not use autograd: ``torch.autograd.grad``, ``backward()``, ``torch.autograd.functional`` and
``torch.func``'s transforms. Some parts forbid a few more functions (e.g.
``torch.nn.utils.clip_grad_norm_`` in an exercise that re-implements it).

Here: the :class:`Rules` of a part, :func:`classify` (is this object forbidden under them?), the
message, and :func:`watching`, which records, while the student's code runs, every call into
``grader.reference`` or ``grader.answers``, into the ``forward`` of ``torch.nn``'s recurrent modules,
into the recurrent ops, and into the extra forbidden functions, via ``sys.setprofile``. The static
detection, reading the code without running it, is :mod:`grader.checks.uses`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn


def _spellings(path: str) -> tuple:
    """A path as the interpreter may report it: as imported and with symlinks resolved."""
    return tuple({str(Path(path)), str(Path(path).resolve())})


# The course's own implementations: the taught reference, and (in the instructor's repository only;
# the student kit and the sandboxes have none) the implementations of the graded parts.
COURSE_PACKAGES = ("grader.reference", "grader.answers")


def _package_dirs(name: str) -> tuple:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return ()
    return tuple(d + os.sep for path in spec.submodule_search_locations for d in _spellings(path))


REFERENCE_DIRS = tuple(d for name in COURSE_PACKAGES for d in _package_dirs(name))
RNN_MODULE_FILES = _spellings(nn.modules.rnn.__file__)
OPS_FILES = _spellings(torch._ops.__file__)

RNN_OP_NAMES = frozenset({
    "rnn_tanh", "rnn_tanh_cell", "rnn_relu", "rnn_relu_cell", "lstm", "lstm_cell", "gru", "gru_cell",
    "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "quantized_lstm_cell", "quantized_gru_cell",
    "quantized_rnn_tanh_cell", "quantized_rnn_relu_cell", "_cudnn_rnn", "miopen_rnn", "mkldnn_rnn_layer",
})
RNN_CLASSES = (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell, nn.RNNBase, nn.RNNCellBase)

# What a by-hand part may not call: every way of asking autograd for a gradient. (Tensor.backward
# calls torch.autograd.backward, and both end in the engine's run_backward, watched as a C call.)
AUTOGRAD_FUNCTIONS = tuple((f"torch.{path}", function) for path, function in (
    ("autograd.grad", torch.autograd.grad),
    ("autograd.backward", torch.autograd.backward),
    ("Tensor.backward", torch.Tensor.backward),
    ("autograd.functional.jacobian", torch.autograd.functional.jacobian),
    ("autograd.functional.hessian", torch.autograd.functional.hessian),
    ("autograd.functional.vjp", torch.autograd.functional.vjp),
    ("autograd.functional.jvp", torch.autograd.functional.jvp),
    ("autograd.functional.vhp", torch.autograd.functional.vhp),
    ("autograd.functional.hvp", torch.autograd.functional.hvp),
    ("func.grad", torch.func.grad),
    ("func.grad_and_value", torch.func.grad_and_value),
    ("func.vjp", torch.func.vjp),
    ("func.jvp", torch.func.jvp),
    ("func.jacrev", torch.func.jacrev),
    ("func.jacfwd", torch.func.jacfwd),
    ("func.hessian", torch.func.hessian),
))
ENGINE_CALLS = frozenset({"run_backward"})


@dataclass(frozen=True)
class Rules:
    """What a part may not use.

    Attributes:
        from_scratch: forbid PyTorch's recurrent modules and ops.
        by_hand: forbid autograd (:data:`AUTOGRAD_FUNCTIONS` and the engine's ``run_backward``).
        functions: extra forbidden Python functions, as ``(dotted name, function)`` pairs.
        reason: why, said in the message.
    """

    from_scratch: bool = False
    by_hand: bool = False
    functions: tuple = ()
    reason: str = "the reference implementation is the answer itself"
    names: dict = field(default_factory=dict, compare=False)  # code object -> the dotted name said in messages

    def __post_init__(self):
        functions = self.functions + (AUTOGRAD_FUNCTIONS if self.by_hand else ())
        object.__setattr__(self, "names", {inspect.unwrap(f).__code__: dotted for dotted, f in functions})

    @property
    def codes(self) -> frozenset:
        return frozenset(self.names)


REFERENCE_ONLY = Rules()
FROM_SCRATCH = Rules(
    from_scratch=True,
    reason="this part is to be written from scratch with tensor operations",
)
BY_HAND = Rules(
    by_hand=True,
    reason="this part computes its gradients by hand, and autograd is what the check compares them with",
)

# ----------------------------------------------------------------------------- what counts


def course_package(dotted: str) -> str | None:
    """The course package (``grader.reference`` or ``grader.answers``) that ``dotted`` names, or ``None``."""
    for package in COURSE_PACKAGES:
        if dotted == package or dotted.startswith(package + "."):
            return package
    return None


def _course_package_of_file(filename: str) -> str:
    for package in COURSE_PACKAGES:
        if filename.startswith(_package_dirs(package)):
            return package
    return COURSE_PACKAGES[0]


def _is_reference(obj) -> bool:
    if isinstance(obj, types.ModuleType):
        return course_package(obj.__name__) is not None
    return course_package(getattr(obj, "__module__", None) or "") is not None


def _is_rnn_object(obj) -> bool:
    if obj is torch._VF:
        return True
    if isinstance(obj, type):
        try:
            return issubclass(obj, RNN_CLASSES)
        except TypeError:
            return False
    if isinstance(obj, types.BuiltinFunctionType):
        return getattr(obj, "__name__", "") in RNN_OP_NAMES and (getattr(obj, "__module__", "") or "").startswith("torch")
    if isinstance(obj, torch._ops.OpOverloadPacket | torch._ops.OpOverload):
        return bool(re.search(r"rnn|lstm|gru", str(obj)))
    return False


def classify(obj, rules: Rules) -> str | None:
    """Why ``obj`` is forbidden under ``rules``, or ``None``."""
    try:
        if _is_reference(obj):
            name = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
            return course_package(name)
        if rules.from_scratch and _is_rnn_object(obj):
            return "PyTorch's recurrent layers"
        if rules.codes and callable(obj) and getattr(inspect.unwrap(obj), "__code__", None) in rules.codes:
            return "forbidden function"
    except Exception:  # noqa: BLE001 - odd objects are simply not forbidden
        return None
    return None


# ----------------------------------------------------------------------------- runtime detection


def _trusted_call(function, *args, **kwargs):
    """Calls a trusted helper; the recorder ignores everything under this frame."""
    return function(*args, **kwargs)


def trusted(function):
    """A stand-in for ``function`` whose inner calls are not recorded (a substitute helper)."""

    def stand_in(*args, **kwargs):
        return _trusted_call(function, *args, **kwargs)

    stand_in.__name__ = getattr(function, "__name__", "trusted")
    stand_in.__wrapped_trusted__ = function
    return stand_in


_TRUSTED_CODE = _trusted_call.__code__


class _Recorder:
    def __init__(self, rules: Rules):
        self.rules = rules
        self.seen: list[str] = []
        self.depth = 0  # > 0 while inside a trusted helper

    def note(self, what):
        if what not in self.seen:
            self.seen.append(what)

    def hook(self, frame, event, arg):
        code = frame.f_code
        if code is _TRUSTED_CODE:
            self.depth += {"call": 1, "return": -1}.get(event, 0)
        elif self.depth:
            return
        elif event == "call":
            self.python_call(frame, code)
        elif event == "c_call":
            self.c_call(arg)

    def python_call(self, frame, code):
        filename = code.co_filename
        if filename.startswith(REFERENCE_DIRS):
            self.note(f"{_course_package_of_file(filename)} ({code.co_name})")
        elif self.rules.from_scratch and filename in RNN_MODULE_FILES and code.co_name == "forward":
            self.note(f"torch.nn.{type(frame.f_locals.get('self')).__name__}")
        elif self.rules.from_scratch and filename in OPS_FILES and code.co_name == "__call__":
            owner = frame.f_locals.get("self")
            if owner is not None and re.search(r"rnn|lstm|gru", str(owner)):
                self.note(f"torch.ops.{owner}")
        elif code in self.rules.names:
            self.note(self.rules.names[code])

    def c_call(self, function):
        name = getattr(function, "__name__", "")
        if self.rules.from_scratch and name in RNN_OP_NAMES and \
                (getattr(function, "__module__", "") or "").startswith("torch"):
            self.note(f"torch.{name}")
        elif self.rules.by_hand and name in ENGINE_CALLS:
            self.note(f"torch's autograd engine ({name})")


@contextlib.contextmanager
def substituted(fn, substitutes: dict | None):
    """Bind ``substitutes`` (name -> trusted function) in ``fn``'s global namespace for a while."""
    namespace = getattr(inspect.unwrap(fn), "__globals__", None) if substitutes else None
    saved = {}
    if namespace is not None:
        for name, function in substitutes.items():
            if name in namespace and namespace[name] is not fn:
                saved[name] = namespace[name]
                namespace[name] = trusted(function)
    try:
        yield
    finally:
        for name, value in saved.items():
            namespace[name] = value


@contextlib.contextmanager
def watching(rules: Rules | None, fn=None, substitutes: dict | None = None):
    """Record forbidden calls made while the block runs; yields the list of what was seen."""
    with substituted(fn, substitutes):
        if rules is None:
            yield []
            return
        recorder = _Recorder(rules)
        previous = sys.getprofile()
        sys.setprofile(recorder.hook)
        try:
            yield recorder.seen
        finally:
            sys.setprofile(previous)


def message(name: str, violations: list[str], rules: Rules | None) -> str:
    rules = rules or REFERENCE_ONLY
    uses = ", ".join(violations)
    if all(course_package(v.split()[0]) for v in violations):
        why = ("Exercises may not call the course's own code (grader.reference, grader.answers): it is "
               "the answer the checks compare against.")
    elif rules.by_hand:
        why = ("This part computes its gradients by hand, with the chain rule written out in tensor "
               "operations: it may not ask autograd for them (torch.autograd.grad, .backward(), "
               "torch.autograd.functional, torch.func) nor use grader.reference.")
    elif rules.from_scratch:
        why = ("This part is to be written from scratch: compute it with tensor operations "
               "(matrix products, torch.tanh, torch.sigmoid, ...), without torch.nn.RNN/LSTM/GRU, "
               "their *Cell modules, the torch.rnn_*/lstm*/gru* ops or grader.reference.")
    else:
        why = f"This part may not use them: {rules.reason}."
    return (f"{name} uses {uses}. {why} Until it no longer does, this part scores zero.")
