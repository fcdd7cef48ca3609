"""The answers of assignment 03 (grader.answers.initialization) agree with PyTorch's modules and with the math.

Each reference is tested against something computed another way: the bridged model against the course's
from-scratch LSTM and GRU forward passes, the forget-gate biases by running nn.LSTM / nn.LSTMCell and
reading their cell states, the critical scale against closed forms (diagonal and shear matrices, whose
powers are known) and against torch.linalg.matrix_power where the powers stay in range.
"""

import math

import pytest
import torch
from torch import nn

from grader.answers.initialization import (BridgedEncoderDecoder, critical_scale, forget_bias_for_retention,
                                           timescale_forget_bias_)
from grader.reference import gru_forward, lstm_forward

# ----------------------------------------------------------------------------- BridgedEncoderDecoder


def _bridged(dtype=torch.float64, sizes=(3, 2, 4, 6, 5)):
    torch.manual_seed(0)
    return BridgedEncoderDecoder(*sizes).to(dtype)


@pytest.mark.parametrize("B, S, T", [(1, 1, 1), (3, 5, 4)])
def test_the_bridged_model_is_an_lstm_a_tanh_bridge_and_a_gru_from_scratch(B, S, T):
    model = _bridged()
    source, target_inputs = torch.randn(B, S, 3, dtype=torch.float64), torch.randn(B, T, 2, dtype=torch.float64)
    e, d = model.encoder, model.decoder
    _, (h, c) = lstm_forward(source, None, e.weight_ih_l0, e.weight_hh_l0, e.bias_ih_l0, e.bias_hh_l0)
    h0 = torch.tanh(torch.cat([h, c], dim=1) @ model.bridge.weight.T + model.bridge.bias)  # (B, decoder_size)
    states, _ = gru_forward(target_inputs, h0, d.weight_ih_l0, d.weight_hh_l0, d.bias_ih_l0, d.bias_hh_l0)
    expected = states @ model.readout.weight.T + model.readout.bias
    torch.testing.assert_close(model.initial_state(source), h0[None])
    torch.testing.assert_close(model(source, target_inputs), expected)


def test_the_bridge_trains_the_encoder_and_depends_on_both_halves_of_the_state():
    model = _bridged()
    source = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    model(source, torch.randn(2, 3, 2, dtype=torch.float64)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert source.grad.abs().sum() > 0
    h_columns, c_columns = model.bridge.weight.grad.chunk(2, dim=1)
    assert h_columns.abs().sum() > 0 and c_columns.abs().sum() > 0
    assert model.initial_state(source).abs().max() < 1  # tanh


def test_the_bridged_model_has_the_layers_the_exercise_names():
    model = BridgedEncoderDecoder(3, 2, 4, 6, 5)
    assert isinstance(model.encoder, nn.LSTM) and model.encoder.batch_first
    assert (model.encoder.input_size, model.encoder.hidden_size) == (3, 4)
    assert (model.bridge.in_features, model.bridge.out_features) == (8, 6)
    assert isinstance(model.decoder, nn.GRU) and model.decoder.batch_first
    assert (model.decoder.input_size, model.decoder.hidden_size) == (2, 6)
    assert (model.readout.in_features, model.readout.out_features) == (6, 5)


# ----------------------------------------------------------------------------- forget_bias_for_retention


def _sigmoid(b):
    return 1 / (1 + math.exp(-b))


@pytest.mark.parametrize("retention, steps", [(0.5, 1), (0.9, 1), (0.5, 10), (0.01, 100), (0.99, 1000),
                                              (0.999, 5000), (0.2, 3)])
def test_the_bias_keeps_the_retention_after_the_steps(retention, steps):
    b = forget_bias_for_retention(retention, steps)
    assert type(b) is float
    assert _sigmoid(b) ** steps == pytest.approx(retention, rel=1e-9)


def test_the_bias_is_the_inverse_of_the_retention_of_a_given_bias():
    assert forget_bias_for_retention(0.5, 1) == 0.0
    for bias in (-1.0, 1.0, 3.0):  # the chapter's b_f = 1, and others
        for steps in (1, 7, 60):
            assert forget_bias_for_retention(_sigmoid(bias) ** steps, steps) == pytest.approx(bias, rel=1e-9)


@pytest.mark.parametrize("retention, steps", [(0.3, 1), (0.5, 20), (0.95, 200)])
def test_an_lstm_with_that_forget_bias_and_the_input_gate_closed_keeps_that_share(retention, steps):
    cell = nn.LSTMCell(1, 3).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih[:3] = -1e4  # input gate closed: sigmoid(-1e4) == 0
        cell.bias_ih[3:6] = forget_bias_for_retention(retention, steps)
    h, c = torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(steps):
            h, c = cell(torch.randn(2, 1, dtype=torch.float64), (h, c))
    torch.testing.assert_close(c, torch.full_like(c, retention), rtol=1e-9, atol=0)


@pytest.mark.parametrize("retention, steps", [(0.0, 3), (1.0, 3), (1.5, 1), (-0.2, 1), (0.5, 0), (0.5, -1),
                                              (0.5, 2.5), (0.5, True)])
def test_invalid_retentions_and_steps_raise(retention, steps):
    with pytest.raises(ValueError):
        forget_bias_for_retention(retention, steps)


# ----------------------------------------------------------------------------- timescale_forget_bias_


def _bias_blocks(lstm, name):
    return getattr(lstm, name).detach().view(4, lstm.hidden_size)  # i, f, g, o


@pytest.mark.parametrize("layers, bidirectional, proj_size", [(1, False, 0), (3, False, 0), (2, True, 0),
                                                              (2, False, 2)])
def test_chrono_biases_give_forget_gates_one_minus_one_over_tau_in_every_layer(layers, bidirectional, proj_size):
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 4, layers, batch_first=True, bidirectional=bidirectional, proj_size=proj_size).double()
    before = {name: p.detach().clone() for name, p in lstm.named_parameters()}
    taus = torch.tensor([1.5, 4.0, 30.0, 500.0], dtype=torch.float64)
    assert timescale_forget_bias_(lstm, taus) is lstm
    for name, p in lstm.named_parameters():
        if not name.startswith("bias_"):
            torch.testing.assert_close(p.detach(), before[name], rtol=0, atol=0)
            continue
        assert p.requires_grad and p.grad_fn is None
        kept = before[name].view(4, 4)
        torch.testing.assert_close(_bias_blocks(lstm, name)[2:], kept[2:], rtol=0, atol=0)  # g, o untouched
        if name.startswith("bias_ih"):
            partner = _bias_blocks(lstm, name.replace("bias_ih", "bias_hh"))
            total = _bias_blocks(lstm, name) + partner
            torch.testing.assert_close(torch.sigmoid(total[1]), 1 - 1 / taus)  # forget gate
            torch.testing.assert_close(torch.sigmoid(total[0]), 1 / taus)      # input gate
            assert (partner[:2] == 0).all()


def test_an_lstm_with_chrono_biases_decays_each_cell_on_its_time_scale():
    """With zero weights (and g = 0), PyTorch's own nn.LSTM multiplies unit k's cell by 1 - 1/tau_k per step."""
    lstm = nn.LSTM(1, 3, 2, batch_first=True, bidirectional=True).double()
    taus = torch.tensor([2.0, 10.0, 100.0], dtype=torch.float64)
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
    timescale_forget_bias_(lstm, taus)
    steps = 25
    c0 = torch.ones(4, 2, 3, dtype=torch.float64)  # (layers * directions, B, H)
    with torch.no_grad():
        _, (_, c_n) = lstm(torch.randn(2, steps, 1, dtype=torch.float64), (torch.zeros_like(c0), c0))
    torch.testing.assert_close(c_n, ((1 - 1 / taus) ** steps).expand_as(c_n))


def test_chrono_biases_on_an_lstm_cell_and_the_input_gate_writes_one_over_tau():
    cell = nn.LSTMCell(1, 2).double()
    taus = torch.tensor([3.0, 50.0], dtype=torch.float64)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih[4:6] = 0.5  # g = tanh(0.5)
    timescale_forget_bias_(cell, taus)
    with torch.no_grad():
        _, c = cell(torch.zeros(1, 1, dtype=torch.float64), (torch.zeros(1, 2, dtype=torch.float64),
                                                              torch.ones(1, 2, dtype=torch.float64)))
    torch.testing.assert_close(c[0], (1 - 1 / taus) + math.tanh(0.5) / taus)


@pytest.mark.parametrize("taus", [torch.tensor([2.0, 1.0, 3.0]), torch.tensor([2.0, 0.5, 3.0]),
                                  torch.tensor([2.0, 3.0]), torch.tensor([[2.0, 3.0, 4.0]])])
def test_invalid_time_scales_raise_and_leave_the_lstm_alone(taus):
    lstm = nn.LSTM(1, 3)
    before = lstm.bias_ih_l0.detach().clone()
    with pytest.raises(ValueError):
        timescale_forget_bias_(lstm, taus)
    assert torch.equal(lstm.bias_ih_l0.detach(), before)


# ----------------------------------------------------------------------------- critical_scale


def _shear_scale(a, s, steps):
    """c_T of [[a, s], [0, a]] in closed form: W^T = a^(T-1) [[a, T s], [0, a]], its norm taken in logs."""
    core = torch.tensor([[a, steps * s], [0.0, a]], dtype=torch.float64)
    log_gain = (steps - 1) * math.log(a) + math.log(torch.linalg.matrix_norm(core, ord=2))
    return math.exp(-log_gain / steps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("steps", [1, 2, 7, 40])
def test_the_critical_scale_matches_the_norm_of_the_matrix_power(steps, dtype):
    weight = torch.randn(5, 5, generator=torch.Generator().manual_seed(steps), dtype=torch.float64) * 0.5
    scale = critical_scale(weight.to(dtype), steps)
    assert scale.dtype == dtype and scale.dim() == 0
    expected = torch.linalg.matrix_norm(torch.linalg.matrix_power(weight, steps), ord=2) ** (-1 / steps)
    torch.testing.assert_close(scale.double(), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)
    gain = torch.linalg.matrix_norm(torch.linalg.matrix_power(scale.double() * weight, steps), ord=2)
    assert gain.item() == pytest.approx(1.0, rel=1e-4 if dtype == torch.float32 else 1e-10)


@pytest.mark.parametrize("steps", [1, 3, 50, 2000])
def test_for_normal_matrices_the_critical_scale_is_one_over_the_spectral_radius(steps):
    rotation = 2.5 * torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
    symmetric = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    symmetric = symmetric + symmetric.T
    for weight in (rotation, symmetric, torch.diag(torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64))):
        rho = torch.linalg.eigvals(weight).abs().max().item()
        assert critical_scale(weight, steps).item() == pytest.approx(1 / rho, rel=1e-10)


def test_for_the_shear_the_critical_scale_rises_towards_one_over_rho_gelfand():
    shear = torch.tensor([[0.9, 3.0], [0.0, 0.9]], dtype=torch.float64)
    horizons = [1, 2, 10, 100, 1000, 100_000]
    scales = [critical_scale(shear, steps).item() for steps in horizons]
    for steps, scale in zip(horizons, scales):
        assert scale == pytest.approx(_shear_scale(0.9, 3.0, steps), rel=1e-10)
    assert scales == sorted(scales) and scales[-1] < 1 / 0.9
    assert scales[-1] == pytest.approx(1 / 0.9, rel=2e-4)
    assert scales[0] == pytest.approx(1 / torch.linalg.matrix_norm(shear, ord=2).item(), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_horizons_whose_gains_leave_the_floating_point_range_are_exact(dtype):
    diagonal = torch.diag(torch.tensor([3.0, -1.0, 0.5], dtype=dtype))
    shrinking = torch.diag(torch.tensor([0.2, -0.1], dtype=dtype))
    for steps in (120, 700, 5000):  # 3^120 overflows float32, 3^700 float64; 0.2^steps underflows both
        assert critical_scale(diagonal, steps).item() == pytest.approx(1 / 3, rel=1e-6)
        assert critical_scale(shrinking, steps).item() == pytest.approx(5.0, rel=1e-6)
        shear = torch.tensor([[3.0, 4.0], [0.0, 3.0]], dtype=dtype)
        assert critical_scale(shear, steps).item() == pytest.approx(_shear_scale(3.0, 4.0, steps), rel=1e-6)


def test_the_critical_scale_of_a_scaled_matrix_scales_inversely():
    weight = torch.randn(4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for steps in (1, 5, 33):
        assert critical_scale(7 * weight, steps).item() == pytest.approx(critical_scale(weight, steps).item() / 7,
                                                                          rel=1e-12)


def test_nilpotent_matrices_have_a_scale_until_their_power_vanishes():
    nilpotent = torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert critical_scale(nilpotent, 2).item() == pytest.approx(6.0 ** -0.5, rel=1e-12)  # W^2 = [[0, 0, 6], 0, 0]
    for steps in (3, 4, 10):
        with pytest.raises(ValueError, match="nilpotent"):
            critical_scale(nilpotent, steps)


@pytest.mark.parametrize("weight, steps", [(torch.zeros(3, 3), 1), (torch.ones(2, 3), 2), (torch.ones(3), 1),
                                           (torch.eye(2), 0), (torch.eye(2), -3), (torch.eye(2), 1.5),
                                           (torch.eye(2), True)])
def test_invalid_matrices_and_steps_raise(weight, steps):
    with pytest.raises(ValueError):
        critical_scale(weight, steps)


def test_the_critical_scale_does_not_need_or_keep_a_graph():
    weight = nn.Parameter(torch.randn(3, 3))
    scale = critical_scale(weight, 4)
    assert not scale.requires_grad
