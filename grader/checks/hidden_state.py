"""Checks of assignment 01, the hidden state: ``rnn_cell``, ``rnn_forward``,
``rnn_parameter_count`` and ``pairwise_distances``."""

from __future__ import annotations

import torch

from grader import reference as ref

from . import forbidden
from .core import DTYPE_NAMES, Case, Check, Mistake, generators, randn
from .recurrent import RecurrentCheck, bias_mistakes

# ----------------------------------------------------------------------------- rnn_cell


def _zero_state_float32(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    if h is None:
        h = torch.zeros(x.shape[0], weight_hh.shape[1])
    return ref.rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)


def _untransposed(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    h = x.new_zeros(x.shape[0], weight_hh.shape[1]) if h is None else h
    pre = x @ weight_ih + h @ weight_hh
    pre = pre + (0 if bias_ih is None else bias_ih) + (0 if bias_hh is None else bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def _always_tanh(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    return ref.rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, "tanh")


def _no_activation(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    h = x.new_zeros(x.shape[0], weight_hh.shape[1]) if h is None else h
    pre = x @ weight_ih.T + h @ weight_hh.T
    return pre + (0 if bias_ih is None else bias_ih) + (0 if bias_hh is None else bias_hh)


class RnnCellCheck(RecurrentCheck):
    name = "rnn_cell"
    reference = staticmethod(ref.rnn_cell)
    rules = forbidden.FROM_SCRATCH
    with_nonlinearity = True
    output_name = "h_next"
    summary = "shapes with B, D, H = 1, float32 and float64, h given and None, with and without biases, tanh and relu, gradients"

    def mistakes(self):
        return bias_mistakes(ref.rnn_cell) + [
            Mistake("weights not transposed",
                    "PyTorch stores weight_ih as (H, D) and weight_hh as (H, H): multiply by their "
                    "transposes, x @ weight_ih.T and h @ weight_hh.T.", _untransposed, error_pattern="shape|size"),
            Mistake("nonlinearity ignored",
                    "with nonlinearity='relu' the cell uses torch.relu instead of torch.tanh.", _always_tanh),
            Mistake("activation missing",
                    "the pre-activation must go through the nonlinearity (tanh by default).", _no_activation),
            Mistake("zero state created as float32",
                    "when h is None, create zeros with x's dtype and device, e.g. "
                    "x.new_zeros(B, H) or torch.zeros(B, H, dtype=x.dtype).", _zero_state_float32,
                    error_pattern="(?i)dtype|double|float"),
        ]


# ----------------------------------------------------------------------------- rnn_forward


def _forward_state_not_carried(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    outputs = [ref.rnn_cell(x[:, t], h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
               for t in range(x.shape[1])]
    return torch.stack(outputs, dim=1), outputs[-1]


def _forward_shifted(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    outputs, h_n = ref.rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    first = x.new_zeros(x.shape[0], weight_hh.shape[1]) if h0 is None else h0
    return torch.cat([first[:, None], outputs[:, :-1]], dim=1), h_n


def _forward_time_major(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    outputs, h_n = ref.rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    return outputs.transpose(0, 1), h_n


def _forward_first_state(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    outputs, _ = ref.rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    return outputs, outputs[:, 0]


class RnnForwardCheck(RecurrentCheck):
    name = "rnn_forward"
    reference = staticmethod(ref.rnn_forward)
    rules = forbidden.FROM_SCRATCH
    substitutes = {"rnn_cell": ref.rnn_cell}
    sequence = True
    with_nonlinearity = True
    output_name = "(outputs, h_n)"
    summary = "sequences with B, T, D, H = 1, float32 and float64, h0 given and None, gradients through time"

    def mistakes(self):
        return [
            Mistake("state not carried",
                    "every step must start from the state the previous step produced: "
                    "h = rnn_cell(x[:, t], h, ...), then use that h at step t + 1.", _forward_state_not_carried),
            Mistake("outputs shifted by one step",
                    "outputs[:, t] is the state after reading x[:, t] (h_1 ... h_T), not the state "
                    "before it (h_0 ... h_{T-1}).", _forward_shifted),
            Mistake("outputs time-major",
                    "outputs are batch-first, (B, T, H): stack the per-step states along dim=1.",
                    _forward_time_major),
            Mistake("h_n is the first state",
                    "h_n is the state after the last step, equal to outputs[:, -1].", _forward_first_state),
        ]


# ----------------------------------------------------------------------------- rnn_parameter_count

MODES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", *, biases_per_gate=2,
           gates=None, upper_input=None, use_bias_flag=True, use_layers=True):
    gates = MODES[mode] if gates is None else gates
    total = 0
    for layer in range(num_layers if use_layers else 1):
        d = input_size if layer == 0 else (hidden_size if upper_input is None else upper_input)
        b = bias if use_bias_flag else True
        total += gates * (hidden_size * d + hidden_size * hidden_size + biases_per_gate * hidden_size * b)
    return total


class RnnParameterCountCheck(Check):
    name = "rnn_parameter_count"
    reference = staticmethod(ref.rnn_parameter_count)
    output_name = "the count"
    summary = "RNN, LSTM and GRU, 1 to 3 layers, with and without biases, default arguments"

    def cases(self, seed, hidden=False):
        rng, _ = generators(self.name, seed)
        cases = []
        plan = [("RNN", 1, True), ("LSTM", 1, True), ("GRU", 2, False), ("LSTM", 3, True), ("RNN", 2, True),
                ("GRU", 1, True)]
        plan += [(rng.choice(list(MODES)), rng.randint(1, 3), rng.random() < 0.7) for _ in range(10 if hidden else 3)]
        for i, (mode, layers, bias) in enumerate(plan):
            d, h = rng.randint(1, 40), rng.randint(1, 40)
            while h == d:
                h = rng.randint(1, 40)
            args = {"input_size": d, "hidden_size": h, "num_layers": layers, "bias": bias, "mode": mode}
            if i == 0:
                args = {"input_size": d, "hidden_size": h}  # all defaults: one-layer RNN with biases
            label = ", ".join(f"{k}={v!r}" for k, v in args.items())
            cases.append(Case(label=label, args=args))
        return cases

    def mistakes(self):
        return [
            Mistake("one bias per gate block",
                    "PyTorch keeps two bias vectors per gate block, bias_ih and bias_hh: 2 * H each.",
                    lambda *a: _count(*a, biases_per_gate=1)),
            Mistake("gate blocks not counted",
                    "an LSTM layer has 4 gate blocks and a GRU layer 3, each with its own W_ih, W_hh "
                    "and biases: multiply the per-block count by G.", lambda *a: _count(*a, gates=1)),
            Mistake("upper layers read input_size",
                    "layers above the first read the H-dimensional states of the layer below, so their "
                    "W_ih is (G*H, H), not (G*H, input_size).",
                    lambda d, h, *a: _count(d, h, *a, upper_input=d)),
            Mistake("bias flag ignored", "with bias=False the layer has no bias vectors at all.",
                    lambda *a: _count(*a, use_bias_flag=False)),
            Mistake("num_layers ignored", "every one of the num_layers layers has its own parameters.",
                    lambda *a: _count(*a, use_layers=False)),
        ]


# ----------------------------------------------------------------------------- pairwise_distances


def _squared(states):
    return ref.pairwise_distances(states).pow(2)


def _manhattan(states):
    return (states[:, None, :] - states[None, :, :]).abs().sum(-1)


def _between_units(states):
    return ref.pairwise_distances(states.T)


class PairwiseDistancesCheck(Check):
    name = "pairwise_distances"
    reference = staticmethod(ref.pairwise_distances)
    output_name = "the distance matrix"
    summary = "T and H from 1 up, float32 and float64, repeated states"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        shapes = [(1, 1), (1, 4), (5, 1), (4, 3), (6, 6)]
        shapes += [(rng.randint(1, 12), rng.randint(1, 8)) for _ in range(8 if hidden else 2)]
        cases = []
        for i, (T, H) in enumerate(shapes):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            states = randn(gen, T, H, dtype=dtype)
            if T >= 3 and i % 2:
                states[2] = states[0]  # a repeated state: distance exactly 0 off the diagonal
            cases.append(Case(label=f"T={T}, H={H}, {DTYPE_NAMES[dtype]}", args={"states": states}))
        return cases

    def mistakes(self):
        return [
            Mistake("squared distances",
                    "the Euclidean distance is the square root of the sum of squared differences.", _squared),
            Mistake("Manhattan distance",
                    "use the Euclidean (L2) distance: sqrt of the sum of squared differences, not the sum "
                    "of absolute differences.", _manhattan),
            Mistake("distances between units",
                    "states is (T, H): one row per time step. Compare rows (time steps), not columns.",
                    _between_units),
        ]


CHECKS = [RnnCellCheck(), RnnForwardCheck(), RnnParameterCountCheck(), PairwiseDistancesCheck()]
