"""Case generation shared by the checks of cells and forward passes (RNN, LSTM, GRU).

Every seed gives a fixed set of edge shapes (B, T, H equal to 1; D equal to H so that a
missing transpose shows) with flags rotated by the seed, plus random shapes; the hidden
tests add more random shapes. Flags: float32 or float64, an initial state given or ``None``,
which biases are given, and for the vanilla RNN the nonlinearity.
"""

from __future__ import annotations

import torch

from .base import Check
from .core import Case, DTYPE_NAMES, generators, randn

# (B, D, H) for cells, (B, T, D, H) for forward passes: every size equal to 1 somewhere.
CELL_SHAPES = [(1, 1, 1), (1, 3, 2), (4, 1, 3), (3, 4, 4), (2, 5, 1)]
SEQUENCE_SHAPES = [(1, 1, 1, 1), (1, 5, 3, 2), (3, 1, 2, 4), (2, 4, 3, 3), (4, 6, 2, 1)]
BIASES = ["both", "both", "none", "ih", "hh"]
NONLINEARITIES = ["tanh", "relu", "default"]


def _flags(index, seed):
    """Flags for the index-th fixed case. Every seed covers float32 and float64 each with a state
    given and ``None``; biases and nonlinearity rotate with the seed."""
    dtypes = [torch.float32, torch.float64, torch.float32, torch.float64, (torch.float32, torch.float64)[seed % 2]]
    states = [True, False, False, True, True]
    k = index + seed
    return {
        "dtype": dtypes[index],
        "state": states[index],
        "biases": "both" if index in (1, 3) else BIASES[k % len(BIASES)],
        "nonlinearity": NONLINEARITIES[k % 3],
    }


def _random_flags(rng):
    return {
        "dtype": rng.choice([torch.float32, torch.float64]),
        "state": rng.random() < 0.7,
        "biases": rng.choice(BIASES),
        "nonlinearity": rng.choice(NONLINEARITIES),
    }


def recurrent_cases(name: str, seed: int, hidden: bool, *, gates: int, sequence: bool, lstm: bool = False,
                    with_nonlinearity: bool = False) -> list[Case]:
    """Cases for a cell (``sequence=False``) or a forward pass of a G-gate recurrence."""
    rng, gen = generators(name, seed)
    shapes = list(SEQUENCE_SHAPES if sequence else CELL_SHAPES)
    flags = [_flags(i, seed) for i in range(len(shapes))]
    extra = 8 if hidden else 2
    for _ in range(extra):
        B, T, D, H = rng.randint(1, 5), rng.randint(1, 7), rng.randint(1, 6), rng.randint(1, 6)
        shapes.append((B, T, D, H) if sequence else (B, D, H))
        flags.append(_random_flags(rng))
    cases = []
    for shape, flag in zip(shapes, flags):
        if sequence:
            B, T, D, H = shape
        else:
            (B, D, H), T = shape, None
        dtype = flag["dtype"]
        scale = 1.2 / max(H, 1) ** 0.5
        x = randn(gen, *((B, T, D) if sequence else (B, D)), dtype=dtype)
        weight_ih = randn(gen, gates * H, D, dtype=dtype, scale=scale)
        weight_hh = randn(gen, gates * H, H, dtype=dtype, scale=scale)
        bias_ih = randn(gen, gates * H, dtype=dtype, scale=0.5) if flag["biases"] in ("both", "ih") else None
        bias_hh = randn(gen, gates * H, dtype=dtype, scale=0.5) if flag["biases"] in ("both", "hh") else None
        if flag["state"]:
            h = randn(gen, B, H, dtype=dtype, scale=0.8)
            state = (h, randn(gen, B, H, dtype=dtype)) if lstm else h
        else:
            state = None
        state_name = "state" if lstm else ("h0" if sequence else "h")
        args = {"x": x, state_name: state, "weight_ih": weight_ih, "weight_hh": weight_hh,
                "bias_ih": bias_ih, "bias_hh": bias_hh}
        nonlinearity = flag["nonlinearity"] if with_nonlinearity else "default"
        if nonlinearity != "default":
            args["nonlinearity"] = nonlinearity
        elif bias_ih is None and bias_hh is None and rng.random() < 0.5:
            del args["bias_ih"], args["bias_hh"]  # rely on the defaults
        grad = tuple(n for n, v in args.items() if v is not None and n != "nonlinearity")
        # Cotangents: the weights of the outputs in the loss whose gradient is compared.
        out = (B, T, H) if sequence else (B, H)
        step = randn(gen, *out, dtype=dtype)
        if sequence:
            final = (randn(gen, B, H, dtype=dtype), randn(gen, B, H, dtype=dtype)) if lstm else randn(gen, B, H, dtype=dtype)
            cotangent = (step, final)
        else:
            cotangent = (step, randn(gen, B, H, dtype=dtype)) if lstm else step
        sizes = f"B={B}, T={T}, D={D}, H={H}" if sequence else f"B={B}, D={D}, H={H}"
        state_text = f"{state_name}={'given' if state is not None else 'None'}"
        bias_text = {"both": "both biases", "none": "no biases", "ih": "bias_ih only", "hh": "bias_hh only"}[flag["biases"]]
        label = f"{sizes}, {DTYPE_NAMES[dtype]}, {state_text}, {bias_text}"
        if with_nonlinearity:
            label += f", nonlinearity={'default (tanh)' if nonlinearity == 'default' else repr(nonlinearity)}"
        cases.append(Case(label=label, args=args, grad=grad, cotangent=cotangent))
    return cases


class RecurrentCheck(Check):
    """A cell or forward-pass check: generic call and compare, recurrent cases."""

    gates = 1
    sequence = False
    lstm = False
    with_nonlinearity = False
    grad_tolerance = None

    def cases(self, seed, hidden=False):
        return recurrent_cases(self.name, seed, hidden, gates=self.gates, sequence=self.sequence,
                               lstm=self.lstm, with_nonlinearity=self.with_nonlinearity)


def permuted_gates(weight, order, reference_order):
    """Rows of a stacked gate matrix rearranged so that the reference reads block k as ``order[k]``.

    A student who splits the blocks in ``order`` computes exactly what the reference computes
    on the rearranged weights: this turns "wrong gate order" into a one-line mistake.
    """
    if weight is None:
        return None
    blocks = weight.chunk(len(order), dim=0)
    rearranged = [None] * len(order)
    for k, gate in enumerate(order):
        rearranged[reference_order.index(gate)] = blocks[k]
    return torch.cat(rearranged, dim=0)
