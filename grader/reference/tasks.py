"""Generated long-range toy tasks, and a small trainer, for comparing RNNs with LSTMs.

All data is generated from a ``torch.Generator``: nothing is downloaded.
"""

import torch
from torch import nn

from .initial_state import recurrent_module


def adding_problem(batch_size, length, *, generator=None, dtype=torch.float32):
    """The adding problem (Hochreiter & Schmidhuber 1997).

    Each step carries two features: a random value in [0, 1) and a marker. Exactly two
    steps are marked, one in the first half and one in the second; the target is the
    sum of the two marked values. Solving it means remembering a value across up to
    ``length`` steps. Always guessing 1.0 gives a mean squared error of about 1/6.

    Returns:
        ``(inputs, targets)``: ``(B, length, 2)`` and ``(B, 1)``.
    """
    if length < 2:
        raise ValueError("the adding problem needs length >= 2")
    values = torch.rand(batch_size, length, generator=generator, dtype=dtype)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, length, dtype=dtype)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1
    markers[rows, second] = 1
    targets = (values * markers).sum(dim=1, keepdim=True)
    return torch.stack([values, markers], dim=-1), targets


def copy_task(batch_size, num_items, delay, num_symbols=8, *, generator=None):
    """The copy task: read ``num_items`` symbols, wait ``delay`` steps, then repeat them.

    Symbols are 0 .. num_symbols-1; two extra tokens mark "blank" (num_symbols) and
    "go" (num_symbols + 1). The input is the items, then ``delay - 1`` blanks, then
    "go", then ``num_items`` blanks. The target is blank everywhere except the last
    ``num_items`` steps, which hold the items.

    Returns:
        ``(inputs, targets)``: one-hot ``(B, T, num_symbols + 2)`` float and class
        indices ``(B, T)`` long, with ``T = 2 * num_items + delay``.
    """
    if num_items < 1 or delay < 1:
        raise ValueError(f"the copy task needs num_items >= 1 and delay >= 1, got {num_items}, {delay}")
    blank, go = num_symbols, num_symbols + 1
    items = torch.randint(0, num_symbols, (batch_size, num_items), generator=generator)
    total = 2 * num_items + delay
    tokens = torch.full((batch_size, total), blank)
    tokens[:, :num_items] = items
    tokens[:, num_items + delay - 1] = go
    targets = torch.full((batch_size, total), blank)
    targets[:, -num_items:] = items
    inputs = nn.functional.one_hot(tokens, num_symbols + 2).float()
    return inputs, targets


class LastStepRegressor(nn.Module):
    """A recurrent layer followed by a linear readout of its final hidden state.

    Args:
        mode: ``"RNN"``, ``"LSTM"`` or ``"GRU"``. input_size: D. hidden_size: H.
        output_size: outputs per sequence.

    ``forward(x)``: ``(B, T, D)`` -> ``(B, output_size)``.
    """

    def __init__(self, mode, input_size, hidden_size, output_size=1):
        super().__init__()
        self.rnn = recurrent_module(mode, input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        outputs, _ = self.rnn(x)
        return self.readout(outputs[:, -1])


def train_adding_problem(model, length, *, steps=300, batch_size=64, lr=1e-2,
                         max_grad_norm=1.0, seed=0):
    """Train ``model`` on freshly generated adding problems with Adam and gradient clipping.

    Returns:
        A list of the training loss (mean squared error) at every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        inputs, targets = adding_problem(batch_size, length, generator=generator)
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses
