"""The machinery every exercise check shares.

A check compares a student's function with its counterpart in ``grader.reference`` over
many generated cases. It is built from three separable pieces, so that the deciding
pieces never run student code (later they can run in a trusted process that only sees
plain arrays handed back from a sandbox):

1. ``cases(seed, hidden) -> list[Case]``: pure and deterministic in the seed; a case holds
   plain tensors and Python values only.
2. ``call(fn, case, student) -> Outcome``: calls ``fn`` on one case and records what came
   back as plain data (tensor copies, Python numbers, type names, gradients, which inputs
   were modified in place). This is the only step that runs student code.
3. ``compare(case, got, expected) -> str | None``: ``None`` when ``got`` agrees with
   ``expected``, else a message naming the output, the first mismatching index and both
   values. :func:`diagnose` reuses it to see which known mistake (a small function written
   in the checks package) reproduces the student's outcome.

:func:`run_check` ties the pieces together; ``grader.checks.check`` is its one-line front.
"""

from __future__ import annotations

import hashlib
import math
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


# ----------------------------------------------------------------------------- comparison

TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x)


def _index(idx) -> str:
    return "[" + ", ".join(str(i) for i in idx) + "]"


def describe(value) -> str:
    """How a snapshot looks, in words, for messages."""
    if isinstance(value, torch.Tensor):
        return f"a {DTYPE_NAMES.get(value.dtype, str(value.dtype).replace('torch.', ''))} tensor of shape {tuple(value.shape)}"
    if isinstance(value, Foreign):
        return f"a {value.type_name}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    if value is None:
        return "None"
    return f"the {type(value).__name__} {_fmt(value)}"


def compare_tensors(what: str, got, expected: torch.Tensor, tolerance=None) -> str | None:  # noqa: C901
    """Type, dtype, shape, finiteness and values of one tensor; ``None`` if they agree."""
    if type(got) is not torch.Tensor:
        hint = ""
        if isinstance(got, Foreign) and "numpy" in got.type_name:
            hint = " Stay in torch (no .numpy()), so that autograd can follow."
        elif isinstance(got, Foreign) and "Parameter" in got.type_name:
            hint = " Return a plain tensor, not an nn.Parameter."
        elif isinstance(got, (float, int)) and expected.dim() == 0:
            hint = " Return the 0-dim tensor itself, not .item()."
        return f"{what}: expected {describe(expected)}, got {describe(got)}.{hint}"
    if got.dtype != expected.dtype:
        return (f"{what}: expected dtype {DTYPE_NAMES.get(expected.dtype, expected.dtype)}, got "
                f"{DTYPE_NAMES.get(got.dtype, got.dtype)}. Create new tensors with the inputs' dtype "
                f"(e.g. x.new_zeros(...) or dtype=x.dtype).")
    if got.shape != expected.shape:
        hint = ""
        if sorted(got.shape) == sorted(expected.shape) and got.dim() > 1:
            hint = " Same sizes in another order: are two dimensions swapped (e.g. time-major vs batch-first)?"
        return f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.{hint}"
    if got.is_floating_point():
        rtol, atol = tolerance or TOLERANCES.get(expected.dtype, (1e-5, 1e-8))
        expected_finite = torch.isfinite(expected)
        bad_finite = expected_finite & ~torch.isfinite(got)
        if bad_finite.any():
            idx = tuple(bad_finite.nonzero()[0].tolist())
            return (f"{what}: entry {_index(idx)} is {got[idx].item()} (not finite), expected "
                    f"{expected[idx].item():.6g}.")
        close = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got == expected
    if bool(close.all()):
        return None
    wrong = (~close).nonzero()
    idx = tuple(wrong[0].tolist())
    count = wrong.shape[0]
    if got.dim() == 0:
        return f"{what}: expected {expected.item():.6g}, got {got.item():.6g}."
    largest = (got.double() - expected.double()).abs().nan_to_num(math.inf).max().item()
    return (f"{what}: first mismatch at index {_index(idx)}: expected {_fmt(expected[idx].item())}, "
            f"got {_fmt(got[idx].item())} ({count} of {expected.numel()} entries differ; "
            f"largest difference {largest:.3g}).")


def compare_values(what: str, got, expected, tolerance=None) -> str | None:  # noqa: C901
    """Recursive comparison of snapshots: tensors, tuples, dicts, Python numbers, None."""
    if isinstance(expected, torch.Tensor):
        return compare_tensors(what, got, expected, tolerance)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{what}: expected {describe(expected)}, got {describe(got)}."
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare_values(f"{what}[{i}]", g, e, tolerance)
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"{what}: expected {describe(expected)}, got {describe(got)}."
        for key in expected:
            problem = compare_values(f"{what}[{key!r}]", got[key], expected[key], tolerance)
            if problem:
                return problem
        return None
    if expected is None:
        return None if got is None else f"{what}: expected None, got {describe(got)}."
    if type(expected) is bool:
        return None if got is expected else f"{what}: expected {expected}, got {describe(got)}."
    if type(expected) is int:
        if type(got) is not int:
            hint = " Convert with int(...)." if isinstance(got, (torch.Tensor, float)) else ""
            return f"{what}: expected a Python int ({expected}), got {describe(got)}.{hint}"
        return None if got == expected else f"{what}: expected {expected}, got {got}."
    if type(expected) is float:
        if type(got) is not float:
            hint = " Convert with .item() or float(...)." if isinstance(got, (torch.Tensor, int)) else ""
            return f"{what}: expected a Python float ({expected:.6g}), got {describe(got)}.{hint}"
        rtol, atol = tolerance or (1e-5, 1e-7)
        if math.isnan(expected) and math.isnan(got):
            return None
        return None if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol) else \
            f"{what}: expected {expected:.6g}, got {got:.6g}."
    return None if got == expected else f"{what}: expected {expected!r}, got {got!r}."


def compare_errors(case_expects: tuple | None, got: Outcome) -> str | None:
    """Errors: the student must raise exactly when the reference raises, with the same kind."""
    if case_expects is not None:
        kind = case_expects[0]
        if got.error is None:
            return f"expected {kind} to be raised ({case_expects[1]}), but your function returned {describe(got.value)}."
        if kind not in got.error[2]:
            return f"expected {kind} ({case_expects[1]}), but got {got.error[0]}: {got.error[1]}"
        return None
    if got.error is not None:
        if got.error[0] == "NotImplementedError":
            return "raised NotImplementedError: replace `raise NotImplementedError()` with your implementation."
        hint = ""
        if "in-place operation" in got.error[1] or "inplace operation" in got.error[1]:
            hint = (" Your code changes a tensor in place (e.g. `h += ...`, `h[...] = ...`, `x.mul_(...)`) that "
                    "autograd needs, or that is an input: compute new tensors instead.")
        return f"raised {got.error[0]}: {got.error[1]}{hint}"
    return None


def compare_outcomes(case: Case, got: Outcome, expected: Outcome, *, output_name="the output",
                     tolerance=None, grad_tolerance=None) -> str | None:
    """The standard ``compare`` step: errors, in-place changes, outputs, then gradients."""
    problem = compare_errors(expected.error, got)
    if problem or expected.error is not None:
        return problem
    extra = [name for name in got.mutated if name not in expected.mutated]
    if extra:
        return (f"modified its input `{extra[0]}` in place; compute new tensors instead "
                f"(e.g. `h = h + ...`, not `h += ...` or `h[...] = ...`).")
    problem = compare_values(output_name, got.value, expected.value, tolerance)
    if problem:
        return problem
    for name, expected_grad in expected.grads.items():
        if expected_grad is None:
            continue
        got_grad = got.grads.get(name)
        if got_grad is None:
            return (f"no gradient reaches `{name}`: autograd cannot follow your computation "
                    f"(avoid .detach(), .data, torch.no_grad(), .item() and NumPy inside the function).")
        problem = compare_tensors(f"gradient of the loss with respect to `{name}`", got_grad, expected_grad,
                                  grad_tolerance or tolerance)
        if problem:
            return problem + " (the outputs agree, so look at how they are computed: autograd differentiates your code.)"
    return None


# ----------------------------------------------------------------------------- a check


class Check:
    """One exercise's check. Subclasses (or instances) provide the three pieces.

    The reference implementation and the known mistakes of a graded part live in ``grader.answers``
    (the instructor's side, never in the student kit); a check finds them there by its ``name``.

    Attributes:
        name: the exercise function's name (and the reference's).
        rules: the forbidden-call rules applied to the student's code.
        substitutes: helper names bound to trusted versions while the student's code runs.
        output_name: how messages call the return value, e.g. ``"(outputs, h_n)"``.
        summary: one line saying what the check tries, printed when it passes.
    """

    name: str = ""
    rules: forbidden.Rules = forbidden.REFERENCE_ONLY
    substitutes: dict = {}
    output_name: str = "the returned value"
    tolerance: tuple | None = None
    grad_tolerance: tuple | None = None
    summary: str = ""

    def cases(self, seed: int, hidden: bool = False) -> list[Case]:
        raise NotImplementedError

    def call(self, fn: Callable, case: Case, student: bool, substitutes: dict | None = None) -> Outcome:
        return call_function(fn, case, student=student, rules=self.rules, substitutes=self.helpers(substitutes))

    def helpers(self, substitutes: dict | None = None) -> dict:
        """The trusted helpers bound in the student's namespace while their code runs: ``substitutes`` when
        given (the sandboxed runner passes its stand-ins, see :mod:`grader.integrity.runner`), else the
        check's own :attr:`substitutes`."""
        return self.substitutes if substitutes is None else substitutes

    def watching(self, fn, student: bool, substitutes: dict | None = None):
        """:func:`forbidden.watching` for one call of ``fn``: the student's (``student=True``: the rules
        and the helpers apply) or trusted code (neither does)."""
        return forbidden.watching(self.rules if student else None, fn,
                                  self.helpers(substitutes) if student else None)

    def compare(self, case: Case, got: Outcome, expected: Outcome) -> str | None:
        return compare_outcomes(case, got, expected, output_name=self.output_name,
                                tolerance=self.tolerance, grad_tolerance=self.grad_tolerance)

    @property
    def reference(self) -> Callable:
        """The reference implementation (``grader.answers``; absent from the student kit)."""
        from grader import answers

        return answers.reference(self.name)

    def mistakes(self) -> list[Mistake]:
        """The known mistakes, in the order they are tried (``grader.answers``)."""
        from grader import answers

        return answers.mistakes(self.name)

    def expected(self, case: Case) -> Outcome:
        """The reference's outcome on ``case`` (trusted)."""
        return self.call(self.reference, case, student=False)
