"""Checks of assignment 02, cell state vs hidden state: ``lstm_cell``, ``lstm_forward``,
``gru_cell`` and ``forget_gate_retention``."""

from __future__ import annotations

import itertools

import torch

from grader import reference as ref

from . import forbidden
from .core import DTYPE_NAMES, Case, Check, Mistake, generators, rand
from .recurrent import RecurrentCheck, bias_mistakes, permuted_gates

LSTM_ORDER = ("i", "f", "g", "o")
GRU_ORDER = ("r", "z", "n")


def _gate_order_mistake(reference_fn, order, reference_order, word):
    def mistaken(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        return reference_fn(x, state, *(permuted_gates(w, order, reference_order)
                                        for w in (weight_ih, weight_hh, bias_ih, bias_hh)))

    names = ", ".join(order)
    return Mistake(f"gates in order {names}",
                   f"PyTorch stacks the {word} gate blocks in the order {', '.join(reference_order)}: "
                   f"chunk the pre-activation in that order (you used {names}).", mistaken)


# ----------------------------------------------------------------------------- lstm_cell


def _zero_state(x, weight_hh):
    return x.new_zeros(x.shape[0], weight_hh.shape[1])


def _lstm_parts(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = (_zero_state(x, weight_hh),) * 2 if state is None else state
    pre = x @ weight_ih.T + h @ weight_hh.T
    pre = pre + (0 if bias_ih is None else bias_ih) + (0 if bias_hh is None else bias_hh)
    a_i, a_f, a_g, a_o = pre.chunk(4, dim=1)
    return h, c, a_i, a_f, a_g, a_o


def _lstm_no_tanh_on_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, c, a_i, a_f, a_g, a_o = _lstm_parts(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    c_next = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * c_next, c_next


def _lstm_sigmoid_candidate(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, c, a_i, a_f, a_g, a_o = _lstm_parts(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    c_next = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.sigmoid(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next


def _lstm_state_swapped(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    state = None if state is None else (state[1], state[0])
    return ref.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def _lstm_returns_c_h(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h_next, c_next = ref.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return c_next, h_next


class LstmCellCheck(RecurrentCheck):
    name = "lstm_cell"
    reference = staticmethod(ref.lstm_cell)
    rules = forbidden.FROM_SCRATCH
    gates = 4
    lstm = True
    output_name = "(h_next, c_next)"
    summary = "shapes with B, D, H = 1, float32 and float64, state given and None, with and without biases, gradients"

    def mistakes(self):
        orders = [p for p in itertools.permutations(LSTM_ORDER) if p != LSTM_ORDER]
        orders.sort(key=lambda p: p != ("i", "f", "o", "g"))  # the most common one first
        return bias_mistakes(ref.lstm_cell) + [
            _gate_order_mistake(ref.lstm_cell, order, LSTM_ORDER, "LSTM") for order in orders
        ] + [
            Mistake("tanh missing on the cell state",
                    "the hidden state is h_next = o * tanh(c_next), not o * c_next.", _lstm_no_tanh_on_cell),
            Mistake("sigmoid on the candidate g",
                    "i, f and o are sigmoids (values in (0, 1)), but the candidate g = tanh(a_g) takes "
                    "values in (-1, 1).", _lstm_sigmoid_candidate),
            Mistake("h and c swapped in the state",
                    "the state is the pair (h, c): state[0] is h, state[1] is c.", _lstm_state_swapped),
            Mistake("returned (c_next, h_next)",
                    "return the pair in PyTorch's order, (h_next, c_next).", _lstm_returns_c_h),
        ]


# ----------------------------------------------------------------------------- lstm_forward


def _lstm_forward_cell_states(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    trace = ref.lstm_trace(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return trace["c"], (trace["h"][:, -1], trace["c"][:, -1])


def _lstm_forward_not_carried(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    steps = [ref.lstm_cell(x[:, t], state, weight_ih, weight_hh, bias_ih, bias_hh) for t in range(x.shape[1])]
    return torch.stack([h for h, _ in steps], dim=1), steps[-1]


def _lstm_forward_cell_not_carried(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    c0 = _zero_state(x[:, 0], weight_hh) if state is None else state[1]
    h = None if state is None else state[0]
    outputs = []
    for t in range(x.shape[1]):
        h, c = ref.lstm_cell(x[:, t], (_zero_state(x[:, 0], weight_hh) if h is None else h, c0),
                             weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


def _lstm_forward_flat(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    outputs, (h, c) = ref.lstm_forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return outputs, h, c


class LstmForwardCheck(RecurrentCheck):
    name = "lstm_forward"
    reference = staticmethod(ref.lstm_forward)
    rules = forbidden.FROM_SCRATCH
    substitutes = {"lstm_cell": ref.lstm_cell}
    gates = 4
    lstm = True
    sequence = True
    output_name = "(outputs, (h_n, c_n))"
    summary = "sequences with B, T, D, H = 1, float32 and float64, state given and None, gradients through time"

    def mistakes(self):
        return [
            Mistake("outputs are the cell states",
                    "outputs holds the hidden states h_1 ... h_T (what the LSTM exposes), not the cell "
                    "states c_t.", _lstm_forward_cell_states),
            Mistake("state not carried",
                    "each step must start from the (h, c) the previous step produced.", _lstm_forward_not_carried),
            Mistake("cell state not carried",
                    "carry both halves of the state: (h, c) = lstm_cell(x[:, t], (h, c), ...).",
                    _lstm_forward_cell_not_carried),
            Mistake("returned (outputs, h_n, c_n)",
                    "return two things, like nn.LSTM: (outputs, (h_n, c_n)).", _lstm_forward_flat),
        ]


# ----------------------------------------------------------------------------- gru_cell


def _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    h = _zero_state(x, weight_hh) if h is None else h
    gi = x @ weight_ih.T + (0 if bias_ih is None else bias_ih)
    gh = h @ weight_hh.T
    bh = torch.zeros_like(gh[0]) if bias_hh is None else bias_hh
    return h, gi.chunk(3, dim=1), gh.chunk(3, dim=1), bh.chunk(3)


def _gru_bhn_outside(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, (x_r, x_z, x_n), (h_r, h_z, h_n), (b_r, b_z, b_n) = _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    r = torch.sigmoid(x_r + h_r + b_r)
    z = torch.sigmoid(x_z + h_z + b_z)
    n = torch.tanh(x_n + r * h_n + b_n)
    return (1 - z) * n + z * h


def _gru_reset_before_matmul(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, (x_r, x_z, x_n), (h_r, h_z, _), (b_r, b_z, b_n) = _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    r = torch.sigmoid(x_r + h_r + b_r)
    z = torch.sigmoid(x_z + h_z + b_z)
    w_hn = weight_hh.chunk(3, dim=0)[2]
    n = torch.tanh(x_n + (r * h) @ w_hn.T + b_n)
    return (1 - z) * n + z * h


def _gru_z_swapped(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, (x_r, x_z, x_n), (h_r, h_z, h_n), (b_r, b_z, b_n) = _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    r = torch.sigmoid(x_r + h_r + b_r)
    z = torch.sigmoid(x_z + h_z + b_z)
    n = torch.tanh(x_n + r * (h_n + b_n))
    return z * n + (1 - z) * h


class GruCellCheck(RecurrentCheck):
    name = "gru_cell"
    reference = staticmethod(ref.gru_cell)
    rules = forbidden.FROM_SCRATCH
    gates = 3
    output_name = "h_next"
    summary = "shapes with B, D, H = 1, float32 and float64, h given and None, with and without biases, gradients"

    def mistakes(self):
        orders = [p for p in itertools.permutations(GRU_ORDER) if p != GRU_ORDER]
        orders.sort(key=lambda p: p != ("z", "r", "n"))
        return [
            Mistake("b_hn outside the reset product",
                    "PyTorch's candidate is n = tanh(x_n + b_in + r * (h @ W_hn^T + b_hn)): the recurrent "
                    "bias b_hn is multiplied by r together with h @ W_hn^T.", _gru_bhn_outside),
            Mistake("reset applied before the matrix product",
                    "that is the original paper's variant, tanh(x_n + (r * h) @ W_hn^T + ...); PyTorch "
                    "applies r after the product: r * (h @ W_hn^T + b_hn).", _gru_reset_before_matmul),
            Mistake("update gate the wrong way round",
                    "in PyTorch z is the share of the old state kept: h_next = (1 - z) * n + z * h.",
                    _gru_z_swapped),
        ] + bias_mistakes(ref.gru_cell) + [
            _gate_order_mistake(ref.gru_cell, order, GRU_ORDER, "GRU") for order in orders
        ]


# ----------------------------------------------------------------------------- forget_gate_retention


class ForgetGateRetentionCheck(Check):
    name = "forget_gate_retention"
    reference = staticmethod(ref.forget_gate_retention)
    output_name = "the retention"
    summary = "B, T, H from 1 up, float32 and float64, gradients"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        shapes = [(1, 1, 1), (1, 6, 2), (3, 1, 4), (2, 5, 3), (4, 3, 1)]
        shapes += [(rng.randint(1, 5), rng.randint(1, 12), rng.randint(1, 6)) for _ in range(8 if hidden else 2)]
        cases = []
        for i, (B, T, H) in enumerate(shapes):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            gates = rand(gen, B, T, H, dtype=dtype, low=0.3, high=0.99)
            cases.append(Case(label=f"B={B}, T={T}, H={H}, {DTYPE_NAMES[dtype]}", args={"forget_gates": gates},
                              grad=("forget_gates",), cotangent=rand(gen, B, H, dtype=dtype, low=-1, high=1)))
        return cases

    def mistakes(self):
        return [
            Mistake("a sum instead of a product",
                    "c_0 is scaled by each forget gate in turn, c_T = f_T * ... * f_1 * c_0 + ..., so "
                    "multiply the gates (torch.prod), do not add them.", lambda f: f.sum(dim=1)),
            Mistake("a mean instead of a product",
                    "the share of c_0 left after T steps is the product of the T forget gates, not their "
                    "average.", lambda f: f.mean(dim=1)),
            Mistake("product over the wrong dimension",
                    "forget_gates is (B, T, H): multiply along time, dim=1.", lambda f: f.prod(dim=0)),
            Mistake("only the last forget gate",
                    "every step's forget gate scales what is left of c_0, not only the last one.",
                    lambda f: f[:, -1]),
        ]


CHECKS = [LstmCellCheck(), LstmForwardCheck(), GruCellCheck(), ForgetGateRetentionCheck()]
