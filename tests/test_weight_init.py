"""Spectral radius and the initializations of ``grader.reference.weight_init``."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from grader.reference import (
    forget_gate_bias_init_,
    identity_init_,
    irnn,
    orthogonal_init_,
    random_recurrent_weight,
    scale_to_spectral_radius,
    spectral_radius,
)


def numpy_spectral_radius(weight):
    return np.abs(np.linalg.eigvals(weight.detach().double().numpy())).max()


def rotation(angle, scale):
    """scale * a 2-D rotation: complex eigenvalues scale * exp(+-i angle), radius ``scale``."""
    return scale * torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


# ----------------------------------------------------------------------------- spectral radius


@pytest.mark.parametrize("size", [1, 2, 5, 17])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_spectral_radius_matches_numpy(size, dtype):
    weight = torch.randn(size, size, dtype=dtype)
    radius = spectral_radius(weight)
    assert radius.dtype == dtype and radius.dim() == 0
    assert radius.item() == pytest.approx(numpy_spectral_radius(weight), rel=1e-5)


@pytest.mark.parametrize(
    "weight, expected",
    [
        (torch.diag(torch.tensor([0.5, -3.0, 2.0])), 3.0),
        (rotation(angle=1.0, scale=0.7), 0.7),  # complex eigenvalues
        (torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 0.0),  # nilpotent: norm 1, radius 0
    ],
)
def test_spectral_radius_known_matrices(weight, expected):
    assert spectral_radius(weight).item() == pytest.approx(expected, abs=1e-6)


def test_spectral_radius_of_parameter_is_not_differentiable():
    weight = nn.Parameter(torch.randn(3, 3))
    assert not spectral_radius(weight).requires_grad


@pytest.mark.parametrize("shape", [(2, 3), (4,), (2, 2, 2)])
def test_spectral_radius_rejects_non_square(shape):
    with pytest.raises(ValueError, match="square"):
        spectral_radius(torch.ones(shape))


@pytest.mark.parametrize("radius", [0.0, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("size", [1, 4, 16])
def test_scale_to_spectral_radius(size, radius):
    weight = torch.randn(size, size, dtype=torch.float64)
    original = weight.clone()
    scaled = scale_to_spectral_radius(weight, radius)
    assert numpy_spectral_radius(scaled) == pytest.approx(radius, abs=1e-10)
    torch.testing.assert_close(weight, original, rtol=0, atol=0)  # input untouched
    # A pure rescaling: the result is a multiple of the input.
    factor = radius / numpy_spectral_radius(original)
    torch.testing.assert_close(scaled, original * factor)


def test_scale_to_spectral_radius_rejects_zero_radius_matrix():
    with pytest.raises(ValueError, match="spectral radius is 0"):
        scale_to_spectral_radius(torch.zeros(3, 3), 1.0)


def test_random_recurrent_weight():
    weight = random_recurrent_weight(6, 0.9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    again = random_recurrent_weight(6, 0.9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert weight.shape == (6, 6) and weight.dtype == torch.float64
    assert numpy_spectral_radius(weight) == pytest.approx(0.9, abs=1e-10)
    torch.testing.assert_close(weight, again, rtol=0, atol=0)


# ----------------------------------------------------------------------------- identity / orthogonal


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_identity_init(gain, dtype):
    weight = torch.randn(4, 4, dtype=dtype)
    returned = identity_init_(weight, gain)
    assert returned is weight
    np.testing.assert_array_equal(weight.numpy(), gain * np.eye(4))


def test_identity_init_on_parameter_in_place():
    rnn = nn.RNN(2, 3)
    identity_init_(rnn.weight_hh_l0, gain=2.0)
    np.testing.assert_array_equal(rnn.weight_hh_l0.detach().numpy(), 2.0 * np.eye(3))


@pytest.mark.parametrize("shape", [(3, 4), (12, 3), (5,)])
def test_identity_init_rejects_non_square(shape):
    with pytest.raises(ValueError, match="square"):
        identity_init_(torch.zeros(shape))


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize("hidden_size", [1, 3, 8])
@pytest.mark.parametrize("module", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda m: m.__name__)
def test_orthogonal_init_each_block_is_orthogonal(module, hidden_size, gain):
    weight = module(2, hidden_size).weight_hh_l0
    returned = orthogonal_init_(weight, gain)
    assert returned is weight
    blocks = weight.detach().double().split(hidden_size, dim=0)
    assert len(blocks) == weight.shape[0] // hidden_size
    for block in blocks:
        expected = gain**2 * torch.eye(hidden_size, dtype=torch.float64)
        torch.testing.assert_close(block @ block.T, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(block.T @ block, expected, atol=1e-5, rtol=0)


def test_orthogonal_init_rejects_rows_not_a_multiple_of_hidden_size():
    with pytest.raises(ValueError, match=r"\(G\*H, H\)"):
        orthogonal_init_(torch.zeros(7, 3))


# ----------------------------------------------------------------------------- forget gate bias


@pytest.mark.parametrize("value", [1.0, 2.5])
@pytest.mark.parametrize(
    "make_lstm", [lambda: nn.LSTM(3, 4, num_layers=2), lambda: nn.LSTMCell(3, 4)], ids=["LSTM2", "LSTMCell"]
)
def test_forget_gate_bias_init(make_lstm, value):
    lstm = make_lstm()
    before = {name: p.detach().clone() for name, p in lstm.named_parameters()}
    hidden = lstm.hidden_size
    forget = slice(hidden, 2 * hidden)  # gate order i, f, g, o
    keep = torch.ones(4 * hidden, dtype=torch.bool)
    keep[forget] = False

    assert forget_gate_bias_init_(lstm, value) is lstm

    after = dict(lstm.named_parameters())
    bias_names = [name for name in after if name.startswith("bias")]
    assert len(bias_names) == 2 * getattr(lstm, "num_layers", 1)
    for name, param in after.items():
        param = param.detach()
        if name.startswith("bias_ih"):
            assert torch.all(param[forget] == value)
        elif name.startswith("bias_hh"):
            assert torch.all(param[forget] == 0)
        else:  # weights untouched
            torch.testing.assert_close(param, before[name], rtol=0, atol=0)
            continue
        torch.testing.assert_close(param[keep], before[name][keep], rtol=0, atol=0)


def test_forget_gate_bias_opens_the_forget_gate():
    """With zero weights and input, f = sigmoid(value): the cell keeps that share of c."""
    cell = nn.LSTMCell(1, 1)
    with torch.no_grad():
        for param in cell.parameters():
            param.zero_()
    forget_gate_bias_init_(cell, value=1.0)
    with torch.no_grad():
        _, c = cell(torch.zeros(1, 1), (torch.zeros(1, 1), torch.ones(1, 1)))
    # i = sigmoid(0) = 1/2 but g = tanh(0) = 0, so c' = f * 1 = sigmoid(1).
    assert c.item() == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-6)


# ----------------------------------------------------------------------------- IRNN


@pytest.mark.parametrize("gain", [1.0, 0.8])
def test_irnn_configuration(gain):
    rnn = irnn(3, 5, gain=gain)
    assert isinstance(rnn, nn.RNN)
    assert rnn.nonlinearity == "relu" and rnn.batch_first
    np.testing.assert_array_equal(rnn.weight_hh_l0.detach().numpy(), gain * np.eye(5, dtype=np.float32))
    assert torch.all(rnn.bias_ih_l0 == 0) and torch.all(rnn.bias_hh_l0 == 0)


def test_irnn_copies_a_nonnegative_state_forward_without_input():
    rnn = irnn(2, 4)
    h0 = torch.rand(1, 3, 4)
    with torch.no_grad():
        outputs, h_n = rnn(torch.zeros(3, 6, 2), h0)
    torch.testing.assert_close(outputs, h0.squeeze(0).unsqueeze(1).expand(3, 6, 4))
    torch.testing.assert_close(h_n, h0)
