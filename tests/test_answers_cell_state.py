"""The answers of assignment 02 (grader.answers.cell_state) against PyTorch: autograd, nn.LSTM and hand values."""

import math

import pytest
import torch
from torch import nn

import grader.reference as ref
from grader.answers.cell_state import (coupled_lstm_cell, lstm_cell_backward, peephole_lstm_cell,
                                       projected_lstm_forward)
from grader.checks import CHECKS

f64 = torch.float64


def random_lstm(B, D, H, gates=4, seed=0, dtype=f64):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype)

    x = randn(B, D)
    state = (randn(B, H), randn(B, H))
    weights = (randn(gates * H, D) * 0.6, randn(gates * H, H) * 0.6)
    return (x, state, *weights, randn(gates * H) * 0.5, randn(gates * H) * 0.5)


# ----------------------------------------------------------------------------- lstm_cell_backward


def autograd_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    """The same gradients, by autograd through the taught lstm_cell; absent biases are zero biases."""
    H = weight_hh.shape[1]
    if state is None:
        state = (x.new_zeros(x.shape[0], H), x.new_zeros(x.shape[0], H))
    biases = [x.new_zeros(4 * H) if bias is None else bias for bias in (bias_ih, bias_hh)]
    leaves = [t.detach().clone().requires_grad_() for t in (x, *state, weight_ih, weight_hh, *biases)]
    x_, h_, c_, w_ih, w_hh, b_ih, b_hh = leaves
    h_next, c_next = ref.lstm_cell(x_, (h_, c_), w_ih, w_hh, b_ih, b_hh)
    loss = (h_next * grad_h_next).sum() + (0 if grad_c_next is None else (c_next * grad_c_next).sum())
    grads = torch.autograd.grad(loss, leaves)
    return grads[0], (grads[1], grads[2]), grads[3], grads[4], grads[5], grads[6]


def assert_backward_matches_autograd(args):
    ours = lstm_cell_backward(*args)
    grad_x, (grad_h, grad_c), grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = autograd_backward(
        *args, *([None] * (8 - len(args))))
    expected = (grad_x, (grad_h, grad_c), grad_w_ih, grad_w_hh, grad_b_ih)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(ours[4], grad_b_hh)  # the two biases have the same gradient


@pytest.mark.parametrize("B, D, H", [(1, 1, 1), (3, 4, 2), (2, 1, 5), (4, 3, 3)])
@pytest.mark.parametrize("state_given", [True, False])
@pytest.mark.parametrize("biases", ["both", "none", "ih", "hh"])
@pytest.mark.parametrize("with_grad_c", [True, False])
def test_lstm_cell_backward_equals_autograd_of_the_reference_cell(B, D, H, state_given, biases, with_grad_c):
    x, state, w_ih, w_hh, b_ih, b_hh = random_lstm(B, D, H, seed=B * 100 + D * 10 + H)
    generator = torch.Generator().manual_seed(7)
    grad_h_next = torch.randn(B, H, generator=generator, dtype=f64)
    grad_c_next = torch.randn(B, H, generator=generator, dtype=f64) if with_grad_c else None
    args = (grad_h_next, grad_c_next, x, state if state_given else None, w_ih, w_hh,
            b_ih if biases in ("both", "ih") else None, b_hh if biases in ("both", "hh") else None)
    assert_backward_matches_autograd(args)


@pytest.mark.parametrize("seed", [0, 1, 2, 9])
def test_lstm_cell_backward_equals_autograd_on_every_case_of_its_check(seed):
    check = CHECKS["lstm_cell_backward"]
    cases = check.cases(seed, hidden=seed == 9)
    assert cases
    for case in cases:
        args = tuple(case.args.values())
        if args[2].dtype == torch.float32:
            args = tuple(a.double() if isinstance(a, torch.Tensor) else
                         (tuple(s.double() for s in a) if isinstance(a, tuple) else a) for a in args)
        assert_backward_matches_autograd(args)


def test_lstm_cell_backward_keeps_the_dtype():
    x, state, w_ih, w_hh, b_ih, b_hh = random_lstm(2, 3, 4, dtype=torch.float32)
    grads = lstm_cell_backward(torch.ones(2, 4), None, x, state, w_ih, w_hh, b_ih, b_hh)
    flat = [grads[0], *grads[1], *grads[2:]]
    assert all(g.dtype == torch.float32 for g in flat)
    assert [tuple(g.shape) for g in flat] == [(2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,)]


# ----------------------------------------------------------------------------- coupled_lstm_cell


def forget_block_from_input_gate(weight):
    """(3H, ...) blocks i, g, o -> (4H, ...) blocks i, -i, g, o: sigmoid(-a_i) = 1 - sigmoid(a_i)."""
    i, g, o = weight.chunk(3, dim=0)
    return torch.cat([i, -i, g, o], dim=0)


@pytest.mark.parametrize("state_given", [True, False])
@pytest.mark.parametrize("B, D, H", [(1, 1, 1), (3, 4, 2), (2, 5, 6)])
def test_the_coupled_cell_is_an_lstm_whose_forget_gate_is_one_minus_the_input_gate(state_given, B, D, H):
    x, state, w_ih, w_hh, b_ih, b_hh = random_lstm(B, D, H, gates=3, seed=H)
    state = state if state_given else None
    ours = coupled_lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    lstm = nn.LSTMCell(D, H).double()
    with torch.no_grad():
        for name, value in [("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)]:
            getattr(lstm, name).copy_(forget_block_from_input_gate(value))
        expected = lstm(x, state)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(coupled_lstm_cell(x, state, w_ih, w_hh),
                               ref.lstm_cell(x, state, *(forget_block_from_input_gate(w) for w in (w_ih, w_hh))))


# ----------------------------------------------------------------------------- peephole_lstm_cell


def test_peephole_cell_with_zero_peepholes_is_nn_lstmcell():
    x, state, w_ih, w_hh, b_ih, b_hh = random_lstm(3, 2, 4, seed=5)
    lstm = nn.LSTMCell(2, 4).double()
    with torch.no_grad():
        for name, value in [("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)]:
            getattr(lstm, name).copy_(value)
        expected = lstm(x, state)
    torch.testing.assert_close(peephole_lstm_cell(x, state, w_ih, w_hh, torch.zeros(3, 4, dtype=f64), b_ih, b_hh),
                               expected)


def test_peephole_cell_by_hand_the_output_gate_sees_the_new_cell_state():
    # Zero weights and biases: a = 0 everywhere, so only the peepholes move the gates; g = tanh(0) = 0.
    p_i, p_f, p_o, c0 = 0.5, 2.0, -3.0, 0.8
    zeros_ih, zeros_hh = torch.zeros(4, 1, dtype=f64), torch.zeros(4, 1, dtype=f64)
    peephole = torch.tensor([[p_i], [p_f], [p_o]], dtype=f64)
    state = (torch.tensor([[0.3]], dtype=f64), torch.tensor([[c0]], dtype=f64))
    h, c = peephole_lstm_cell(torch.tensor([[1.0]], dtype=f64), state, zeros_ih, zeros_hh, peephole)

    def sigmoid(v):
        return 1 / (1 + math.exp(-v))

    c_next = sigmoid(p_f * c0) * c0          # f * c + i * 0
    h_next = sigmoid(p_o * c_next) * math.tanh(c_next)
    assert c.item() == pytest.approx(c_next, rel=1e-12)
    assert h.item() == pytest.approx(h_next, rel=1e-12)
    assert h.item() != pytest.approx(sigmoid(p_o * c0) * math.tanh(c_next), rel=1e-3)  # not the old c


# ----------------------------------------------------------------------------- projected_lstm_forward


def projected_module(D, H, P, bias, seed):
    torch.manual_seed(seed)
    return nn.LSTM(D, H, proj_size=P, batch_first=True, bias=bias).double()


@pytest.mark.parametrize("B, T, D, H, P", [(1, 1, 1, 2, 1), (3, 5, 4, 6, 2), (2, 7, 3, 5, 4)])
@pytest.mark.parametrize("state_given", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_projected_forward_equals_nn_lstm_with_proj_size(B, T, D, H, P, state_given, bias):
    lstm = projected_module(D, H, P, bias, seed=T)
    generator = torch.Generator().manual_seed(B)
    x = torch.randn(B, T, D, generator=generator, dtype=f64, requires_grad=True)
    state = (torch.randn(B, P, generator=generator, dtype=f64), torch.randn(B, H, generator=generator, dtype=f64))
    weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.weight_hr_l0]
    if bias:
        weights += [lstm.bias_ih_l0, lstm.bias_hh_l0]
    assert tuple(lstm.weight_hh_l0.shape) == (4 * H, P) and tuple(lstm.weight_hr_l0.shape) == (P, H)
    outputs, (h_n, c_n) = projected_lstm_forward(x, state if state_given else None, *weights)
    expected, (h_t, c_t) = lstm(x, (state[0][None], state[1][None]) if state_given else None)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close((h_n, c_n), (h_t[0], c_t[0]))
    # and the gradients autograd takes through both agree
    loss = outputs.square().sum() + c_n.sum()
    ours = torch.autograd.grad(loss, [x, *weights])
    theirs = torch.autograd.grad(expected.square().sum() + c_t.sum(), [x, *weights])
    torch.testing.assert_close(ours, theirs)
