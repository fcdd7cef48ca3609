"""Initializations of the recurrent weights W_hh, and the spectral radius that governs them.

The spectral radius rho(W) = max |lambda_i(W)| is the growth factor of the linear part
of the recurrence h_t = W h_{t-1}: over k steps a state is multiplied by about rho^k.
Below 1 signals fade, above 1 they can grow (until tanh saturates).

Weights use PyTorch's layout: ``weight_hh`` is ``(G*H, H)`` with G gate blocks stacked
along the first dimension (G = 1 RNN, 4 LSTM in order i, f, g, o, 3 GRU in order r, z, n).
Functions ending in ``_`` modify their argument in place under ``torch.no_grad()`` and
return it, like ``torch.nn.init``.
"""

import torch
from torch import nn

LSTM_FORGET_GATE = 1  # index of f in PyTorch's gate order (i, f, g, o)


def spectral_radius(weight):
    """rho(W) = max_i |lambda_i|, the largest eigenvalue magnitude of a square matrix.

    Args:
        weight: ``(H, H)``.

    Returns:
        A 0-dim tensor in ``weight``'s real dtype (not differentiable).
    """
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"spectral radius needs a square matrix, got shape {tuple(weight.shape)}")
    return torch.linalg.eigvals(weight.detach()).abs().max()


def scale_to_spectral_radius(weight, radius):
    """Return W * (radius / rho(W)), a copy of ``weight`` whose spectral radius is ``radius``.

    Args:
        weight: ``(H, H)`` with a nonzero spectral radius.
        radius: the target spectral radius, >= 0.

    Returns:
        A new ``(H, H)`` tensor; ``weight`` is unchanged.
    """
    if radius < 0:
        raise ValueError(f"the spectral radius is a magnitude: radius must be >= 0, got {radius}")
    current = spectral_radius(weight)
    if current == 0:
        raise ValueError("cannot rescale a matrix whose spectral radius is 0 (e.g. all zeros)")
    return weight * (radius / current)


def identity_init_(weight_hh, gain=1.0):
    """IRNN initialization (Le et al. 2015): W_hh = gain * I.

    With ReLU units and zero biases the state is copied forward unchanged until the
    inputs move it, so gradients neither vanish nor explode at the start of training.
    Pair it with ``nn.RNN(..., nonlinearity="relu")`` and zero biases (see :func:`irnn`).

    Args:
        weight_hh: ``(H, H)``, modified in place.
    """
    if weight_hh.dim() != 2 or weight_hh.shape[0] != weight_hh.shape[1]:
        raise ValueError(f"identity init needs a square (H, H) matrix, got {tuple(weight_hh.shape)}")
    with torch.no_grad():
        weight_hh.copy_(gain * torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype))
    return weight_hh


def orthogonal_init_(weight_hh, gain=1.0):
    """Orthogonal W_hh, one orthogonal ``(H, H)`` block per gate.

    An orthogonal matrix preserves vector norms, so every eigenvalue has magnitude 1
    (times ``gain``): the linear part of the recurrence neither shrinks nor blows up states.

    Args:
        weight_hh: ``(G*H, H)``, modified in place.
    """
    hidden_size = weight_hh.shape[1]
    if weight_hh.shape[0] % hidden_size:
        raise ValueError(f"expected a (G*H, H) matrix, got {tuple(weight_hh.shape)}")
    with torch.no_grad():
        for block in weight_hh.split(hidden_size, dim=0):
            nn.init.orthogonal_(block, gain=gain)
    return weight_hh


def forget_gate_bias_init_(lstm, value=1.0):
    """Start every LSTM forget gate open (Jozefowicz et al. 2015): b_f = ``value``.

    PyTorch adds ``bias_ih`` and ``bias_hh``, so the forget block of ``bias_ih`` is set
    to ``value`` and that of ``bias_hh`` to 0, making the total forget bias ``value`` in
    every layer. With b_f = 1, f starts near sigmoid(1) = 0.73 instead of 0.5.

    Args:
        lstm: an ``nn.LSTM`` or ``nn.LSTMCell`` with biases, modified in place.
    """
    hidden_size = lstm.hidden_size
    forget = slice(LSTM_FORGET_GATE * hidden_size, (LSTM_FORGET_GATE + 1) * hidden_size)
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[forget] = value
            elif name.startswith("bias_hh"):
                param[forget] = 0.0
    return lstm


def irnn(input_size, hidden_size, gain=1.0):
    """A batch-first ReLU ``nn.RNN`` set up as an IRNN: W_hh = gain * I, zero biases."""
    rnn = nn.RNN(input_size, hidden_size, nonlinearity="relu", batch_first=True)
    identity_init_(rnn.weight_hh_l0, gain)
    with torch.no_grad():
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    return rnn


def random_recurrent_weight(hidden_size, radius, *, generator=None, dtype=torch.float32):
    """A Gaussian ``(H, H)`` matrix rescaled to spectral radius ``radius``."""
    weight = torch.randn(hidden_size, hidden_size, generator=generator, dtype=dtype)
    return scale_to_spectral_radius(weight, radius)
