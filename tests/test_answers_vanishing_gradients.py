"""The answers of assignment 05 against PyTorch: autograd through nn.RNN, and independent computations.

The expected values come from torch.nn.RNN and autograd, from the chapter's plain TAR
(grader.reference), or from loops over single entries written here, never from the code under test.
"""

import itertools
import math

import pytest
import torch
from torch import nn

from grader.answers.vanishing_gradients import (adaptive_clip_grad_, masked_temporal_activation_regularization,
                                                numerical_gradient, rnn_bptt)
from grader.reference import temporal_activation_regularization

# ----------------------------------------------------------------------------- rnn_bptt


def autograd_bptt(B, T, D, H, dtype, seed, bias=True):
    """The five gradients of L = sum(outputs * grad_outputs) through nn.RNN, and rnn_bptt's arguments."""
    torch.manual_seed(seed)
    rnn = nn.RNN(D, H, batch_first=True, bias=bias).to(dtype)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(2.0)  # larger weights: some units near saturation
    x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dtype, requires_grad=True)
    outputs, _ = rnn(x, h0[None])
    grad_outputs = torch.randn(B, T, H, dtype=dtype)
    leaves = [x, h0, rnn.weight_ih_l0, rnn.weight_hh_l0] + ([rnn.bias_ih_l0, rnn.bias_hh_l0] if bias else [])
    grads = torch.autograd.grad((outputs * grad_outputs).sum(), leaves)
    args = (grad_outputs, x.detach(), h0.detach(), outputs.detach(), rnn.weight_ih_l0.detach(),
            rnn.weight_hh_l0.detach())
    return args, grads


SHAPES = [(1, 1, 1, 1), (1, 7, 2, 3), (3, 1, 4, 2), (2, 5, 3, 3), (4, 12, 2, 5)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rnn_bptt_equals_autograd_through_nn_rnn(shape, dtype):
    args, expected = autograd_bptt(*shape, dtype, seed=sum(shape))
    got = rnn_bptt(*args)
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for name, ours, theirs in zip(["x", "h0", "weight_ih", "weight_hh", "bias_ih"], got, expected):
        assert ours.dtype == dtype and ours.shape == theirs.shape, name
        torch.testing.assert_close(ours, theirs, **tolerance, msg=name)
    torch.testing.assert_close(got[4], expected[5], **tolerance)  # both biases get the same gradient


def test_rnn_bptt_without_biases_in_the_forward_pass():
    args, expected = autograd_bptt(2, 4, 3, 2, torch.float64, seed=3, bias=False)
    for ours, theirs in zip(rnn_bptt(*args), expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_rnn_bptt_leaves_its_inputs_alone():
    args, _ = autograd_bptt(2, 3, 2, 2, torch.float64, seed=4)
    copies = [a.clone() for a in args]
    rnn_bptt(*args)
    assert all(torch.equal(a, c) for a, c in zip(args, copies))


def test_rnn_bptt_rejects_inconsistent_shapes():
    args, _ = autograd_bptt(2, 3, 2, 4, torch.float64, seed=5)
    with pytest.raises(ValueError, match="outputs"):
        rnn_bptt(args[0], args[1], args[2], args[3][:, :2], args[4], args[5])
    with pytest.raises(ValueError, match="weight_ih"):
        rnn_bptt(*args[:4], args[4].T, args[5])


# ----------------------------------------------------------------------------- numerical_gradient


class Counted:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def smooth(x):
    return (torch.sin(x) * x.pow(2)).sum() + torch.logsumexp(x.reshape(-1), dim=0)


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (2, 1, 3)])
def test_numerical_gradient_agrees_with_autograd_in_float64(shape):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(len(shape)))
    before = x.clone()
    f = Counted(smooth)
    got = numerical_gradient(f, x)
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(smooth(leaf), leaf)
    assert got.shape == x.shape and got.dtype == x.dtype
    torch.testing.assert_close(got, expected, rtol=1e-7, atol=1e-8)
    assert torch.equal(x, before) and f.calls == 2 * x.numel()


def test_numerical_gradient_error_falls_with_eps_squared():
    """For a cubic the central difference is off by exactly eps^2 f'''/6: halving eps quarters it."""
    x = torch.tensor([0.3, -1.2], dtype=torch.float64)

    def cubic(y):
        return float((2 * y.pow(3)).sum())

    exact = 6 * x.pow(2)
    errors = [(numerical_gradient(cubic, x, eps) - exact).abs() for eps in (1e-2, 5e-3)]
    torch.testing.assert_close(errors[0], torch.full_like(x, 1e-4 * 12 / 6), rtol=1e-6, atol=0)
    torch.testing.assert_close(errors[0] / errors[1], torch.full_like(x, 4.0), rtol=1e-5, atol=0)


def test_numerical_gradient_accepts_python_floats_non_contiguous_x_and_float32():
    x = torch.randn(3, 2, dtype=torch.float64).T  # not contiguous
    got = numerical_gradient(lambda y: float(y.pow(2).sum()), x, 1e-4)
    torch.testing.assert_close(got, 2 * x, rtol=1e-8, atol=1e-10)
    x32 = torch.tensor([0.5, 2.0])
    got32 = numerical_gradient(lambda y: y.pow(2).sum(), x32, 1e-2)
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32, 2 * x32, rtol=1e-3, atol=1e-3)


def test_numerical_gradient_of_rnn_bptt_loss_agrees_with_the_backward_pass():
    """The notebook's use: check a backward pass by hand with central differences."""
    (grad_outputs, x, h0, _, weight_ih, weight_hh), _ = autograd_bptt(2, 4, 3, 2, torch.float64, seed=6, bias=False)

    def loss(w_hh):
        h, total = h0, 0.0
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ weight_ih.T + h @ w_hh.T)
            total = total + (grad_outputs[:, t] * h).sum()
        return total

    states, h = [], h0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ weight_ih.T + h @ weight_hh.T)
        states.append(h)
    by_hand = rnn_bptt(grad_outputs, x, h0, torch.stack(states, dim=1), weight_ih, weight_hh)[3]
    torch.testing.assert_close(numerical_gradient(loss, weight_hh), by_hand, rtol=1e-7, atol=1e-8)


# ----------------------------------------------------------------------------- adaptive_clip_grad_


def clipped_by_loops(weight, grad, clipping, eps):
    """AGC unit by unit with Python floats: (the clipped gradient, number of clipped units)."""
    weight, grad = weight.double(), grad.double().clone()
    units = [()] if weight.dim() < 2 else [(i,) for i in range(weight.shape[0])]
    clipped = 0
    for unit in units:
        w_norm = math.sqrt(float((weight[unit] ** 2).sum()))
        g_norm = math.sqrt(float((grad[unit] ** 2).sum()))
        limit = clipping * max(w_norm, eps)
        if g_norm > limit:
            grad[unit] = grad[unit] * (limit / max(g_norm, 1e-6))
            clipped += 1
    return grad, clipped


def parameters(shapes, scales, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for shape, scale in zip(shapes, scales):
        p = nn.Parameter(torch.randn(shape, dtype=dtype, generator=gen))
        p.grad = None if scale is None else scale * torch.randn(shape, dtype=dtype, generator=gen)
        params.append(p)
    return params


CLIP_CASES = [([(4, 3), (4,)], [2.0, 0.01], 0.1, 1e-3), ([(2, 3, 2, 2), ()], [1.0, 5.0], 0.3, 1e-2),
              ([(5, 1), (3,)], [0.5, None], 1.0, 1e-3), ([(3, 3)], [1e-4], 0.01, 1e-3)]


@pytest.mark.parametrize("shapes, scales, clipping, eps", CLIP_CASES)
@pytest.mark.parametrize("how", ["list", "generator"])
def test_adaptive_clip_grad_agrees_with_unit_by_unit_loops(shapes, scales, clipping, eps, how):
    params = parameters(shapes, scales, seed=len(shapes))
    values = [p.detach().clone() for p in params]
    expected = [None if p.grad is None else clipped_by_loops(p.detach(), p.grad, clipping, eps) for p in params]
    count = adaptive_clip_grad_(iter(params) if how == "generator" else params, clipping, eps)
    assert type(count) is int and count == sum(e[1] for e in expected if e is not None)
    for p, value, e in zip(params, values, expected):
        assert torch.equal(p.detach(), value)
        if e is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, e[0], rtol=1e-12, atol=1e-15)


def test_adaptive_clip_grad_keeps_each_unit_direction_and_bounds_its_ratio():
    (p,) = parameters([(6, 4)], [10.0], seed=1)
    before = p.grad.clone()
    count = adaptive_clip_grad_(p, 0.05)
    ratio = p.grad.norm(dim=1) / p.detach().norm(dim=1)
    assert count == 6 and bool((ratio <= 0.05 * (1 + 1e-12)).all())
    cosine = nn.functional.cosine_similarity(before, p.grad, dim=1)
    torch.testing.assert_close(cosine, torch.ones(6, dtype=torch.float64))


def test_adaptive_clip_grad_floors_zero_weights_at_eps_and_rejects_non_positive_clipping():
    bias = nn.Parameter(torch.zeros(3))
    bias.grad = torch.tensor([3.0, 0.0, 4.0])
    assert adaptive_clip_grad_([bias], 0.5, eps=0.1) == 1
    torch.testing.assert_close(bias.grad, torch.tensor([0.03, 0.0, 0.04]))
    for clipping in (0.0, -1.0):
        with pytest.raises(ValueError, match="clipping"):
            adaptive_clip_grad_([bias], clipping)


# ------------------------------------------------------------------ masked_temporal_activation_regularization


def masked_tar_by_loops(states, lengths, beta):
    total, count = 0.0, 0
    for b, length in enumerate(lengths.tolist()):
        for t, j in itertools.product(range(length - 1), range(states.shape[2])):
            total += float(states[b, t + 1, j] - states[b, t, j]) ** 2
            count += 1
    return beta * total / count if count else 0.0


@pytest.mark.parametrize("lengths", [[5, 5, 5], [5, 2, 1], [1, 1, 1], [3, 5, 4]])
def test_masked_tar_agrees_with_a_loop_over_the_real_pairs(lengths):
    states = torch.randn(3, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(sum(lengths)))
    lengths = torch.tensor(lengths)
    got = masked_temporal_activation_regularization(states, lengths, 0.7)
    assert got.dim() == 0 and got.dtype == torch.float64
    assert got.item() == pytest.approx(masked_tar_by_loops(states, lengths, 0.7), rel=1e-12, abs=1e-15)


def test_masked_tar_with_full_rows_is_the_chapters_tar():
    states = torch.randn(2, 6, 3)
    got = masked_temporal_activation_regularization(states, torch.tensor([6, 6]), 2.0)
    torch.testing.assert_close(got, temporal_activation_regularization(states, 2.0))


def test_masked_tar_ignores_the_padding_and_sends_it_no_gradient():
    states = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 5])
    penalty = masked_temporal_activation_regularization(states, lengths, 1.0)
    (gradient,) = torch.autograd.grad(penalty, states)
    assert bool((gradient[0, 3:] == 0).all()) and bool((gradient[0, :3] != 0).any())
    repadded = states.detach().clone()
    repadded[0, 3:] = 100.0
    torch.testing.assert_close(masked_temporal_activation_regularization(repadded, lengths, 1.0), penalty.detach())


def test_masked_tar_is_a_differentiable_zero_without_real_pairs():
    states = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    penalty = masked_temporal_activation_regularization(states, torch.ones(3, dtype=torch.int64), 1.0)
    assert penalty.item() == 0.0 and penalty.dtype == torch.float64 and penalty.requires_grad
    (gradient,) = torch.autograd.grad(penalty, states)
    assert bool((gradient == 0).all())


@pytest.mark.parametrize("lengths", [[0, 2], [5, 2], [2, 2, 2], [2.0, 2.0]])
def test_masked_tar_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError, match="length"):
        masked_temporal_activation_regularization(torch.randn(2, 4, 3), torch.tensor(lengths), 1.0)
