"""Memory, gradient and hidden-state diagnostics (``grader.reference.diagnostics``)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from grader.reference import (
    activity_regularization,
    clip_grad_norm_,
    effective_memory_length,
    forget_gate_retention,
    hidden_state_report,
    input_gradient_norms,
    lstm_trace,
    pairwise_distances,
    rnn_cell,
    rnn_forward,
    rnn_parameter_count,
    rnn_step_jacobians,
    saturation_stats,
    temporal_activation_regularization,
)

MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def vanilla_rnn_with_radius(input_size, hidden_size, radius):
    """A tanh ``nn.RNN`` whose W_hh is ``radius`` times an orthogonal matrix (spectral radius ``radius``)."""
    rnn = nn.RNN(input_size, hidden_size, batch_first=True)
    orthogonal, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size))
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(radius * orthogonal)
    return rnn


# ----------------------------------------------------------------------------- parameter count


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("input_size, hidden_size", [(1, 1), (3, 5), (10, 4)])
@pytest.mark.parametrize("mode", MODULES)
def test_rnn_parameter_count_matches_torch_modules(mode, input_size, hidden_size, num_layers, bias):
    module = MODULES[mode](input_size, hidden_size, num_layers, bias=bias)
    expected = sum(p.numel() for p in module.parameters())
    assert rnn_parameter_count(input_size, hidden_size, num_layers, bias, mode) == expected


def test_rnn_parameter_count_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        rnn_parameter_count(2, 3, mode="lstm")


# ----------------------------------------------------------------------------- small hand cases


def test_pairwise_distances_by_hand():
    states = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])  # a 3-4-5 right triangle
    expected = torch.tensor([[0.0, 5.0, 4.0], [5.0, 0.0, 3.0], [4.0, 3.0, 0.0]])
    torch.testing.assert_close(pairwise_distances(states), expected)


@pytest.mark.parametrize("steps, hidden_size", [(1, 3), (6, 1), (9, 4)])
def test_pairwise_distances_match_numpy(steps, hidden_size):
    states = torch.randn(steps, hidden_size, dtype=torch.float64)
    array = states.numpy()
    expected = np.array([[np.linalg.norm(array[s] - array[t]) for t in range(steps)] for s in range(steps)])
    np.testing.assert_allclose(pairwise_distances(states).numpy(), expected, atol=1e-12)


def test_pairwise_distances_rejects_batched_states():
    with pytest.raises(ValueError, match=r"\(T, H\)"):
        pairwise_distances(torch.randn(2, 3, 4))


def test_forget_gate_retention_by_hand():
    forget_gates = torch.tensor(
        [
            [[0.5, 0.9], [0.5, 0.9], [0.8, 0.9]],
            [[1.0, 0.1], [1.0, 0.2], [1.0, 0.5]],
        ]
    )  # (B=2, T=3, H=2)
    expected = torch.tensor([[0.5 * 0.5 * 0.8, 0.9**3], [1.0, 0.1 * 0.2 * 0.5]])
    torch.testing.assert_close(forget_gate_retention(forget_gates), expected)


def test_forget_gate_retention_is_cell_path_derivative():
    """With W_hh = 0 the gates ignore the state, so d c_T / d c_0 is exactly prod_t f_t."""
    lstm = nn.LSTM(2, 3, batch_first=True).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    c0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    weights = (lstm.weight_ih_l0, torch.zeros_like(lstm.weight_hh_l0), lstm.bias_ih_l0, lstm.bias_hh_l0)
    trace = lstm_trace(x, (torch.zeros_like(c0), c0), *weights)
    (d_c_T,) = torch.autograd.grad(trace["c"][:, -1].sum(), c0)  # elementwise: units do not mix
    torch.testing.assert_close(forget_gate_retention(trace["f"]), d_c_T)


def test_saturation_stats_by_hand():
    states = torch.tensor([[0.99, -0.96, 0.1], [0.0, -0.5, 0.94]])
    stats = saturation_stats(states)
    assert stats["saturation_rate"] == pytest.approx(2 / 6)  # 0.99 and -0.96 exceed 0.95
    assert stats["mean_abs"] == pytest.approx((0.99 + 0.96 + 0.1 + 0.0 + 0.5 + 0.94) / 6)
    assert stats["max_abs"] == pytest.approx(0.99)
    assert saturation_stats(states, threshold=0.4)["saturation_rate"] == pytest.approx(4 / 6)
    assert all(isinstance(value, float) for value in stats.values())


def test_activity_regularization_by_hand():
    states = torch.tensor([[[1.0, 2.0], [3.0, -1.0]]], requires_grad=True)  # (B=1, T=2, H=2)
    penalty = activity_regularization(states, alpha=0.5)
    assert penalty.dim() == 0
    assert penalty.item() == pytest.approx(0.5 * (1 + 4 + 9 + 1) / 4)
    (gradient,) = torch.autograd.grad(penalty, states)
    torch.testing.assert_close(gradient, 0.5 * 2 * states.detach() / 4)


def test_temporal_activation_regularization_by_hand():
    # Sequence 1: steps 0 -> 1 -> 3 (squared changes 1, 4); sequence 2: constant (0, 0).
    states = torch.tensor([[[0.0], [1.0], [3.0]], [[2.0], [2.0], [2.0]]], requires_grad=True)
    penalty = temporal_activation_regularization(states, beta=2.0)
    assert penalty.dim() == 0
    assert penalty.item() == pytest.approx(2.0 * (1 + 4 + 0 + 0) / 4)
    (gradient,) = torch.autograd.grad(penalty, states)
    # d/dh of beta/N * sum (h_{t+1} - h_t)^2 with N = 4: h_0=0 -> -2*1, h_1 -> 2*1 - 2*2, h_2 -> 2*2.
    expected = torch.tensor([[[-2.0], [-2.0], [4.0]], [[0.0], [0.0], [0.0]]]) * 2.0 / 4
    torch.testing.assert_close(gradient, expected)


def test_temporal_activation_regularization_needs_two_steps():
    with pytest.raises(ValueError, match="at least 2 time steps"):
        temporal_activation_regularization(torch.randn(2, 1, 3), beta=1.0)


@pytest.mark.parametrize(
    "norms, fraction, expected",
    [
        ([0.001, 0.02, 0.5, 1.0], 0.01, 3),
        ([1.0, 1.0, 1.0], 0.01, 3),
        ([0.1, 0.5, 0.7, 1.0], 0.6, 2),
        ([3.0], 0.01, 1),
        ([0.0, 0.0, 0.0], 0.01, 0),
        ([2.0, 0.015, 0.03, 0.0], 0.01, 2),  # threshold 0.02: order does not matter
    ],
)
def test_effective_memory_length_by_hand(norms, fraction, expected):
    result = effective_memory_length(torch.tensor(norms), fraction)
    assert isinstance(result, int) and result == expected


# ----------------------------------------------------------------------------- gradients through time


def per_step_gradient_norms(forward, x):
    """||dL/dx_t|| averaged over the batch, with one leaf tensor per step, L = sum of last outputs."""
    steps = [x[:, t].detach().clone().requires_grad_(True) for t in range(x.shape[1])]
    outputs = forward(torch.stack(steps, dim=1))
    outputs = outputs[0] if isinstance(outputs, tuple) else outputs
    gradients = torch.autograd.grad(outputs[:, -1].sum(), steps)
    return torch.stack([gradient.norm(dim=-1).mean() for gradient in gradients])


def lstm_returning_outputs_only():
    lstm = nn.LSTM(3, 4, batch_first=True)
    return lambda x: lstm(x)[0]


@pytest.mark.parametrize(
    "make_forward",
    [
        lambda: nn.RNN(3, 4, batch_first=True),  # returns a tuple
        lstm_returning_outputs_only,  # returns a tensor
        lambda: nn.GRU(3, 4, num_layers=2, batch_first=True),
    ],
    ids=["RNN", "LSTM-tensor", "GRU-2-layers"],
)
def test_input_gradient_norms_match_explicit_gradients(make_forward):
    forward = make_forward()
    x = torch.randn(5, 8, 3)
    norms = input_gradient_norms(forward, x)
    assert norms.shape == (8,)
    torch.testing.assert_close(norms, per_step_gradient_norms(forward, x))
    assert not x.requires_grad  # the caller's tensor is left alone


def test_input_gradient_norms_decay_toward_early_steps_for_small_radius():
    rnn = vanilla_rnn_with_radius(2, 16, radius=0.3)
    norms = input_gradient_norms(rnn, torch.randn(32, 20, 2))
    # The further back, the weaker: at least halved every 3 steps (single steps may fluctuate).
    assert torch.all(norms[:-3] < 0.5 * norms[3:])
    assert norms[0] < 1e-6 * norms[-1]


def test_lstm_with_open_forget_gate_remembers_longer_than_small_radius_rnn():
    steps, hidden_size = 60, 16
    x = torch.randn(16, steps, 2)
    rnn = vanilla_rnn_with_radius(2, hidden_size, radius=0.3)
    lstm = nn.LSTM(2, hidden_size, batch_first=True)
    with torch.no_grad():
        lstm.bias_ih_l0[hidden_size : 2 * hidden_size] = 5.0  # forget gate f ~ sigmoid(5) ~ 0.99
        lstm.bias_hh_l0[hidden_size : 2 * hidden_size] = 0.0
    rnn_memory = effective_memory_length(input_gradient_norms(rnn, x))
    lstm_memory = effective_memory_length(input_gradient_norms(lstm, x))
    assert rnn_memory < 10
    assert lstm_memory > 3 * rnn_memory


def test_rnn_step_jacobians_match_autograd():
    rnn = nn.RNN(3, 4, batch_first=True).double()
    weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    x = torch.randn(2, 3, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        outputs, _ = rnn_forward(x, h0, *weights)
        jacobians = rnn_step_jacobians(outputs, rnn.weight_hh_l0)
    assert jacobians.shape == (2, 3, 4, 4)
    previous = torch.cat([h0[:, None], outputs[:, :-1]], dim=1)  # h_{t-1} for every step t
    for b in range(2):
        for t in range(3):
            step = lambda h: rnn_cell(x[b : b + 1, t], h[None], *weights)[0]  # noqa: E731
            expected = torch.autograd.functional.jacobian(step, previous[b, t])
            torch.testing.assert_close(jacobians[b, t], expected)


# ----------------------------------------------------------------------------- hidden_state_report


def test_hidden_state_report_counts_nan_and_inf_and_summarizes_finite_entries():
    states = torch.randn(4, 6)
    states[0, 1] = states[2, 3] = math.nan
    states[3, 0] = math.inf
    report = hidden_state_report(states)
    assert report["nan_count"] == 2 and report["inf_count"] == 1
    finite = states.numpy()[np.isfinite(states.numpy())]
    assert report["mean"] == pytest.approx(finite.mean(), abs=1e-6)
    assert report["std"] == pytest.approx(finite.std(ddof=1), abs=1e-6)
    assert report["min"] == pytest.approx(finite.min())
    assert report["max"] == pytest.approx(finite.max())


def test_hidden_state_report_saturation_and_near_zero():
    states = torch.tensor([[0.995, -0.999, 0.5, 0.005], [-0.001, 0.3, 0.98, -1.0]])
    report = hidden_state_report(states)
    assert report["saturated"] == pytest.approx(3 / 8)  # 0.995, -0.999, -1.0
    assert report["near_zero"] == pytest.approx(2 / 8)  # 0.005, -0.001
    assert report["nan_count"] == 0 and report["inf_count"] == 0


def test_hidden_state_report_batch_spread():
    row = torch.randn(1, 5)
    assert hidden_state_report(row.expand(8, 5))["batch_spread"] == pytest.approx(0.0, abs=1e-7)
    assert hidden_state_report(row)["batch_spread"] == 0.0  # a single sequence
    states = torch.randn(8, 5)
    expected = np.std(states.numpy(), axis=0, ddof=1).max()
    assert hidden_state_report(states)["batch_spread"] == pytest.approx(expected, rel=1e-5)


def test_hidden_state_report_of_saturated_tanh_rnn():
    """A large-weight tanh RNN saturates; the report says so where a small-weight one does not."""
    x = torch.randn(8, 10, 3)
    big, small = vanilla_rnn_with_radius(3, 6, radius=1.0), vanilla_rnn_with_radius(3, 6, radius=0.1)
    with torch.no_grad():
        big.weight_ih_l0.mul_(100.0)
        small.weight_ih_l0.mul_(0.001)
        small.bias_ih_l0.zero_()
        small.bias_hh_l0.zero_()
    assert hidden_state_report(big(x)[0])["saturated"] > 0.8
    assert hidden_state_report(small(x)[0])["saturated"] == 0.0


# ----------------------------------------------------------------------------- clip_grad_norm_


CLIP_CASES = {
    "single-tensor": dict(shapes=[(3, 4)], form="tensor"),
    "list": dict(shapes=[(3, 4), (5,), (2, 2, 2)], form="list"),
    "generator": dict(shapes=[(3, 4), (5,)], form="generator"),
    "some-grads-none": dict(shapes=[(3,), (4, 2), (6,)], without_grad=[1], form="list"),
    "float64": dict(shapes=[(3, 4), (7,)], dtype=torch.float64, form="list"),
}


def make_parameters(shapes, form, without_grad=(), dtype=torch.float32, seed=0):
    """Parameters with random gradients (none for the indices in ``without_grad``)."""
    generator = torch.Generator().manual_seed(seed)
    parameters = []
    for index, shape in enumerate(shapes):
        parameter = nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype))
        if index not in without_grad:
            parameter.grad = torch.randn(shape, generator=generator, dtype=dtype)
        parameters.append(parameter)
    return parameters


def as_form(parameters, form):
    """The parameters as clip_grad_norm_ receives them: one tensor, a list or a generator."""
    if form == "tensor":
        return parameters[0]
    return list(parameters) if form == "list" else (p for p in parameters)


def gradients(parameters):
    return [None if p.grad is None else p.grad.clone() for p in parameters]


@pytest.mark.parametrize("max_norm", [1e3, 0.1], ids=["below-max", "above-max"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf], ids=["L2", "L1", "Linf"])
@pytest.mark.parametrize("case", CLIP_CASES)
def test_clip_grad_norm_matches_torch(case, norm_type, max_norm):
    spec = CLIP_CASES[case]
    ours, theirs = make_parameters(**spec), make_parameters(**spec)
    original = gradients(ours)

    our_norm = clip_grad_norm_(as_form(ours, spec["form"]), max_norm, norm_type)
    their_norm = torch.nn.utils.clip_grad_norm_(as_form(theirs, spec["form"]), max_norm, norm_type)

    torch.testing.assert_close(our_norm, their_norm)
    for our_grad, their_grad in zip(gradients(ours), gradients(theirs)):
        assert (our_grad is None) == (their_grad is None)
        if our_grad is not None:
            torch.testing.assert_close(our_grad, their_grad)
    # Independently of torch: below the limit nothing changes, above it the new norm is max_norm.
    used = [p for p in (ours[:1] if spec["form"] == "tensor" else ours) if p.grad is not None]
    new_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in used]), norm_type)
    if max_norm > our_norm:
        for our_grad, original_grad in zip(gradients(ours), original):
            assert our_grad is None or torch.equal(our_grad, original_grad)
    else:
        assert new_norm.item() == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_without_any_gradient_returns_zero():
    parameters = make_parameters([(2,), (3,)], form="list", without_grad=[0, 1])
    assert clip_grad_norm_(parameters, 1.0).item() == 0.0
    assert all(p.grad is None for p in parameters)
