"""Stateful processing of long streams: carrying the state across calls, truncated BPTT.

A *stateless* model starts every call from h_0 = 0. A *stateful* one starts each call
where the previous call ended, so a stream cut into chunks is processed as if it were
one long sequence. Gradients, however, must stop at each chunk boundary (truncated
backpropagation through time): the carried state is detached at the start of every
call, otherwise each backward pass would reach back through every chunk ever seen and
the autograd graph, and the memory it holds, would grow without bound.
"""

import torch
from torch import nn

from .initial_state import recurrent_module


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):  # LSTM: (h, c)
        return tuple(s.detach() for s in state)
    return state.detach()


def _zero_rows(state, rows):
    """Copy of ``state`` with the given batch rows set to 0 (no in-place change)."""
    if isinstance(state, tuple):
        return tuple(_zero_rows(s, rows) for s in state)
    keep = torch.ones(state.shape[1], 1, dtype=state.dtype, device=state.device)
    keep[rows] = 0
    return state * keep


class StatefulRNN(nn.Module):
    """A recurrent layer that remembers its final state between calls.

    Args:
        input_size: D. hidden_size: H.
        output_size: if given, a linear readout maps each state to this many outputs.
        mode: ``"RNN"``, ``"LSTM"`` or ``"GRU"``.

    Attributes:
        rnn: the batch-first ``torch.nn`` recurrent module.
        state: the carried state, ``(1, B, H)`` (a pair for an LSTM), or ``None``
            before the first call and after :meth:`reset_state`.
    """

    def __init__(self, input_size, hidden_size, output_size=None, mode="RNN"):
        super().__init__()
        self.rnn = recurrent_module(mode, input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size) if output_size else None
        self.state = None

    def forward(self, x):
        """x: ``(B, T, D)``, continuing the streams of the previous call row by row.

        Returns ``(B, T, H)`` states, or ``(B, T, output_size)`` with a readout.
        Gradients flow within this call only: the incoming state is detached.
        """
        outputs, self.state = self.rnn(x, _detach(self.state))
        return outputs if self.readout is None else self.readout(outputs)

    def reset_state(self, rows=None):
        """Forget the carried state: all of it (``rows=None``), or only the given batch rows.

        Call it at a document boundary, so the next document does not start from the
        end of an unrelated one. ``rows`` is a list of indices or a boolean ``(B,)`` mask.
        """
        if rows is None or self.state is None:
            self.state = None
        else:
            self.state = _zero_rows(_detach(self.state), rows)


def batchify_stream(stream, batch_size):
    """Lay one long stream out as ``batch_size`` parallel streams.

    The stream is cut into ``batch_size`` contiguous pieces (the tail that does not
    fit is dropped) and piece b becomes row b. Chunks taken left to right along time
    then continue each row's own piece, which is what a stateful model needs.

    Args:
        stream: ``(N, *)``, e.g. ``(N,)`` token ids or ``(N, D)`` features.

    Returns:
        ``(batch_size, N // batch_size, *)``; row b holds
        ``stream[b * L : (b + 1) * L]`` with ``L = N // batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    length = stream.shape[0] // batch_size
    if length == 0:
        raise ValueError(f"a stream of {stream.shape[0]} steps cannot fill {batch_size} rows")
    return stream[: batch_size * length].reshape(batch_size, length, *stream.shape[1:])


def chunk_sequence(x, chunk_length):
    """Split ``(B, T, *)`` along time into consecutive chunks of ``chunk_length`` steps.

    Returns a tuple of ``(B, chunk_length, *)`` views; the last may be shorter.
    """
    if chunk_length < 1:
        raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
    return torch.split(x, chunk_length, dim=1)


def tbptt_step(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
    """One truncated-BPTT update on one chunk of a stream.

    The model carries its state in from the previous chunk (detached, see
    :class:`StatefulRNN`), so the gradient covers this chunk only.

    Args:
        model: a stateful module, e.g. :class:`StatefulRNN` with a readout.
        optimizer: a ``torch.optim`` optimizer over ``model``'s parameters.
        inputs: ``(B, T, D)`` chunk. targets: what ``loss_fn(model(inputs), targets)`` expects.
        max_grad_norm: if given, clip the gradient norm to it before the step.

    Returns:
        The chunk's loss as a Python float.
    """
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()
