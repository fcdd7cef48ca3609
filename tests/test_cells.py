"""The cells and forward passes of ``grader.reference.cells`` against ``torch.nn``.

The parameters of a ``torch.nn`` module (``weight_ih_l0`` etc., or ``weight_ih`` for a
cell module) are passed straight to our functions, so both sides compute with the very
same leaf tensors: values, final states and autograd gradients must agree.
"""

from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

from grader.reference import (
    gru_cell,
    gru_forward,
    lstm_cell,
    lstm_forward,
    lstm_trace,
    rnn_cell,
    rnn_forward,
)


@dataclass(frozen=True)
class Arch:
    """One recurrent architecture: our functions and the matching ``torch.nn`` modules."""

    name: str
    cell: Callable
    forward: Callable
    cell_module: type
    sequence_module: type
    nonlinearity: str | None = None

    @property
    def is_lstm(self):
        return self.cell_module is nn.LSTMCell

    @property
    def options(self):
        """Keyword arguments shared by our functions and the modules (the RNN nonlinearity)."""
        return {} if self.nonlinearity is None else {"nonlinearity": self.nonlinearity}

    def __str__(self):
        return self.name


ARCHS = [
    Arch("rnn_tanh", rnn_cell, rnn_forward, nn.RNNCell, nn.RNN, "tanh"),
    Arch("rnn_relu", rnn_cell, rnn_forward, nn.RNNCell, nn.RNN, "relu"),
    Arch("lstm", lstm_cell, lstm_forward, nn.LSTMCell, nn.LSTM),
    Arch("gru", gru_cell, gru_forward, nn.GRUCell, nn.GRU),
]
ARCH_BY_NAME = {arch.name: arch for arch in ARCHS}
LEVELS = ["cell", "sequence"]

# (B, T, D, H): every size equal to 1 somewhere, and a few larger ones. Cells ignore T.
SHAPES = [(1, 1, 1, 1), (1, 4, 3, 2), (3, 1, 2, 5), (4, 7, 1, 3), (2, 6, 5, 1), (5, 12, 8, 16)]
SEEDS = [0, 1]
TOLERANCES = {torch.float32: 1e-5, torch.float64: 1e-10}


# ----------------------------------------------------------------------------- helpers


def make_module(arch, level, input_size, hidden_size, dtype, bias=True):
    if level == "cell":
        module = arch.cell_module(input_size, hidden_size, bias=bias, **arch.options)
    else:
        module = arch.sequence_module(input_size, hidden_size, bias=bias, batch_first=True, **arch.options)
    return module.to(dtype)


def module_weights(module, level):
    """``[weight_ih, weight_hh, bias_ih, bias_hh]`` of a module; biases are None without bias."""
    suffix = "" if level == "cell" else "_l0"
    return [getattr(module, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def make_input(level, batch, steps, input_size, dtype):
    shape = (batch, input_size) if level == "cell" else (batch, steps, input_size)
    return torch.randn(shape, dtype=dtype, requires_grad=True)


def make_state(arch, batch, hidden_size, dtype):
    """A random ``(B, H)`` state, or an ``(h, c)`` pair for the LSTM."""
    def random_state():
        return torch.randn(batch, hidden_size, dtype=dtype, requires_grad=True)

    return (random_state(), random_state()) if arch.is_lstm else random_state()


def flatten(result):
    """Nested tuples of tensors -> flat list of tensors."""
    if isinstance(result, torch.Tensor):
        return [result]
    return [tensor for item in result for tensor in flatten(item)]


def map_state(state, fn):
    """Apply ``fn`` to a state: a tensor, an LSTM pair, or None (left as None)."""
    if state is None:
        return None
    return tuple(map(fn, state)) if isinstance(state, tuple) else fn(state)


def run_ours(arch, level, x, state, weights):
    function = arch.cell if level == "cell" else arch.forward
    return flatten(function(x, state, *weights, **arch.options))


def run_module(module, level, x, state):
    """The module's results in our conventions: ``(1, B, H)`` states become ``(B, H)``."""
    if level == "cell":
        return flatten(module(x, state))
    outputs, final_state = module(x, map_state(state, lambda s: s.unsqueeze(0)))
    return [outputs] + [s.squeeze(0) for s in flatten(final_state)]


def weighted_sum(tensors, loss_weights):
    return sum((tensor * weight).sum() for tensor, weight in zip(tensors, loss_weights))


def assert_all_close(actual, expected, tolerance):
    """Entrywise |a - e| <= tolerance * (1 + |e|): absolute for values of order 1, relative for
    the larger gradients of long float32 sequences (whose rounding error grows with their size)."""
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, atol=tolerance, rtol=tolerance)


def compare_with_module(arch, level, module, x, state, tolerance):
    """Results and gradients (of one random-weighted loss) of ours vs the module."""
    ours = run_ours(arch, level, x, state, module_weights(module, level))
    theirs = run_module(module, level, x, state)
    assert_all_close(ours, theirs, tolerance)

    loss_weights = [torch.randn_like(t) for t in theirs]
    leaves = [x] + flatten(state if state is not None else ()) + list(module.parameters())
    our_grads = torch.autograd.grad(weighted_sum(ours, loss_weights), leaves)
    their_grads = torch.autograd.grad(weighted_sum(theirs, loss_weights), leaves)
    assert_all_close(our_grads, their_grads, tolerance)


# ----------------------------------------------------------------------------- against torch.nn


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch, steps, input_size, hidden_size", SHAPES)
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_matches_torch_module(arch, level, batch, steps, input_size, hidden_size, seed, dtype):
    torch.manual_seed(seed)
    module = make_module(arch, level, input_size, hidden_size, dtype)
    x = make_input(level, batch, steps, input_size, dtype)
    state = make_state(arch, batch, hidden_size, dtype)
    compare_with_module(arch, level, module, x, state, TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_without_biases_matches_module_with_bias_false(arch, level, dtype):
    module = make_module(arch, level, input_size=3, hidden_size=4, dtype=dtype, bias=False)
    assert module_weights(module, level)[2:] == [None, None]
    x = make_input(level, batch=2, steps=5, input_size=3, dtype=dtype)
    state = make_state(arch, batch=2, hidden_size=4, dtype=dtype)
    compare_with_module(arch, level, module, x, state, TOLERANCES[dtype])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_state_none_matches_module_default_state(arch, level):
    module = make_module(arch, level, input_size=3, hidden_size=4, dtype=torch.float64)
    x = make_input(level, batch=2, steps=5, input_size=3, dtype=torch.float64)
    compare_with_module(arch, level, module, x, None, TOLERANCES[torch.float64])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_state_none_equals_zero_state(arch, level):
    module = make_module(arch, level, input_size=3, hidden_size=4, dtype=torch.float64)
    weights = module_weights(module, level)
    x = make_input(level, batch=2, steps=5, input_size=3, dtype=torch.float64)
    zeros = map_state(make_state(arch, 2, 4, torch.float64), torch.zeros_like)
    from_none = run_ours(arch, level, x, None, weights)
    from_zeros = run_ours(arch, level, x, zeros, weights)
    assert_all_close(from_none, from_zeros, tolerance=0.0)


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_gradcheck(arch, level):
    batch, steps, input_size, hidden_size = 2, 3, 2, 3
    module = make_module(arch, level, input_size, hidden_size, torch.float64)
    weights = [w.detach().clone().requires_grad_(True) for w in module_weights(module, level)]
    x = make_input(level, batch, steps, input_size, torch.float64)
    state = make_state(arch, batch, hidden_size, torch.float64)

    def function(x, *state_then_weights):
        """gradcheck passes flat tensors: regroup the LSTM's (h, c) pair."""
        state = tuple(state_then_weights[:2]) if arch.is_lstm else state_then_weights[0]
        return tuple(run_ours(arch, level, x, state, state_then_weights[-4:]))

    assert torch.autograd.gradcheck(function, (x, *flatten(state), *weights))


# ----------------------------------------------------------------------------- lstm_trace


def test_lstm_trace_agrees_with_lstm_forward_and_module_gates():
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    weights = module_weights(lstm, "sequence")
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    state = make_state(ARCH_BY_NAME["lstm"], 2, 4, torch.float64)
    trace = lstm_trace(x, state, *weights)
    outputs, (h_n, c_n) = lstm_forward(x, state, *weights)

    assert set(trace) == {"h", "c", "i", "f", "g", "o"}
    torch.testing.assert_close(trace["h"], outputs)
    torch.testing.assert_close(trace["c"][:, -1], c_n)
    # The recorded gates must reproduce the recorded states through the LSTM equations.
    previous_c = torch.cat([state[1].unsqueeze(1), trace["c"][:, :-1]], dim=1)
    torch.testing.assert_close(trace["c"], trace["f"] * previous_c + trace["i"] * trace["g"])
    torch.testing.assert_close(trace["h"], trace["o"] * torch.tanh(trace["c"]))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("function", [rnn_cell, rnn_forward])
def test_invalid_nonlinearity_raises(function):
    x = torch.randn(2, 3, 1) if function is rnn_forward else torch.randn(2, 1)
    weights = module_weights(nn.RNN(1, 2, batch_first=True), "sequence")
    with pytest.raises(ValueError, match="nonlinearity.*sigmoid"):
        function(x, None, *weights, nonlinearity="sigmoid")


@pytest.mark.parametrize("bad_shape", [(3, 2), (2, 3, 2, 1), (2,)])
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_forward_rejects_wrong_number_of_dims(arch, bad_shape):
    weights = module_weights(make_module(arch, "sequence", 2, 3, torch.float32), "sequence")
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        arch.forward(torch.randn(bad_shape), None, *weights, **arch.options)


@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_forward_rejects_empty_sequence(arch):
    weights = module_weights(make_module(arch, "sequence", 2, 3, torch.float32), "sequence")
    with pytest.raises(ValueError, match="T >= 1"):
        arch.forward(torch.randn(2, 0, 2), None, *weights, **arch.options)
