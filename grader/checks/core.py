"""The plain data every exercise check shares, and the step that runs student code.

A check compares a student's function with its counterpart in ``grader.reference`` over
many generated cases. It is built from three separable pieces, so that the deciding
pieces never run student code (later they can run in a trusted process that only sees
plain arrays handed back from a sandbox):

1. ``cases(seed, hidden) -> list[Case]``: pure and deterministic in the seed; a case holds
   plain tensors and Python values only (:func:`generators` seeds its randomness).
2. ``call(fn, case, student) -> Outcome``: calls ``fn`` on one case and records what came
   back as plain data (tensor copies, Python numbers, type names, gradients, which inputs
   were modified in place). This is the only step that runs student code: :func:`call_function`.
3. ``compare(case, got, expected) -> str | None``: ``None`` when ``got`` agrees with
   ``expected``, else a message naming the output, the first mismatching index and both
   values (:mod:`grader.checks.compare`). :func:`grader.checks.running.diagnose` reuses it to
   see which known mistake (a small function in ``grader.answers``) reproduces the student's outcome.

This module holds the data types (:class:`Case`, :class:`Outcome`, :class:`Mistake`, ...), the
snapshots of returned values, their plain trees for :mod:`grader.codec`, and the call step.
:class:`grader.checks.base.Check` puts the pieces together; :func:`grader.checks.running.run_check`
runs one and ``grader.checks.check`` is its one-line front.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import forbidden

# ----------------------------------------------------------------------------- data types


@dataclass
class Case:
    """One set of inputs for a check.

    Attributes:
        label: a human description (sizes, dtype, which optional inputs are given).
        args: the arguments in the order of the reference signature, passed positionally.
            Trailing optional arguments that are absent fall back to the function's defaults.
        grad: names of the arguments to differentiate with respect to (tensors, or tuples
            of tensors such as an LSTM state).
        cotangent: weights of the outputs in the scalar loss whose gradient is checked:
            the same structure as the expected return value (``None`` where not weighted).
        data: anything else a check's own ``call`` step needs (plain values only).
    """

    label: str
    args: dict
    grad: tuple = ()
    cotangent: Any = None
    data: dict = field(default_factory=dict)


@dataclass
class Foreign:
    """A returned value that is not plain data we compare: only its type is kept."""

    type_name: str

    def __repr__(self):
        return f"a {self.type_name}"


@dataclass
class Outcome:
    """What one call produced, as plain data.

    Attributes:
        value: a snapshot of the return value (see :func:`snapshot`).
        error: ``(type name, message, names of the exception's classes)`` if the call raised.
        grads: argument name -> gradient tensor, or ``None`` where no gradient arrived.
        mutated: names of the arguments the call modified in place.
        facts: check-specific observations (e.g. a module's attributes).
        forbidden: descriptions of forbidden calls seen while the student's code ran.
    """

    value: Any = None
    error: tuple | None = None
    grads: dict = field(default_factory=dict)
    mutated: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    forbidden: list = field(default_factory=list)


@dataclass
class Mistake:
    """A known wrong answer: a small function with the exercise's signature.

    Attributes:
        name: short name used in messages and tests, e.g. ``"gate order i, f, o, g"``.
        explanation: what is wrong and how to fix it, shown to the student.
        fn: the mistaken implementation (trusted code, kept with the answers in ``grader.answers``);
            ``None`` for a mistake read from recorded cases, whose outcomes were recorded instead.
        error_pattern: for a mistake that raises, a regex the student's error message must
            match too (the exception type must always match).
    """

    name: str
    explanation: str
    fn: Callable | None
    error_pattern: str | None = None


class CheckFailure(AssertionError):
    """A check found a wrong answer; the message says where and, if it can, why."""


class ForbiddenCall(CheckFailure):
    """The student's code used something a from-scratch part may not use."""


# ----------------------------------------------------------------------------- randomness


def generators(name: str, seed: int) -> tuple[random.Random, torch.Generator]:
    """A Python RNG (for sizes and flags) and a torch generator (for values) for one check and seed."""
    digest = hashlib.sha256(f"{name}:{seed}".encode()).digest()
    number = int.from_bytes(digest[:8], "little")
    return random.Random(number), torch.Generator().manual_seed(number % (2**63))


def randn(gen: torch.Generator, *shape, dtype=torch.float32, scale=1.0):
    return torch.randn(shape, generator=gen, dtype=torch.float64).mul_(scale).to(dtype)


def rand(gen: torch.Generator, *shape, dtype=torch.float32, low=0.0, high=1.0):
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)


DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}

VISIBLE_SEEDS = (0, 1, 2)  # the case sets of the notebooks' visible tests (and of the student kit)

# ----------------------------------------------------------------------------- snapshots


def snapshot(value):
    """A plain-data copy of a returned value.

    Exact ``torch.Tensor`` objects are copied (detached); tuples, lists and dicts are copied
    element by element; Python ``int``/``float``/``bool``/``str`` and ``None`` are kept. Anything
    else, including tensor subclasses and NumPy values, becomes a :class:`Foreign` holding
    only its type name, which the comparison rejects with a message saying what was expected.
    """
    if type(value) is torch.Tensor:
        return value.detach().clone()
    if value is None or type(value) in (int, float, bool, str):
        return value
    if type(value) in (tuple, list):
        return type(value)(snapshot(item) for item in value)
    if type(value) is dict:
        return {key: snapshot(item) for key, item in value.items()}
    kind = type(value)
    return Foreign(f"{kind.__module__}.{kind.__qualname__}".replace("builtins.", ""))


def clone_arg(value, requires_grad=False):
    """A fresh copy of a case argument, so each call gets its own tensors."""
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(requires_grad) if copy.is_floating_point() else copy
    if isinstance(value, tuple):
        return tuple(clone_arg(item, requires_grad) for item in value)
    if isinstance(value, list):
        return [clone_arg(item, requires_grad) for item in value]
    return value


def same_tensor_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = a.detach(), b.detach()
    if a.is_floating_point():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return bool((a == b).all())


def leaf_tensors(name: str, value) -> list:
    """``(display name, tensor)`` for every tensor in ``value``: a tensor, or tuples and lists of them, nested
    (``state[0]``, ``weights[1][0]``); ``None`` and other entries are skipped."""
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, (tuple, list)):
        return [pair for i, item in enumerate(value) for pair in leaf_tensors(f"{name}[{i}]", item)]
    return []


def mutated_args(originals: dict, passed: dict) -> list:
    """Names of the arguments whose tensors changed during the call."""
    changed = []
    for name, original in originals.items():
        pairs = zip(leaf_tensors(name, original), leaf_tensors(name, passed[name]))
        if any(not same_tensor_values(before, after) for (_, before), (_, after) in pairs):
            changed.append(name)
    return changed


def error_record(exc: BaseException) -> tuple:
    names = tuple(kind.__name__ for kind in type(exc).__mro__)
    return (type(exc).__name__, str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "", names)


# ----------------------------------------------------------------------------- as plain data (grader.codec trees)


def case_tree(case: Case) -> dict:
    """A case as a tree of plain values, for :mod:`grader.codec`."""
    return {"label": case.label, "args": case.args, "grad": case.grad, "cotangent": case.cotangent,
            "data": case.data}


def case_from_tree(tree: dict) -> Case:
    """The case a :func:`case_tree` describes (read back by :mod:`grader.codec`)."""
    return Case(label=tree["label"], args=tree["args"], grad=tree["grad"], cotangent=tree["cotangent"],
                data=tree["data"])


def outcome_tree(outcome: Outcome) -> dict:
    """An outcome as a tree of plain values, for :mod:`grader.codec`."""
    return {"value": outcome.value, "error": outcome.error, "grads": outcome.grads, "mutated": outcome.mutated,
            "facts": outcome.facts, "forbidden": outcome.forbidden}


def to_outcome(item) -> Outcome | None:
    """An ``Outcome`` from one decoded :func:`outcome_tree`, or ``None`` if it is malformed (validated strictly)."""
    if not isinstance(item, dict) or set(item) != {"value", "error", "grads", "mutated", "facts", "forbidden"}:
        return None
    error = item["error"]
    if error is not None:
        if not (isinstance(error, tuple) and len(error) == 3 and isinstance(error[0], str)
                and isinstance(error[1], str) and isinstance(error[2], tuple)
                and all(isinstance(n, str) for n in error[2])):
            return None
    grads = item["grads"]
    if not isinstance(grads, dict) or not all(isinstance(k, str) and (v is None or type(v) is torch.Tensor)
                                              for k, v in grads.items()):
        return None
    mutated, facts, seen = item["mutated"], item["facts"], item["forbidden"]
    if not (isinstance(mutated, list) and all(isinstance(m, str) for m in mutated)):
        return None
    if not isinstance(facts, dict) or not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
        return None
    return Outcome(value=item["value"], error=error, grads=grads, mutated=mutated, facts=facts,
                   forbidden=[s[:200] for s in seen])


# ----------------------------------------------------------------------------- the call step


def _flatten_tensors(value, cotangent):
    """Pairs (output tensor, cotangent) where both exist, for the gradient loss."""
    if cotangent is None:
        return []
    if isinstance(cotangent, torch.Tensor):
        if type(value) is torch.Tensor and value.shape == cotangent.shape and value.dtype == cotangent.dtype:
            return [(value, cotangent)]
        return []
    if isinstance(cotangent, (tuple, list)) and isinstance(value, (tuple, list)) and len(value) == len(cotangent):
        return [pair for v, c in zip(value, cotangent) for pair in _flatten_tensors(v, c)]
    return []


def _grad_targets(args: dict, names: tuple):
    """Leaf tensors to differentiate with respect to, with display names."""
    return [pair for name in names for pair in leaf_tensors(name, args[name])]


def call_function(fn: Callable, case: Case, *, student: bool, rules: forbidden.Rules | None = None,
                  substitutes: dict | None = None) -> Outcome:
    """Call ``fn(*case.args)`` and record its outcome; the generic ``call`` step.

    With ``student=True`` the call is watched for forbidden calls (``rules``) and names in
    ``substitutes`` are temporarily bound, in the student's namespace, to trusted versions
    (so that, e.g., a forward pass is graded with a correct cell in place of the student's).
    """
    passed = {name: clone_arg(value, name in case.grad) for name, value in case.args.items()}
    originals = {name: clone_arg(value) for name, value in passed.items()}
    outcome = Outcome()
    with forbidden.watching(rules if student else None, fn, substitutes if student else None) as seen:
        try:
            result = fn(*passed.values())
        except Exception as exc:  # noqa: BLE001 - any error of the student's code is a result
            outcome.error = error_record(exc)
            result = None
        if outcome.error is None and case.grad:
            pairs = _flatten_tensors(result, case.cotangent)
            pairs = [(out, cot) for out, cot in pairs if out.requires_grad]
            targets = _grad_targets(passed, case.grad)
            outcome.grads = {name: None for name, _ in targets}
            if pairs:
                loss = sum((out * cot).sum() for out, cot in pairs)
                try:
                    grads = torch.autograd.grad(loss, [t for _, t in targets], allow_unused=True)
                except Exception as exc:  # noqa: BLE001
                    outcome.error = error_record(exc)
                else:
                    outcome.grads = {name: (None if g is None else g.detach().clone())
                                     for (name, _), g in zip(targets, grads)}
    outcome.forbidden = list(seen)
    if outcome.error is None:
        outcome.value = snapshot(result)
    outcome.mutated = mutated_args(originals, passed)
    return outcome
