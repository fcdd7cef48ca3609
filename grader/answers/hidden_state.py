"""The answers of assignment 01, the hidden state: the step after the chapter's single-layer RNN.

* ``stacked_rnn_forward``: L layers, as ``nn.RNN(D, H, num_layers=L, batch_first=True)``;
* ``bidirectional_rnn_forward``: one layer read in both directions, as ``nn.RNN(..., bidirectional=True)``;
* ``masked_rnn_forward``: a padded batch of sequences of different lengths, as packed sequences give;
* ``recurrent_parameter_count``: the size of ``nn.RNN/LSTM/GRU`` with directions and LSTM projections.

Conventions are PyTorch's: batch-first inputs, ``weight_ih (H, D)``, ``weight_hh (H, H)``, two biases
(each ``(H,)`` or ``None``). The known mistakes are in :mod:`.hidden_state_mistakes`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import Answer

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
GATE_BLOCKS = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _activation(nonlinearity):
    if nonlinearity not in ACTIVATIONS:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return ACTIVATIONS[nonlinearity]


def stacked_rnn_forward(x, h0, weights, nonlinearity="tanh"):
    """An L-layer vanilla RNN: layer l reads the outputs of layer l - 1 (layer 1 reads x).

    Args:
        x: (B, T, D). h0: (L, B, H), or None for zeros.
        weights: L tuples (weight_ih (H, D_l), weight_hh (H, H), bias_ih (H,) or None, bias_hh (H,) or None),
            D_1 = D and D_l = H above.
        nonlinearity: "tanh" or "relu", for every layer.

    Returns:
        (outputs (B, T, H) of the top layer, h_n (L, B, H): each layer's state after the last step).
    """
    act = _activation(nonlinearity)
    if len(weights) == 0:
        raise ValueError("weights must hold one tuple per layer, got none")
    if h0 is not None and h0.shape[0] != len(weights):
        raise ValueError(f"h0 must be (L, B, H) with L = {len(weights)} layers, got {tuple(h0.shape)}")
    sequence = x
    finals = []
    for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        # The input term of every step at once; only the recurrent term has to wait for h_{t-1}.
        drive = torch.einsum("btd,hd->bth", sequence, w_ih)
        for bias in (b_ih, b_hh):
            if bias is not None:
                drive = drive + bias
        h = x.new_zeros(x.shape[0], w_hh.shape[0]) if h0 is None else h0[layer]
        states = []
        for t in range(x.shape[1]):
            h = act(drive[:, t] + torch.einsum("bk,hk->bh", h, w_hh))
            states.append(h)
        sequence = torch.stack(states, dim=1)
        finals.append(h)
    return sequence, torch.stack(finals)


def bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    """One bidirectional vanilla RNN layer: a forward pass over x_1 ... x_T and one over x_T ... x_1.

    Args:
        x: (B, T, D). h0: (2, B, H) = [forward initial state, backward initial state], or None for zeros.
        forward_weights, backward_weights: (weight_ih (H, D), weight_hh (H, H), bias_ih or None, bias_hh or None).
        nonlinearity: "tanh" or "relu".

    Returns:
        outputs (B, T, 2H): [forward state after x_t, backward state after reading x_T ... x_t] on the last dim;
        h_n (2, B, H): [forward state after x_T, backward state after x_1].
    """
    act = _activation(nonlinearity)
    steps = x.shape[1]
    halves, finals = [], []
    for direction, (w_ih, w_hh, b_ih, b_hh) in enumerate((forward_weights, backward_weights)):
        h = x.new_zeros(x.shape[0], w_hh.shape[0]) if h0 is None else h0[direction]
        order = range(steps) if direction == 0 else reversed(range(steps))
        by_position = [None] * steps
        for t in order:
            h = act(F.linear(x[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
            by_position[t] = h
        halves.append(torch.stack(by_position, dim=1))
        finals.append(h)
    return torch.cat(halves, dim=2), torch.stack(finals)


def check_lengths(lengths, batch, steps):
    """ValueError unless ``lengths`` is a (B,) integer tensor with every length in 1 ... T."""
    integer = isinstance(lengths, torch.Tensor) and not (lengths.dtype.is_floating_point or lengths.dtype.is_complex
                                                        or lengths.dtype == torch.bool)
    if not integer or lengths.shape != (batch,):
        raise ValueError(f"lengths must be an integer tensor of shape ({batch},), got {lengths!r}")
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"every length must be between 1 and T = {steps}, got {lengths.tolist()}")


def masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A tanh RNN over a padded batch: row b is a sequence of lengths[b] steps, followed by padding.

    Args:
        x: (B, T, D), padded after each row's length. lengths: (B,) int64, each in 1 ... T, any order.
        h0: (B, H) or None for zeros. weight_ih (H, D), weight_hh (H, H), bias_ih, bias_hh (H,) or None.

    Returns:
        outputs (B, T, H): the states for t < lengths[b], exactly 0 after;
        h_n (B, H): each row's state after its own last valid step.
    """
    batch, steps = x.shape[0], x.shape[1]
    check_lengths(lengths, batch, steps)
    valid = torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)
    h = x.new_zeros(batch, weight_hh.shape[0]) if h0 is None else h0
    outputs = []
    for t in range(steps):
        candidate = torch.tanh(F.linear(x[:, t], weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))
        running = valid[:, t, None]
        h = torch.where(running, candidate, h)  # a finished row keeps its last state
        outputs.append(torch.where(running, candidate, torch.zeros_like(candidate)))
    return torch.stack(outputs, dim=1), h


def check_count_arguments(hidden_size, num_layers, mode, proj_size):
    """ValueError for what ``nn.RNN/LSTM/GRU`` refuse: an unknown mode, projections outside 0 ... H - 1 or
    outside the LSTM, fewer than one layer."""
    if mode not in GATE_BLOCKS:
        raise ValueError(f"mode must be one of {sorted(GATE_BLOCKS)}, got {mode!r}")
    if proj_size < 0 or proj_size >= hidden_size:
        raise ValueError(f"proj_size must be 0 (no projection) or between 1 and hidden_size - 1, got {proj_size}")
    if proj_size and mode != "LSTM":
        raise ValueError(f"proj_size is only supported for mode 'LSTM', not {mode!r}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")


def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    """The number of parameters of ``nn.<mode>(input_size, hidden_size, num_layers, bias, bidirectional=...,
    proj_size=...)``, from the shapes PyTorch gives each layer and direction.

    Per layer and direction, with G gate blocks and P = proj_size (or H without projections):
    weight_ih (G*H, D_l), weight_hh (G*H, P), bias_ih and bias_hh (G*H,) with ``bias``, and with
    projections weight_hr (P, H). D_1 = input_size; above, D_l = P times the number of directions.

    Returns:
        A Python int.
    """
    check_count_arguments(hidden_size, num_layers, mode, proj_size)
    rows = GATE_BLOCKS[mode] * hidden_size
    handed_on = proj_size or hidden_size  # what each direction passes up and back to itself
    directions = 2 if bidirectional else 1
    shapes = []
    for layer in range(num_layers):
        reads = input_size if layer == 0 else directions * handed_on
        per_direction = [(rows, reads), (rows, handed_on)]
        if bias:
            per_direction += [(rows,), (rows,)]
        if proj_size:
            per_direction.append((proj_size, hidden_size))
        shapes += per_direction * directions
    return sum(math.prod(shape) for shape in shapes)


def _answers():
    from . import hidden_state_mistakes as mistakes

    return {
        "stacked_rnn_forward": Answer(stacked_rnn_forward, mistakes.STACKED),
        "bidirectional_rnn_forward": Answer(bidirectional_rnn_forward, mistakes.BIDIRECTIONAL),
        "masked_rnn_forward": Answer(masked_rnn_forward, mistakes.MASKED),
        "recurrent_parameter_count": Answer(recurrent_parameter_count, mistakes.COUNT),
    }


ANSWERS = _answers()
