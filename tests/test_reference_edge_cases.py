"""Inputs at the edge of each reference function's domain get a clear ValueError, not a wrong answer."""

import pytest
import torch

from grader import reference as ref


@pytest.mark.parametrize("cell, weights", [
    (ref.rnn_cell, (torch.randn(4, 3), torch.randn(4, 4))),
    (ref.lstm_cell, (torch.randn(16, 3), torch.randn(16, 4))),
    (ref.gru_cell, (torch.randn(12, 3), torch.randn(12, 4))),
])
@pytest.mark.parametrize("shape", [(3,), (2, 1, 3)])
def test_cells_reject_inputs_that_are_not_one_step(cell, weights, shape):
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        cell(torch.randn(*shape), None, *weights)


def test_batchify_rejects_a_batch_of_zero_rows():
    with pytest.raises(ValueError, match="batch_size"):
        ref.batchify_stream(torch.arange(5), 0)


def test_copy_task_rejects_zero_items():
    with pytest.raises(ValueError, match="num_items"):
        ref.copy_task(2, 0, 3)


def test_negative_spectral_radius_is_rejected():
    with pytest.raises(ValueError, match="radius"):
        ref.scale_to_spectral_radius(torch.randn(3, 3), -0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_distances_have_finite_gradients_and_an_exact_zero_diagonal(dtype):
    states = torch.randn(30, 5, dtype=dtype, requires_grad=True)
    distances = ref.pairwise_distances(states)
    assert torch.equal(distances.diagonal(), torch.zeros(30, dtype=dtype))
    distances.sum().backward()
    assert torch.isfinite(states.grad).all()
    # d/ds_i of sum_j ||s_i - s_j|| (counted twice, rows and columns) is 2 * sum of unit vectors
    differences = states.detach()[:, None] - states.detach()[None]
    norms = differences.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    expected = 2 * (differences / norms).sum(dim=1)
    torch.testing.assert_close(states.grad, expected)
