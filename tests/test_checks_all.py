"""Every check accepts the reference and the notebook's solutions, and rejects wrong answers of the right shape.

The expected values all come from the reference implementations (``grader.reference``, or ``grader.answers``
for the parts the chapters do not print; run through the checks' own machinery) or
from the solution notebooks; the wrong answers are the reference's output nudged at one entry,
and every known mistake of every check, each of which must be rejected *and named*.
"""

import re

import pytest
import torch

from grader.checks import CHECKS, CheckFailure, check, run_check
from grader.checks.core import VISIBLE_SEEDS

from exercise_helpers import ASSIGNMENTS, PARTS, source_notebook, solution_namespace, graded_cells

PART_ASSIGNMENT = {part: a for a, parts in PARTS.items() for part in parts}
HIDDEN_SEEDS_FOR_TESTS = (424243, 5)


def hidden_seeds(assignment, part):
    source, _ = graded_cells(source_notebook(assignment))[f"test_{part}"]
    found = re.search(r"seeds=\[([\d, ]+)\], hidden=True", source)
    return [int(s) for s in found.group(1).split(",")]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_accepts_the_reference(name):
    spec = CHECKS[name]
    passed = run_check(spec, spec.reference, seeds=VISIBLE_SEEDS, enforce_rules=False, quiet=True)
    passed += run_check(spec, spec.reference, seeds=HIDDEN_SEEDS_FOR_TESTS, hidden=True, enforce_rules=False,
                        quiet=True)
    assert passed >= 30


@pytest.fixture(scope="module")
def solutions():
    return {assignment: solution_namespace(assignment) for assignment in ASSIGNMENTS}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_accepts_the_notebook_solution_with_the_rules_on(name, solutions, capsys):
    assignment = PART_ASSIGNMENT[name]
    solution = solutions[assignment][name]
    check(solution)
    check(solution, seeds=hidden_seeds(assignment, name), hidden=True)
    assert capsys.readouterr().out.count("cases pass") == 2


# ----------------------------------------------------------------------------- wrong answers of the right shape


def nudge(value):
    """The same structure, shapes and dtypes, one entry slightly wrong."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            value = value.detach().clone()
            flat = value.view(-1)
            flat[0] = flat[0] + 1e-2 * (1 + flat[0].abs())
            return value
        value = value.clone()
        value.view(-1)[0] += 1
        return value
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.01 + 1e-3
    if isinstance(value, tuple):
        return (nudge(value[0]),) + value[1:]
    if isinstance(value, dict):
        key = next(iter(value))
        return {**value, key: nudge(value[key])}
    raise TypeError(type(value))


def nudged(name):
    """A wrong implementation of ``name`` whose outputs have the right types and shapes."""
    fn = CHECKS[name].reference
    if name == "BridgedEncoderDecoder":
        class Nudged(fn):
            def forward(self, source, target_inputs):
                return super().forward(source, target_inputs) + 1e-2
        return Nudged
    if name == "timescale_forget_bias_":
        def nudged_chrono(lstm, timescales):
            fn(lstm, timescales)
            with torch.no_grad():
                lstm.get_parameter(next(n for n, _ in lstm.named_parameters() if n.startswith("bias_ih")))[0] += 1e-2
            return lstm
        return nudged_chrono
    if name == "adaptive_clip_grad_":
        def nudged_clip(parameters, clipping, eps=1e-3):
            parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
            clipped = fn(parameters, clipping, eps)
            for p in parameters:
                if p.grad is not None:
                    p.grad.mul_(1.01)
            return clipped
        return nudged_clip

    def wrapper(*args):
        return nudge(fn(*args))
    return wrapper


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_rejects_a_nudged_answer(name):
    with pytest.raises(CheckFailure) as failure:
        run_check(CHECKS[name], nudged(name), enforce_rules=False, quiet=True)
    message = str(failure.value)
    assert "expected" in message and "inputs:" in message


# Checks whose call step passes the case's arguments straight to the function (the others drive
# the student's object themselves and are covered by the nudged answers above).
PLAIN_CALLS = sorted(set(CHECKS) - {"BridgedEncoderDecoder", "timescale_forget_bias_", "adaptive_clip_grad_",
                                    "forward_with_resets", "truncated_forward", "numerical_gradient"})


@pytest.mark.parametrize("name", PLAIN_CALLS)
def test_check_rejects_zeros_of_the_right_shape(name):
    spec = CHECKS[name]
    case = next(c for c in spec.cases(0) if spec.expected(c).error is None)

    def zeros_like(value):
        if isinstance(value, torch.Tensor):
            return torch.zeros_like(value)
        if isinstance(value, (tuple, list)):
            return type(value)(zeros_like(v) for v in value)
        if isinstance(value, dict):
            return {k: zeros_like(v) for k, v in value.items()}
        return type(value)(0)

    expected = spec.expected(case).value

    def zeros(*args):
        return zeros_like(expected)

    with pytest.raises(CheckFailure):
        run_check(spec, zeros, seeds=[0], enforce_rules=False, quiet=True)


# ----------------------------------------------------------------------------- known mistakes

MISTAKES = [(name, mistake.name) for name in sorted(CHECKS) for mistake in CHECKS[name].mistakes()]


@pytest.mark.parametrize("name, mistake_name", MISTAKES, ids=[f"{n}: {m}" for n, m in MISTAKES])
def test_every_known_mistake_is_rejected_and_named(name, mistake_name):
    spec = CHECKS[name]
    mistake = next(m for m in spec.mistakes() if m.name == mistake_name)
    with pytest.raises(CheckFailure) as failure:
        run_check(spec, mistake.fn, enforce_rules=False, quiet=True)
    likely = str(failure.value).split("other cases also show")[0]
    assert "likely mistake" in likely and mistake_name in likely, str(failure.value)
