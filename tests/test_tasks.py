"""Generated toy tasks and the small trainer (``grader.reference.tasks``)."""

import numpy as np
import pytest
import torch
from torch import nn

from grader.reference import LastStepRegressor, adding_problem, copy_task, train_adding_problem

ADDING_BASELINE = 1 / 6  # Var(U1 + U2) for two independent U(0, 1): the MSE of always guessing 1


# ----------------------------------------------------------------------------- adding problem


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("batch_size, length", [(1, 2), (5, 3), (16, 10), (8, 51)])
def test_adding_problem_layout(batch_size, length, dtype):
    generator = torch.Generator().manual_seed(7)
    inputs, targets = adding_problem(batch_size, length, generator=generator, dtype=dtype)
    assert inputs.shape == (batch_size, length, 2) and targets.shape == (batch_size, 1)
    assert inputs.dtype == dtype and targets.dtype == dtype

    values, markers = inputs[..., 0].numpy(), inputs[..., 1].numpy()
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = length // 2
    for row_values, row_markers, target in zip(values, markers, targets.numpy()):
        marked = np.flatnonzero(row_markers)
        assert len(marked) == 2
        assert marked[0] < half <= marked[1]  # one in each half
        assert target[0] == pytest.approx(row_values[marked[0]] + row_values[marked[1]], abs=1e-6)


def test_adding_problem_is_reproducible_with_a_generator():
    first = adding_problem(4, 12, generator=torch.Generator().manual_seed(3))
    again = adding_problem(4, 12, generator=torch.Generator().manual_seed(3))
    other = adding_problem(4, 12, generator=torch.Generator().manual_seed(4))
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first[0], other[0])


def test_adding_problem_baseline_is_one_sixth():
    _, targets = adding_problem(20000, 10, generator=torch.Generator().manual_seed(0))
    always_one = nn.functional.mse_loss(torch.ones_like(targets), targets).item()
    assert always_one == pytest.approx(ADDING_BASELINE, abs=0.01)


def test_adding_problem_rejects_short_sequences():
    with pytest.raises(ValueError, match="length >= 2"):
        adding_problem(3, 1)


# ----------------------------------------------------------------------------- copy task


@pytest.mark.parametrize("num_items, delay, num_symbols", [(3, 1, 8), (5, 4, 8), (1, 10, 3)])
def test_copy_task_layout(num_items, delay, num_symbols):
    inputs, targets = copy_task(6, num_items, delay, num_symbols, generator=torch.Generator().manual_seed(2))
    total = 2 * num_items + delay
    blank, go = num_symbols, num_symbols + 1
    assert inputs.shape == (6, total, num_symbols + 2) and inputs.dtype == torch.float32
    assert targets.shape == (6, total) and targets.dtype == torch.long

    # Inputs are one-hot; read them back as tokens.
    assert torch.all((inputs == 0) | (inputs == 1)) and torch.all(inputs.sum(-1) == 1)
    tokens = inputs.argmax(-1)
    items = tokens[:, :num_items]
    assert torch.all(items < num_symbols)
    assert torch.all(tokens[:, num_items : num_items + delay - 1] == blank)
    assert torch.all(tokens[:, num_items + delay - 1] == go)
    assert torch.all(tokens[:, num_items + delay :] == blank)

    assert torch.all(targets[:, : num_items + delay] == blank)
    assert torch.equal(targets[:, num_items + delay :], items)


def test_copy_task_rejects_zero_delay():
    with pytest.raises(ValueError, match="delay >= 1"):
        copy_task(2, 3, 0)


# ----------------------------------------------------------------------------- model and trainer


@pytest.mark.parametrize("output_size", [1, 3])
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_last_step_regressor_reads_out_the_last_state(mode, output_size):
    model = LastStepRegressor(mode, input_size=2, hidden_size=5, output_size=output_size)
    x = torch.randn(4, 7, 2)
    outputs, _ = model.rnn(x)
    expected = nn.functional.linear(outputs[:, -1], model.readout.weight, model.readout.bias)
    prediction = model(x)
    assert prediction.shape == (4, output_size)
    torch.testing.assert_close(prediction, expected)


def test_train_adding_problem_returns_reproducible_losses():
    first, second = LastStepRegressor("GRU", 2, 8), LastStepRegressor("GRU", 2, 8)
    second.load_state_dict(first.state_dict())
    losses = train_adding_problem(first, length=6, steps=5, batch_size=8, seed=1)
    again = train_adding_problem(second, length=6, steps=5, batch_size=8, seed=1)
    assert len(losses) == 5 and all(isinstance(loss, float) for loss in losses)
    assert losses == again


def test_lstm_learns_the_adding_problem():
    torch.manual_seed(0)
    model = LastStepRegressor("LSTM", input_size=2, hidden_size=32)
    losses = train_adding_problem(model, length=20, steps=500, seed=0)
    final_loss = sum(losses[-20:]) / 20
    assert final_loss < 0.3 * ADDING_BASELINE
