"""Small cases of the cells and forward passes worked out independently with numpy.

The numpy steps below follow the equations for one sequence, in column-vector form
(W @ x rather than the x @ W^T of the code under test), with every gate sliced out by
hand. The inputs are numbers chosen here, not produced by the code under test.
"""

import math

import numpy as np
import pytest
import torch

from grader.reference import (
    gru_cell,
    gru_forward,
    lstm_cell,
    lstm_forward,
    lstm_gates,
    rnn_cell,
    rnn_forward,
)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def relu(a):
    return np.maximum(a, 0.0)


def rnn_step(x, h, W, U, b_ih, b_hh, act):
    """h' = act(W x + b_ih + U h + b_hh)."""
    return act(W @ x + b_ih + U @ h + b_hh)


def lstm_step(x, h, c, W, U, b_ih, b_hh):
    """Gate order i, f, g, o; c' = f*c + i*g; h' = o*tanh(c'). Returns (h', c', gates)."""
    H = h.size
    a = W @ x + b_ih + U @ h + b_hh
    i = sigmoid(a[0:H])
    f = sigmoid(a[H : 2 * H])
    g = np.tanh(a[2 * H : 3 * H])
    o = sigmoid(a[3 * H : 4 * H])
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next, (i, f, g, o)


def gru_step(x, h, W, U, b_ih, b_hh):
    """Gate order r, z, n; n = tanh(W_n x + b_in + r*(U_n h + b_hn)); h' = (1-z)*n + z*h."""
    H = h.size
    W_r, W_z, W_n = W[0:H], W[H : 2 * H], W[2 * H : 3 * H]
    U_r, U_z, U_n = U[0:H], U[H : 2 * H], U[2 * H : 3 * H]
    b_ir, b_iz, b_in = b_ih[0:H], b_ih[H : 2 * H], b_ih[2 * H : 3 * H]
    b_hr, b_hz, b_hn = b_hh[0:H], b_hh[H : 2 * H], b_hh[2 * H : 3 * H]
    r = sigmoid(W_r @ x + b_ir + U_r @ h + b_hr)
    z = sigmoid(W_z @ x + b_iz + U_z @ h + b_hz)
    n = np.tanh(W_n @ x + b_in + r * (U_n @ h + b_hn))
    return (1 - z) * n + z * h


def chosen_numbers(shape, start):
    """Deterministic values in [-1, 1] with mixed signs and no structure the code could exploit."""
    count = int(np.prod(shape))
    values = ((np.arange(start, start + count) * 5) % 13 - 6) / 6.0
    return values.reshape(shape)


def torch64(array):
    return torch.tensor(array, dtype=torch.float64)


GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def make_case(arch, hidden_size, input_size, batch=2, steps=3):
    """Numbers for one case: inputs (B, T, D), states, weights and biases."""
    G = GATES[arch]
    return {
        "x": chosen_numbers((batch, steps, input_size), start=1),
        "h0": 0.5 * chosen_numbers((batch, hidden_size), start=2),
        "c0": chosen_numbers((batch, hidden_size), start=3),
        "W": chosen_numbers((G * hidden_size, input_size), start=4),
        "U": 0.8 * chosen_numbers((G * hidden_size, hidden_size), start=5),
        "b_ih": 0.4 + 0.3 * chosen_numbers((G * hidden_size,), start=6),
        "b_hh": 0.2 * chosen_numbers((G * hidden_size,), start=7),
    }


def numpy_sequence(arch, case):
    """Expected (outputs (B, T, H), final h, final c or None), one sequence at a time."""
    weights = (case["W"], case["U"], case["b_ih"], case["b_hh"])
    all_outputs, finals_h, finals_c = [], [], []
    for b in range(case["x"].shape[0]):
        h, c = case["h0"][b], case["c0"][b]
        outputs = []
        for x_t in case["x"][b]:
            if arch == "lstm":
                h, c, _ = lstm_step(x_t, h, c, *weights)
            elif arch == "gru":
                h = gru_step(x_t, h, *weights)
            else:
                h = rnn_step(x_t, h, *weights, act=np.tanh if arch == "rnn_tanh" else relu)
            outputs.append(h)
        all_outputs.append(outputs)
        finals_h.append(h)
        finals_c.append(c)
    return np.array(all_outputs), np.array(finals_h), np.array(finals_c) if arch == "lstm" else None


def torch_sequence(arch, case, steps=None):
    """Our forward pass on the case (optionally only its first ``steps`` steps)."""
    x = torch64(case["x"][:, :steps])
    weights = [torch64(case[name]) for name in ("W", "U", "b_ih", "b_hh")]
    h0 = torch64(case["h0"])
    if arch == "lstm":
        outputs, (h_n, c_n) = lstm_forward(x, (h0, torch64(case["c0"])), *weights)
        return outputs, h_n, c_n
    if arch == "gru":
        outputs, h_n = gru_forward(x, h0, *weights)
    else:
        outputs, h_n = rnn_forward(x, h0, *weights, nonlinearity=arch.removeprefix("rnn_"))
    return outputs, h_n, None


def torch_cell(arch, case):
    """Our cell on the first step of the case."""
    x = torch64(case["x"][:, 0])
    weights = [torch64(case[name]) for name in ("W", "U", "b_ih", "b_hh")]
    h0 = torch64(case["h0"])
    if arch == "lstm":
        return lstm_cell(x, (h0, torch64(case["c0"])), *weights)
    if arch == "gru":
        return gru_cell(x, h0, *weights), None
    return rnn_cell(x, h0, *weights, nonlinearity=arch.removeprefix("rnn_")), None


def assert_matches(actual, expected):
    np.testing.assert_allclose(actual.numpy(), expected, rtol=0, atol=1e-12)


SIZES = [(1, 1), (2, 1), (2, 2)]  # (H, D)


@pytest.mark.parametrize("hidden_size, input_size", SIZES)
@pytest.mark.parametrize("arch", GATES)
def test_forward_by_hand(arch, hidden_size, input_size):
    case = make_case(arch, hidden_size, input_size)
    expected_outputs, expected_h, expected_c = numpy_sequence(arch, case)
    outputs, h_n, c_n = torch_sequence(arch, case)
    assert_matches(outputs, expected_outputs)
    assert_matches(h_n, expected_h)
    if arch == "lstm":
        assert_matches(c_n, expected_c)


@pytest.mark.parametrize("hidden_size, input_size", SIZES)
@pytest.mark.parametrize("arch", GATES)
def test_cell_by_hand(arch, hidden_size, input_size):
    case = make_case(arch, hidden_size, input_size, steps=1)
    _, expected_h, expected_c = numpy_sequence(arch, case)
    h, c = torch_cell(arch, case)
    assert_matches(h, expected_h)
    if arch == "lstm":
        assert_matches(c, expected_c)


def test_lstm_gates_by_hand():
    case = make_case("lstm", hidden_size=2, input_size=2, batch=1, steps=1)
    weights = (case["W"], case["U"], case["b_ih"], case["b_hh"])
    *_, expected_gates = lstm_step(case["x"][0, 0], case["h0"][0], case["c0"][0], *weights)
    gates = lstm_gates(
        torch64(case["x"][:, 0]), (torch64(case["h0"]), torch64(case["c0"])), *map(torch64, weights)
    )
    for gate, expected in zip(gates, expected_gates):
        assert_matches(gate[0], expected)


# ----------------------------------------------------------------------------- scalar cases


def scalar(value):
    """A (1, 1) float64 tensor: one sequence, one unit."""
    return torch.tensor([[value]], dtype=torch.float64)


@pytest.mark.parametrize("nonlinearity, act", [("tanh", math.tanh), ("relu", lambda a: max(a, 0.0))])
def test_rnn_scalar_two_steps(nonlinearity, act):
    w, u, b_ih, b_hh, h0 = 0.5, -0.8, 0.1, 0.2, 0.3
    xs = [1.0, -2.0]
    h1 = act(w * xs[0] + b_ih + u * h0 + b_hh)  # tanh(0.5 - 0.24 + 0.3) = tanh(0.56)
    h2 = act(w * xs[1] + b_ih + u * h1 + b_hh)
    outputs, h_n = rnn_forward(
        torch.tensor([[[xs[0]], [xs[1]]]], dtype=torch.float64),
        scalar(h0), scalar(w), scalar(u), torch.tensor([b_ih], dtype=torch.float64),
        torch.tensor([b_hh], dtype=torch.float64), nonlinearity=nonlinearity,
    )
    assert outputs.flatten().tolist() == pytest.approx([h1, h2], abs=1e-12)
    assert h_n.item() == pytest.approx(h2, abs=1e-12)


def test_lstm_with_zero_weights_halves_the_cell_state():
    """All gate pre-activations are 0: i = f = o = 1/2 and g = 0, so c' = c/2, h' = tanh(c/2)/2."""
    c0 = 0.8
    zeros_ih, zeros_hh = torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, 1, dtype=torch.float64)
    h1, c1 = lstm_cell(scalar(3.0), (scalar(-0.4), scalar(c0)), zeros_ih, zeros_hh)
    assert c1.item() == pytest.approx(0.4, abs=1e-15)
    assert h1.item() == pytest.approx(0.5 * math.tanh(0.4), abs=1e-15)


def test_lstm_gate_order_is_i_f_g_o():
    """Bias each gate in turn: a huge forget bias keeps c, a huge input+candidate bias writes 1."""
    x, state, big = scalar(0.0), (scalar(0.0), scalar(0.6)), 50.0
    w_ih = w_hh = torch.zeros(4, 1, dtype=torch.float64)
    # i closed (-big), f open (+big), g anything, o open: c stays 0.6, h = tanh(0.6).
    h, c = lstm_cell(x, state, w_ih, w_hh, torch.tensor([-big, big, 0.0, big], dtype=torch.float64))
    assert c.item() == pytest.approx(0.6, abs=1e-12)
    assert h.item() == pytest.approx(math.tanh(0.6), abs=1e-12)
    # i open, f closed, g -> +1, o closed: c = 1, h = 0.
    h, c = lstm_cell(x, state, w_ih, w_hh, torch.tensor([big, -big, big, -big], dtype=torch.float64))
    assert c.item() == pytest.approx(1.0, abs=1e-12)
    assert h.item() == pytest.approx(0.0, abs=1e-12)


def test_gru_hidden_bias_of_candidate_sits_inside_the_reset_gate():
    """Zero weights, b_hn = 2: r = z = 1/2, n = tanh(r * b_hn) = tanh(1), h' = n/2 + h/2.

    Were b_hn added outside r * (...), n would be tanh(2) instead.
    """
    h0 = 0.3
    zeros = torch.zeros(3, 1, dtype=torch.float64)
    b_ih = torch.zeros(3, dtype=torch.float64)
    b_hh = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)
    h1 = gru_cell(scalar(1.5), scalar(h0), zeros, zeros, b_ih, b_hh)
    assert h1.item() == pytest.approx(0.5 * math.tanh(1.0) + 0.5 * h0, abs=1e-15)


def test_gru_update_gate_keeps_old_state():
    """z -> 1 (huge b_iz): h' = h whatever the input."""
    b_ih = torch.tensor([0.0, 60.0, 0.0], dtype=torch.float64)
    w_ih = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    h1 = gru_cell(scalar(2.0), scalar(-0.7), w_ih, torch.zeros(3, 1, dtype=torch.float64), b_ih)
    assert h1.item() == pytest.approx(-0.7, abs=1e-12)
