"""Vanilla RNN, LSTM and GRU cells and forward passes, written out in plain torch.

Conventions (identical to ``torch.nn.RNN/LSTM/GRU`` with ``batch_first=True``, so
their parameters plug straight in):

* ``x`` is ``(B, D)`` for a cell and ``(B, T, D)`` for a forward pass.
* States ``h`` and ``c`` are ``(B, H)``; ``None`` means a zero state.
* ``weight_ih`` is ``(G*H, D)`` and ``weight_hh`` is ``(G*H, H)``, where G is the
  number of gates: 1 for the RNN, 4 for the LSTM (order i, f, g, o), 3 for the GRU
  (order r, z, n). The biases ``bias_ih`` and ``bias_hh`` are ``(G*H,)`` and optional.
* A forward pass returns ``outputs`` of shape ``(B, T, H)``: the hidden state after
  every step.

Every function works in float32 and float64 and is differentiable by autograd.
"""

import torch
from torch import Tensor

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def _affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x @ weight.T + bias, the layout of ``torch.nn.Linear``."""
    out = x @ weight.T
    return out if bias is None else out + bias


def _zero_state(x: Tensor, weight_hh: Tensor) -> Tensor:
    """A ``(B, H)`` zero state matching ``x``'s batch size, dtype and device."""
    return x.new_zeros(x.shape[0], weight_hh.shape[1])


def _check_step(x: Tensor) -> None:
    if x.dim() != 2:
        raise ValueError(f"expected x of shape (B, D) for one step, got {tuple(x.shape)}")


def _check_sequence(x: Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (B, T, D), got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError("expected at least one time step (T >= 1)")


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One step of a vanilla (Elman) RNN.

    h_next = act(x @ W_ih^T + b_ih + h @ W_hh^T + b_hh),   act = tanh or relu

    Args:
        x: ``(B, D)`` input at this step.
        h: ``(B, H)`` previous hidden state, or ``None`` for zeros.
        weight_ih: ``(H, D)``. weight_hh: ``(H, H)``. bias_ih, bias_hh: ``(H,)`` or ``None``.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Returns:
        ``(B, H)`` next hidden state.
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    _check_step(x)
    if h is None:
        h = _zero_state(x, weight_hh)
    pre_activation = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    return _NONLINEARITIES[nonlinearity](pre_activation)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """Run :func:`rnn_cell` over a sequence.

    Args:
        x: ``(B, T, D)`` input sequence (batch first).
        h0: ``(B, H)`` initial hidden state, or ``None`` for zeros.
        weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity: as in :func:`rnn_cell`.

    Returns:
        ``(outputs, h_n)``: ``outputs`` is ``(B, T, H)`` with h_1 ... h_T,
        ``h_n`` is ``(B, H)``, the state after the last step.
    """
    _check_sequence(x)
    h = h0
    outputs = []
    for t in range(x.shape[1]):
        h = rnn_cell(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


def lstm_gates(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The four LSTM gate activations for one step, in PyTorch's order i, f, g, o.

    [a_i, a_f, a_g, a_o] = x @ W_ih^T + b_ih + h @ W_hh^T + b_hh   (split into 4 blocks of H)
    i = sigmoid(a_i)   input gate: how much of the candidate to write
    f = sigmoid(a_f)   forget gate: how much of the old cell state to keep
    g = tanh(a_g)      candidate values to write
    o = sigmoid(a_o)   output gate: how much of the cell state to expose as h

    Args:
        x: ``(B, D)``. state: ``(h, c)``, each ``(B, H)``, or ``None`` for zeros.
        weight_ih: ``(4H, D)``. weight_hh: ``(4H, H)``. bias_ih, bias_hh: ``(4H,)`` or ``None``.

    Returns:
        ``(i, f, g, o)``, each ``(B, H)``.
    """
    _check_step(x)
    h = _zero_state(x, weight_hh) if state is None else state[0]
    pre_activation = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    a_i, a_f, a_g, a_o = pre_activation.chunk(4, dim=1)
    return torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of an LSTM (Hochreiter & Schmidhuber 1997, with a forget gate).

    i, f, g, o = lstm_gates(...)
    c_next = f * c + i * g          the cell state: an additive, gated memory
    h_next = o * tanh(c_next)       the hidden state: what the cell exposes this step

    Args:
        x: ``(B, D)``. state: ``(h, c)``, each ``(B, H)``, or ``None`` for zeros.
        weight_ih: ``(4H, D)``. weight_hh: ``(4H, H)``. bias_ih, bias_hh: ``(4H,)`` or ``None``.

    Returns:
        ``(h_next, c_next)``, each ``(B, H)``.
    """
    c = _zero_state(x, weight_hh) if state is None else state[1]
    i, f, g, o = lstm_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    c_next = f * c + i * g
    h_next = o * torch.tanh(c_next)
    return h_next, c_next


def lstm_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Run :func:`lstm_cell` over a sequence.

    Args:
        x: ``(B, T, D)``. state: ``(h0, c0)``, each ``(B, H)``, or ``None`` for zeros.
        weight_ih, weight_hh, bias_ih, bias_hh: as in :func:`lstm_cell`.

    Returns:
        ``(outputs, (h_n, c_n))``: ``outputs`` is ``(B, T, H)`` (the hidden states
        h_1 ... h_T, not the cell states); ``h_n`` and ``c_n`` are ``(B, H)``.
    """
    _check_sequence(x)
    outputs = []
    for t in range(x.shape[1]):
        state = lstm_cell(x[:, t], state, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(state[0])
    return torch.stack(outputs, dim=1), state


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of a GRU (Cho et al. 2014) in PyTorch's formulation.

    [x_r, x_z, x_n] = x @ W_ih^T + b_ih        (3 blocks of H, order r, z, n)
    [h_r, h_z, h_n] = h @ W_hh^T + b_hh
    r = sigmoid(x_r + h_r)                   reset gate
    z = sigmoid(x_z + h_z)                   update gate: how much of the old state to keep
    n = tanh(x_n + r * h_n)                  candidate; note b_hn sits inside r * (...)
    h_next = (1 - z) * n + z * h

    Args:
        x: ``(B, D)``. h: ``(B, H)`` or ``None`` for zeros.
        weight_ih: ``(3H, D)``. weight_hh: ``(3H, H)``. bias_ih, bias_hh: ``(3H,)`` or ``None``.

    Returns:
        ``(B, H)`` next hidden state.
    """
    _check_step(x)
    if h is None:
        h = _zero_state(x, weight_hh)
    x_r, x_z, x_n = _affine(x, weight_ih, bias_ih).chunk(3, dim=1)
    h_r, h_z, h_n = _affine(h, weight_hh, bias_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Run :func:`gru_cell` over a sequence.

    Args:
        x: ``(B, T, D)``. h0: ``(B, H)`` or ``None`` for zeros.
        weight_ih, weight_hh, bias_ih, bias_hh: as in :func:`gru_cell`.

    Returns:
        ``(outputs, h_n)``: ``outputs`` is ``(B, T, H)``, ``h_n`` is ``(B, H)``.
    """
    _check_sequence(x)
    h = h0
    outputs = []
    for t in range(x.shape[1]):
        h = gru_cell(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


def lstm_trace(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Run an LSTM over a sequence and keep everything it computed, for inspection.

    Same arguments as :func:`lstm_forward`. Returns a dict of ``(B, T, H)`` tensors:
    ``h`` and ``c`` (the hidden and cell state after each step) and the gate
    activations ``i``, ``f``, ``g``, ``o`` of each step.
    """
    _check_sequence(x)
    if state is None:
        zeros = _zero_state(x[:, 0], weight_hh)
        state = (zeros, zeros)
    h, c = state
    trace = {name: [] for name in ("h", "c", "i", "f", "g", "o")}
    for t in range(x.shape[1]):
        i, f, g, o = lstm_gates(x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(("h", "c", "i", "f", "g", "o"), (h, c, i, f, g, o)):
            trace[name].append(value)
    return {name: torch.stack(values, dim=1) for name, values in trace.items()}
