"""Checks of assignment 02, cell state vs hidden state: ``lstm_cell_backward``, ``coupled_lstm_cell``,
``peephole_lstm_cell`` and ``projected_lstm_forward``.

Their reference implementations and known mistakes are in ``grader.answers.cell_state``. Every output
is named in the messages (``grad_weight_ih: first mismatch at ...``), by :class:`NamedOutputsCheck`.
"""

from __future__ import annotations

import torch

from . import forbidden
from .base import Check
from .compare import compare_outcomes, compare_values, describe
from .core import DTYPE_NAMES, Case, generators, randn
from .recurrent import BIASES, RecurrentCheck, recurrent_cases


def _label(names) -> str:
    return "(" + ", ".join(_label(n) for n in names) + ")" if isinstance(names, tuple) else names


def compare_named(names, got, expected, tolerance=None) -> str | None:
    """:func:`compare_values` for a return value of a fixed tuple structure whose leaves have names."""
    if not isinstance(names, tuple):
        return compare_values(names, got, expected, tolerance)
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"{_label(names)}: expected {describe(expected)}, got {describe(got)}."
    for name, got_item, expected_item in zip(names, got, expected):
        problem = compare_named(name, got_item, expected_item, tolerance)
        if problem:
            return problem
    return None


class NamedOutputsCheck(Check):
    """The standard comparison, with each output called by its name (``output_names``) where values differ."""

    output_names: tuple = ()

    def compare(self, case, got, expected):
        problem = compare_outcomes(case, got, expected, output_name=self.output_name, tolerance=self.tolerance,
                                   grad_tolerance=self.grad_tolerance)
        if problem is None or got.error is not None or expected.error is not None \
                or set(got.mutated) - set(expected.mutated):
            return problem
        return compare_named(self.output_names, got.value, expected.value, self.tolerance) or problem


# ----------------------------------------------------------------------------- lstm_cell_backward


class LstmCellBackwardCheck(NamedOutputsCheck):
    name = "lstm_cell_backward"
    rules = forbidden.BY_HAND
    output_names = ("grad_x", ("grad_h", "grad_c"), "grad_weight_ih", "grad_weight_hh", "grad_bias")
    output_name = _label(output_names)
    summary = ("shapes with B, D, H = 1, float32 and float64, state given and None, with and without biases, "
               "grad_c_next given and None")

    def cases(self, seed, hidden=False):
        _, gen = generators(f"{self.name}/cotangents", seed)
        cases = []
        for index, case in enumerate(recurrent_cases(self.name, seed, hidden, gates=4, sequence=False, lstm=True)):
            B, H = case.args["x"].shape[0], case.args["weight_hh"].shape[1]
            dtype = case.args["x"].dtype
            grad_h_next = randn(gen, B, H, dtype=dtype)
            grad_c_next = None if (index + seed) % 3 == 0 else randn(gen, B, H, dtype=dtype)
            args = {"grad_h_next": grad_h_next, "grad_c_next": grad_c_next, **case.args}
            label = f"{case.label}, grad_c_next={'None' if grad_c_next is None else 'given'}"
            cases.append(Case(label=label, args=args))
        return cases


# ----------------------------------------------------------------------------- coupled_lstm_cell and peephole_lstm_cell


class LstmVariantCellCheck(NamedOutputsCheck, RecurrentCheck):
    """One step of an LSTM variant written from scratch: the cells' cases, outputs ``(h_next, c_next)``."""

    rules = forbidden.FROM_SCRATCH
    lstm = True
    output_names = ("h_next", "c_next")
    output_name = _label(output_names)
    summary = "shapes with B, D, H = 1, float32 and float64, state given and None, with and without biases, gradients"


class CoupledLstmCellCheck(LstmVariantCellCheck):
    name = "coupled_lstm_cell"
    gates = 3  # blocks i, g, o


class PeepholeLstmCellCheck(LstmVariantCellCheck):
    name = "peephole_lstm_cell"
    gates = 4

    def cases(self, seed, hidden=False):
        _, gen = generators(f"{self.name}/peephole", seed)
        cases = []
        for case in super().cases(seed, hidden):
            H = case.args["weight_hh"].shape[1]
            peephole = randn(gen, 3, H, dtype=case.args["x"].dtype, scale=0.7)
            args = {}
            for name, value in case.args.items():
                args[name] = value
                if name == "weight_hh":
                    args["peephole"] = peephole
            cases.append(Case(label=case.label, args=args, grad=case.grad + ("peephole",), cotangent=case.cotangent))
        return cases


# ----------------------------------------------------------------------------- projected_lstm_forward

# (B, T, D, H, P): every size 1 somewhere that PyTorch allows (P < H, so H >= 2), and P = H - 1.
PROJECTED_SHAPES = [(1, 1, 1, 2, 1), (1, 5, 3, 4, 2), (3, 1, 2, 3, 1), (2, 4, 3, 5, 4), (4, 6, 1, 2, 1)]


def projected_case(rng, gen, shape, dtype, state_given, biases) -> Case:
    """One case of a projected LSTM layer: inputs, optional state and biases, cotangents of every output."""
    B, T, D, H, P = shape
    args = {"x": randn(gen, B, T, D, dtype=dtype),
            "state": (randn(gen, B, P, dtype=dtype, scale=0.8), randn(gen, B, H, dtype=dtype)) if state_given else None,
            "weight_ih": randn(gen, 4 * H, D, dtype=dtype, scale=1.2 / H**0.5),
            "weight_hh": randn(gen, 4 * H, P, dtype=dtype, scale=1.2 / P**0.5),
            "weight_hr": randn(gen, P, H, dtype=dtype, scale=1.5 / H**0.5),
            "bias_ih": randn(gen, 4 * H, dtype=dtype, scale=0.5) if biases in ("both", "ih") else None,
            "bias_hh": randn(gen, 4 * H, dtype=dtype, scale=0.5) if biases in ("both", "hh") else None}
    if biases == "none" and rng.random() < 0.5:
        del args["bias_ih"], args["bias_hh"]  # rely on the defaults
    cotangent = (randn(gen, B, T, P, dtype=dtype), (randn(gen, B, P, dtype=dtype), randn(gen, B, H, dtype=dtype)))
    bias_text = {"both": "both biases", "none": "no biases", "ih": "bias_ih only", "hh": "bias_hh only"}[biases]
    label = (f"B={B}, T={T}, D={D}, H={H}, P={P}, {DTYPE_NAMES[dtype]}, "
             f"state={'given' if state_given else 'None'}, {bias_text}")
    grad = tuple(name for name, value in args.items() if value is not None)
    return Case(label=label, args=args, grad=grad, cotangent=cotangent)


class ProjectedLstmForwardCheck(NamedOutputsCheck):
    name = "projected_lstm_forward"
    rules = forbidden.FROM_SCRATCH
    output_names = ("outputs", ("h_n", "c_n"))
    output_name = _label(output_names)
    summary = ("sequences with B, T, D, P = 1, P < H, float32 and float64, state given and None, with and "
               "without biases, gradients through time")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        # Like the cells' cases: every seed has float32 and float64 each with a state given and None.
        dtypes = [torch.float32, torch.float64, torch.float32, torch.float64, (torch.float32, torch.float64)[seed % 2]]
        states = [True, False, False, True, True]
        plans = [(shape, dtype, state, "both" if index in (1, 3) else BIASES[(index + seed) % len(BIASES)])
                 for index, (shape, dtype, state) in enumerate(zip(PROJECTED_SHAPES, dtypes, states))]
        for _ in range(8 if hidden else 2):
            H = rng.randint(2, 6)
            shape = (rng.randint(1, 4), rng.randint(1, 7), rng.randint(1, 5), H, rng.randint(1, H - 1))
            plans.append((shape, rng.choice([torch.float32, torch.float64]), rng.random() < 0.7, rng.choice(BIASES)))
        return [projected_case(rng, gen, *plan) for plan in plans]


CHECKS = [LstmCellBackwardCheck(), CoupledLstmCellCheck(), PeepholeLstmCellCheck(), ProjectedLstmForwardCheck()]
