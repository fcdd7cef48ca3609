"""Measuring what a recurrent network remembers, and keeping its gradients healthy.

Conventions: a sequence of hidden states is ``(B, T, H)`` (batch first) or ``(T, H)``
for a single sequence, as noted per function.
"""

import math

import torch


def rnn_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN"):
    """Number of parameters of ``nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bias)``.

    Each layer has G gate blocks (1 RNN, 4 LSTM, 3 GRU), each with an input matrix
    (H x D, where D is input_size for layer 0 and H above it), a recurrent matrix
    (H x H, the H^2 term that dominates for large H) and, with ``bias``, two H-vectors.

    count = sum over layers of G * (H * D_layer + H * H + 2 * H * bias)
    """
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}
    if mode not in gates:
        raise ValueError(f"mode must be one of {sorted(gates)}, got {mode!r}")
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size
        per_gate = hidden_size * layer_input + hidden_size * hidden_size + 2 * hidden_size * bias
        total += gates[mode] * per_gate
    return total


def pairwise_distances(states):
    """Euclidean distance between every pair of hidden states of one sequence.

    Args:
        states: ``(T, H)``.

    Returns:
        ``(T, T)`` with ``D[s, t] = ||h_s - h_t||_2``; symmetric, zero on the diagonal.
        Differentiable (the gradient of a zero distance is taken as 0).
    """
    if states.dim() != 2:
        raise ValueError(f"expected states of shape (T, H), got {tuple(states.shape)}")
    # The direct method is exact; the default matrix-product shortcut leaves rounding
    # noise of ~1e-4 on the diagonal in float32.
    return torch.cdist(states, states, compute_mode="donot_use_mm_for_euclid_dist")


def forget_gate_retention(forget_gates):
    """How much of c_0 reaches step T along the cell-state path: prod_t f_t.

    Along the cell path alone, c_T = f_T * ... * f_1 * c_0 + (terms written later),
    so the elementwise product of the forget gates is the share of c_0 still in c_T,
    and also the factor d c_T / d c_0 on that path.

    Args:
        forget_gates: ``(B, T, H)`` forget-gate activations in (0, 1).

    Returns:
        ``(B, H)``.
    """
    return forget_gates.prod(dim=1)


def rnn_step_jacobians(outputs, weight_hh):
    """Jacobians d h_t / d h_{t-1} of a tanh RNN: diag(1 - h_t^2) @ W_hh.

    The gradient reaching h_s from step t is the product of these matrices for
    s < k <= t, which is why it vanishes or explodes geometrically.

    Args:
        outputs: ``(B, T, H)`` states h_1 ... h_T of a tanh RNN.
        weight_hh: ``(H, H)``.

    Returns:
        ``(B, T, H, H)``.
    """
    return (1 - outputs.pow(2)).unsqueeze(-1) * weight_hh


def input_gradient_norms(forward, x):
    """||dL/dx_t|| for each input step t, with L the sum of the outputs at the last step.

    This measures how strongly the last output still depends on each earlier input:
    the gradient signal that training would send back to step t.

    Args:
        forward: a callable mapping ``(B, T, D)`` to outputs ``(B, T, H)`` (a tuple whose
            first element is the outputs, like ``nn.RNN``'s, is accepted too).
        x: ``(B, T, D)``; each row acts as one trial.

    Returns:
        ``(T,)``: the norm over D of the gradient at each step, averaged over the batch.
    """
    x = x.detach().clone().requires_grad_(True)
    outputs = forward(x)
    if isinstance(outputs, tuple):
        outputs = outputs[0]
    (gradient,) = torch.autograd.grad(outputs[:, -1].sum(), x)
    return gradient.norm(dim=-1).mean(dim=0)


def effective_memory_length(gradient_norms, fraction=0.01):
    """Number of input steps whose gradient norm exceeds ``fraction`` of the largest.

    With the default 1 %, this counts the steps that still influence the last output
    noticeably: the network's effective memory, in steps.

    Args:
        gradient_norms: ``(T,)``, e.g. from :func:`input_gradient_norms`.

    Returns:
        An ``int`` between 1 and T (0 if every norm is 0).
    """
    threshold = fraction * gradient_norms.max()
    return int((gradient_norms > threshold).sum())


def saturation_stats(states, threshold=0.95):
    """How close tanh states are to +-1, where tanh'(a) = 1 - h^2 nearly vanishes.

    Args:
        states: hidden states of any shape, e.g. ``(B, T, H)``.
        threshold: |h| above this counts as saturated.

    Returns:
        dict with ``saturation_rate`` (share of entries with |h| > threshold),
        ``mean_abs`` and ``max_abs`` (mean and max of |h|), all Python floats.
    """
    magnitude = states.detach().abs()
    return {
        "saturation_rate": (magnitude > threshold).float().mean().item(),
        "mean_abs": magnitude.mean().item(),
        "max_abs": magnitude.max().item(),
    }


def activity_regularization(states, alpha):
    """AR (Merity et al. 2017): alpha * mean(h^2) over every entry of ``states``.

    Penalizes large activations, keeping tanh units away from saturation.
    ``states``: ``(B, T, H)``. Returns a 0-dim tensor, differentiable.
    """
    return alpha * states.pow(2).mean()


def temporal_activation_regularization(states, beta):
    """TAR (Merity et al. 2017): beta * mean((h_{t+1} - h_t)^2), over B, T-1 and H.

    Penalizes fast changes of the state from one step to the next.
    ``states``: ``(B, T, H)`` with T >= 2. Returns a 0-dim tensor, differentiable.
    """
    if states.shape[1] < 2:
        raise ValueError("temporal activation regularization needs at least 2 time steps")
    return beta * (states[:, 1:] - states[:, :-1]).pow(2).mean()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Rescale gradients in place so that their joint norm is at most ``max_norm``.

    Same semantics as ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all
    gradients together as if concatenated into one vector, and if it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (total_norm + 1e-6)``.
    Parameters without a gradient are skipped. The direction of the update is kept,
    only its length is capped.

    Args:
        parameters: a tensor or an iterable of tensors.
        max_norm: the largest allowed norm. norm_type: p of the p-norm (``inf`` allowed).

    Returns:
        The total norm before clipping, a 0-dim tensor.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    gradients = [p.grad for p in parameters if p.grad is not None]
    if not gradients:
        return torch.tensor(0.0)
    norm_type = float(norm_type)
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in gradients])
    total_norm = norms.max() if math.isinf(norm_type) else torch.linalg.vector_norm(norms, norm_type)
    clip_coefficient = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for gradient in gradients:
        gradient.mul_(clip_coefficient.to(gradient.dtype))
    return total_norm


def hidden_state_report(states):
    """The numbers behind the debugging table, for a batch of hidden states.

    Args:
        states: ``(B, ...)`` hidden states, batch first (e.g. final states ``(B, H)``).

    Returns:
        dict of Python numbers: ``mean``, ``std``, ``min``, ``max``, ``near_zero``
        (share with |h| < 0.01), ``saturated`` (share with |h| > 0.99), ``nan_count``,
        ``inf_count``, and ``batch_spread``: the largest standard deviation across the
        batch of any unit (about 0 when every sequence gets the same state, a batching bug).
    """
    states = states.detach()
    finite = states[torch.isfinite(states)]
    spread = states.flatten(1).std(dim=0).nan_to_num(0).max().item() if states.shape[0] > 1 else 0.0
    return {
        "mean": finite.mean().item() if finite.numel() else math.nan,
        "std": finite.std().item() if finite.numel() > 1 else math.nan,
        "min": finite.min().item() if finite.numel() else math.nan,
        "max": finite.max().item() if finite.numel() else math.nan,
        "near_zero": (states.abs() < 0.01).float().mean().item(),
        "saturated": (states.abs() > 0.99).float().mean().item(),
        "nan_count": int(states.isnan().sum()),
        "inf_count": int(states.isinf().sum()),
        "batch_spread": spread,
    }
