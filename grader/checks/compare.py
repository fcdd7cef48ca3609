"""The ``compare`` step of a check: does what the student's code returned agree with the reference's?

Every function here returns ``None`` when the two agree, else one message for the student naming
the output (``h_n[1]``, ``stats['loss']``), what was expected and what came back, and, for the usual
mistakes (NumPy, ``.item()``, a wrong dtype, swapped dimensions, an in-place change), how to fix it.
They compare snapshots (:func:`grader.checks.core.snapshot`), never run student code, and so can
decide in the trusted process on outcomes handed back from the sandbox.
"""

from __future__ import annotations

import math

import torch

from .core import DTYPE_NAMES, Case, Foreign, Outcome

TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}
SCALAR_TOLERANCE = (1e-5, 1e-7)  # (rtol, atol) of Python floats


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


# ----------------------------------------------------------------------------- one tensor


def compare_tensors(what: str, got, expected: torch.Tensor, tolerance=None) -> str | None:
    """Type, dtype, shape, finiteness and values of one tensor, in that order; ``None`` if they agree."""
    if type(got) is not torch.Tensor:
        return f"{what}: expected {describe(expected)}, got {describe(got)}.{_not_a_tensor_hint(got, expected)}"
    return (_dtype_problem(what, got, expected) or _shape_problem(what, got, expected)
            or _values_problem(what, got, expected, tolerance))


def _not_a_tensor_hint(got, expected: torch.Tensor) -> str:
    if isinstance(got, Foreign) and "numpy" in got.type_name:
        return " Stay in torch (no .numpy()), so that autograd can follow."
    if isinstance(got, Foreign) and "Parameter" in got.type_name:
        return " Return a plain tensor, not an nn.Parameter."
    if isinstance(got, (float, int)) and expected.dim() == 0:
        return " Return the 0-dim tensor itself, not .item()."
    return ""


def _dtype_problem(what: str, got: torch.Tensor, expected: torch.Tensor) -> str | None:
    if got.dtype == expected.dtype:
        return None
    return (f"{what}: expected dtype {DTYPE_NAMES.get(expected.dtype, expected.dtype)}, got "
            f"{DTYPE_NAMES.get(got.dtype, got.dtype)}. Create new tensors with the inputs' dtype "
            f"(e.g. x.new_zeros(...) or dtype=x.dtype).")


def _shape_problem(what: str, got: torch.Tensor, expected: torch.Tensor) -> str | None:
    if got.shape == expected.shape:
        return None
    hint = ""
    if sorted(got.shape) == sorted(expected.shape) and got.dim() > 1:
        hint = " Same sizes in another order: are two dimensions swapped (e.g. time-major vs batch-first)?"
    return f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.{hint}"


def _values_problem(what: str, got: torch.Tensor, expected: torch.Tensor, tolerance) -> str | None:
    """Same dtype and shape: a non-finite entry where a finite one is expected, else the first entry that differs."""
    if got.is_floating_point():
        rtol, atol = tolerance or TOLERANCES.get(expected.dtype, (1e-5, 1e-8))
        problem = _non_finite_problem(what, got, expected)
        if problem:
            return problem
        close = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got == expected
    if bool(close.all()):
        return None
    return _mismatch(what, got, expected, (~close).nonzero())


def _non_finite_problem(what: str, got: torch.Tensor, expected: torch.Tensor) -> str | None:
    bad_finite = torch.isfinite(expected) & ~torch.isfinite(got)
    if not bad_finite.any():
        return None
    idx = tuple(bad_finite.nonzero()[0].tolist())
    return f"{what}: entry {_index(idx)} is {got[idx].item()} (not finite), expected {expected[idx].item():.6g}."


def _mismatch(what: str, got: torch.Tensor, expected: torch.Tensor, wrong: torch.Tensor) -> str:
    """The message for the entries at the indices ``wrong`` (one row per entry) that differ."""
    if got.dim() == 0:
        return f"{what}: expected {expected.item():.6g}, got {got.item():.6g}."
    idx = tuple(wrong[0].tolist())
    largest = (got.double() - expected.double()).abs().nan_to_num(math.inf).max().item()
    return (f"{what}: first mismatch at index {_index(idx)}: expected {_fmt(expected[idx].item())}, "
            f"got {_fmt(got[idx].item())} ({wrong.shape[0]} of {expected.numel()} entries differ; "
            f"largest difference {largest:.3g}).")


# ----------------------------------------------------------------------------- any snapshot


def compare_values(what: str, got, expected, tolerance=None) -> str | None:
    """Recursive comparison of snapshots: tensors, tuples, lists, dicts, Python scalars, None."""
    if isinstance(expected, torch.Tensor):
        return compare_tensors(what, got, expected, tolerance)
    if isinstance(expected, (tuple, list)):
        return _compare_sequences(what, got, expected, tolerance)
    if isinstance(expected, dict):
        return _compare_dicts(what, got, expected, tolerance)
    compare = _SCALAR_COMPARISONS.get(type(expected), _compare_equal)
    return compare(what, got, expected, tolerance)


def _compare_sequences(what: str, got, expected, tolerance) -> str | None:
    """A tuple or a list (either is accepted for either): the same length, then item by item."""
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"{what}: expected {describe(expected)}, got {describe(got)}."
    problems = (compare_values(f"{what}[{i}]", g, e, tolerance) for i, (g, e) in enumerate(zip(got, expected)))
    return next((problem for problem in problems if problem), None)


def _compare_dicts(what: str, got, expected: dict, tolerance) -> str | None:
    """The same keys, then value by value in the expected dict's order."""
    if not isinstance(got, dict) or set(got) != set(expected):
        return f"{what}: expected {describe(expected)}, got {describe(got)}."
    problems = (compare_values(f"{what}[{key!r}]", got[key], expected[key], tolerance) for key in expected)
    return next((problem for problem in problems if problem), None)


def _compare_none(what: str, got, expected: None, tolerance) -> str | None:
    return None if got is None else f"{what}: expected None, got {describe(got)}."


def _compare_bool(what: str, got, expected: bool, tolerance) -> str | None:
    return None if got is expected else f"{what}: expected {expected}, got {describe(got)}."


def _compare_int(what: str, got, expected: int, tolerance) -> str | None:
    if type(got) is not int:
        hint = " Convert with int(...)." if isinstance(got, (torch.Tensor, float)) else ""
        return f"{what}: expected a Python int ({expected}), got {describe(got)}.{hint}"
    return None if got == expected else f"{what}: expected {expected}, got {got}."


def _compare_float(what: str, got, expected: float, tolerance) -> str | None:
    """Python floats: close within ``tolerance`` (rtol, atol), and NaN where NaN is expected."""
    if type(got) is not float:
        hint = " Convert with .item() or float(...)." if isinstance(got, (torch.Tensor, int)) else ""
        return f"{what}: expected a Python float ({expected:.6g}), got {describe(got)}.{hint}"
    rtol, atol = tolerance or SCALAR_TOLERANCE
    if (math.isnan(expected) and math.isnan(got)) or math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        return None
    return f"{what}: expected {expected:.6g}, got {got:.6g}."


def _compare_equal(what: str, got, expected, tolerance) -> str | None:
    """Anything else (strings, dtypes): plain equality."""
    return None if got == expected else f"{what}: expected {expected!r}, got {got!r}."


# exact types, as the snapshots keep them (a bool is not an int here)
_SCALAR_COMPARISONS = {type(None): _compare_none, bool: _compare_bool, int: _compare_int, float: _compare_float}


# ----------------------------------------------------------------------------- errors and whole outcomes


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
