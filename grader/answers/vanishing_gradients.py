"""The answers of assignment vanishing_gradients: backpropagation through time by hand, a numerical
gradient, unit-wise adaptive gradient clipping and TAR over a padded batch (instructors only)."""

from __future__ import annotations

import functools

import torch

from grader.checks.core import Mistake

from . import Answer


def variant(wrong, name, explanation, **flags):
    """The mistake ``name``: ``wrong`` (a parametrized near-solution) with the given flags."""
    return Mistake(name, explanation, functools.partial(wrong, **flags))


# ----------------------------------------------------------------------------- rnn_bptt


def _check_bptt_shapes(grad_outputs, x, h0, outputs, weight_ih, weight_hh):
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (B, T, D), got {tuple(x.shape)}")
    B, T, D = x.shape
    H = weight_hh.shape[0]
    expected = {"grad_outputs": (B, T, H), "h0": (B, H), "outputs": (B, T, H), "weight_ih": (H, D),
                "weight_hh": (H, H)}
    given = {"grad_outputs": grad_outputs, "h0": h0, "outputs": outputs, "weight_ih": weight_ih,
             "weight_hh": weight_hh}
    for name, shape in expected.items():
        if tuple(given[name].shape) != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(given[name].shape)}")


def rnn_bptt(grad_outputs, x, h0, outputs, weight_ih, weight_hh):
    """Backpropagation through time by hand for a tanh RNN whose forward states are given.

    Forward (PyTorch's layout): h_t = tanh(x_t @ W_ih^T + b_ih + h_{t-1} @ W_hh^T + b_hh), and
    ``outputs`` holds h_1 ... h_T. The loss is L = sum(outputs * grad_outputs).

    Args:
        grad_outputs: ``(B, T, H)``, dL/dh_t coming straight from the loss at every step.
        x: ``(B, T, D)``. h0: ``(B, H)``. outputs: ``(B, T, H)``.
        weight_ih: ``(H, D)``. weight_hh: ``(H, H)``.

    Returns:
        ``(grad_x (B, T, D), grad_h0 (B, H), grad_weight_ih (H, D), grad_weight_hh (H, H),
        grad_bias (H,))``; grad_bias is the gradient with respect to either bias.
    """
    _check_bptt_shapes(grad_outputs, x, h0, outputs, weight_ih, weight_hh)
    previous = torch.cat([h0.unsqueeze(1), outputs[:, :-1]], dim=1)  # h_0 ... h_{T-1}
    from_later = torch.zeros_like(h0)  # dL/dh_t through step t+1
    grad_pre = [None] * x.shape[1]  # dL/da_t, a_t the pre-activation
    for t in reversed(range(x.shape[1])):
        grad_pre[t] = (grad_outputs[:, t] + from_later) * (1 - outputs[:, t].pow(2))
        from_later = grad_pre[t] @ weight_hh
    grad_pre = torch.stack(grad_pre, dim=1)
    return (grad_pre @ weight_ih, from_later,
            torch.einsum("bth,btd->hd", grad_pre, x),
            torch.einsum("bth,btk->hk", grad_pre, previous),
            grad_pre.sum(dim=(0, 1)))


def _bptt_variant(grad_outputs, x, h0, outputs, weight_ih, weight_hh, *, carry=True, derivative="h_t",
                  hh_transposed=False, overwrite=False, hh_state="h_{t-1}"):
    """rnn_bptt with one step of the recursion done wrong (the flags say which)."""
    T = x.shape[1]
    grads = [torch.zeros_like(x), None, torch.zeros_like(weight_ih), torch.zeros_like(weight_hh),
             weight_hh.new_zeros(weight_hh.shape[0])]
    from_later = torch.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = outputs[:, t - 1] if t > 0 else h0
        at = {"h_t": outputs[:, t], "h_{t-1}": h_prev, "tanh(h_t)": torch.tanh(outputs[:, t])}[derivative]
        g = (grad_outputs[:, t] + (from_later if carry else 0)) * (1 - at.pow(2))
        grads[0][:, t] = g @ weight_ih
        paired = {"h_{t-1}": h_prev, "h_t": outputs[:, t]}[hh_state]
        steps = (g.T @ x[:, t], g.T @ paired, g.sum(0))
        for k, contribution in zip((2, 3, 4), steps):
            grads[k] = contribution if overwrite else grads[k] + contribution
        from_later = g @ (weight_hh.T if hh_transposed else weight_hh)
    grads[1] = from_later
    return tuple(grads)


BPTT_MISTAKES = (
    variant(_bptt_variant, "gradient from step t+1 forgotten",
            "h_t reaches the loss directly and through h_{t+1}: the gradient at h_t is grad_outputs[:, t] "
            "plus what comes back from step t+1, and that sum is what goes through tanh'.", carry=False),
    variant(_bptt_variant, "tanh derivative at the previous state",
            "the derivative of h_t = tanh(a_t) is 1 - h_t^2, at the state the step produced (outputs[:, t]), "
            "not at h_{t-1}.", derivative="h_{t-1}"),
    variant(_bptt_variant, "tanh applied again in the derivative",
            "outputs already hold h_t = tanh(a_t), so tanh'(a_t) = 1 - h_t^2: do not apply tanh to them "
            "again.", derivative="tanh(h_t)"),
    variant(_bptt_variant, "W_hh transposed in the backward step",
            "a_t = h_{t-1} @ W_hh^T, so the gradient at h_{t-1} is dL/da_t @ W_hh ((B, H) @ (H, H)), "
            "without a transpose.", hh_transposed=True),
    variant(_bptt_variant, "parameter gradients overwritten at every step",
            "W_ih, W_hh and the bias are the same at every step: their gradients are sums over all steps "
            "(accumulate with +), not the contribution of the last step the loop visited.", overwrite=True),
    variant(_bptt_variant, "weight_hh's gradient paired with h_t",
            "step t multiplies W_hh by the state it received, h_{t-1} (h0 at the first step): "
            "dL/dW_hh sums dL/da_t^T @ h_{t-1}.", hh_state="h_t"),
)

# ----------------------------------------------------------------------------- numerical_gradient


def numerical_gradient(f, x, eps=1e-6):
    """The gradient of a scalar function by central differences, one entry of x at a time.

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every entry i; f is called exactly twice per
    entry, on a copy of x (the caller's x is never changed), and returns a 0-dim tensor or a float.

    Returns:
        A tensor of x's shape and dtype.
    """
    point = x.detach().clone(memory_format=torch.contiguous_format)
    entries = point.view(-1)
    gradient = torch.empty_like(point)
    for i in range(entries.numel()):
        centre = entries[i].item()
        entries[i] = centre + eps
        above = float(f(point))
        entries[i] = centre - eps
        below = float(f(point))
        entries[i] = centre
        gradient.view(-1)[i] = (above - below) / (2 * eps)
    return gradient


def _one_sided(f, x, eps=1e-6):
    point = x.detach().clone()
    base = float(f(point))
    gradient = torch.empty_like(point)
    for i in range(point.numel()):
        point.view(-1)[i] += eps
        gradient.view(-1)[i] = (float(f(point)) - base) / eps
        point.view(-1)[i] -= eps
    return gradient


def _divided_by_eps(f, x, eps=1e-6):
    return 2 * numerical_gradient(f, x, eps)


def _not_restored(f, x, eps=1e-6):
    gradient = torch.empty_like(x)
    flat = x.detach().view(-1)
    for i in range(flat.numel()):
        flat[i] += eps
        above = float(f(x))
        flat[i] -= 2 * eps
        gradient.view(-1)[i] = (above - float(f(x))) / (2 * eps)
    return gradient


def _all_at_once(f, x, eps=1e-6):
    slope = (float(f(x.detach() + eps)) - float(f(x.detach() - eps))) / (2 * eps)
    return torch.full_like(x, slope)


def _in_float64(f, x, eps=1e-6):
    return numerical_gradient(f, x, eps).double()


def _eps_ignored(f, x, eps=1e-6):
    return numerical_gradient(f, x)


NUMERICAL_MISTAKES = (
    Mistake("forward differences",
            "use central differences, (f(x + eps e_i) - f(x - eps e_i)) / (2 eps): their error is O(eps^2), "
            "that of (f(x + eps e_i) - f(x)) / eps only O(eps).", _one_sided),
    Mistake("divided by eps instead of 2 eps",
            "the two evaluations are 2 eps apart: divide their difference by 2 * eps.", _divided_by_eps),
    Mistake("x changed and not restored",
            "work on a copy of x (x.detach().clone()), or put every entry back after its two evaluations: the "
            "caller's x must be unchanged, and each entry must be moved from its own value.", _not_restored),
    Mistake("every entry moved at once",
            "move one entry at a time, x + eps e_i with e_i the i-th unit vector: moving all entries together "
            "measures the slope along the diagonal, the same number for every entry.", _all_at_once),
    Mistake("result not in x's dtype",
            "return a tensor of x's dtype (e.g. torch.zeros_like(x)), even if you compute in float64.",
            _in_float64),
    Mistake("eps ignored", "use the step eps the caller gives, not a fixed 1e-6.", _eps_ignored),
)

# ----------------------------------------------------------------------------- adaptive_clip_grad_


def _unit_norms(tensor, unit_dim=0):
    """||slice|| of every unit (keepdim, to broadcast); one norm for 0- and 1-dimensional tensors."""
    if tensor.dim() < 2 or unit_dim is None:
        return torch.linalg.vector_norm(tensor)
    dims = tuple(d for d in range(tensor.dim()) if d != unit_dim)
    return torch.linalg.vector_norm(tensor, dim=dims, keepdim=True)


def adaptive_clip_grad_(parameters, clipping, eps=1e-3):
    """Unit-wise adaptive gradient clipping (Brock et al. 2021), in place; the number of clipped units.

    A unit is a slice along dim 0 of a parameter with 2 or more dimensions (a row of an ``(H, D)``
    weight), or the whole of a 0- or 1-dimensional one. A unit's gradient G_i is rescaled to norm
    clipping * max(||W_i||, eps) when it is longer than that (||G_i|| floored at 1e-6 in the
    division); parameters without a gradient are skipped.

    Args:
        parameters: a tensor or an iterable of tensors (read once). clipping: > 0.

    Returns:
        The number of units whose gradient was rescaled, an int.
    """
    if not clipping > 0:
        raise ValueError(f"clipping must be positive, got {clipping}")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    clipped = 0
    with torch.no_grad():
        for parameter in parameters:
            if parameter.grad is None:
                continue
            limit = clipping * _unit_norms(parameter).clamp(min=eps)
            length = _unit_norms(parameter.grad)
            too_long = length > limit
            parameter.grad.mul_(torch.where(too_long, limit / length.clamp(min=1e-6), 1.0))
            clipped += int(too_long.sum())
    return clipped


def _agc_variant(parameters, clipping, eps=1e-3, *, unit_dim=0, relative=True, floor=True, strict=True):
    """adaptive_clip_grad_ with one rule done wrong (the flags say which)."""
    parameters = [parameters] if isinstance(parameters, torch.Tensor) else parameters
    clipped = 0
    with torch.no_grad():
        for p in parameters:
            if p.grad is None:
                continue
            weight = _unit_norms(p, unit_dim)
            limit = clipping * (weight.clamp(min=eps) if floor else weight) if relative else \
                torch.full_like(weight, clipping)
            length = _unit_norms(p.grad, unit_dim)
            over = length > limit if strict else length >= limit
            p.grad.mul_(torch.where(over, limit / length.clamp(min=1e-6), 1.0))
            clipped += int(over.sum())
    return clipped


def _agc_iterates_twice(parameters, clipping, eps=1e-3):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    with torch.no_grad():
        over = [(p, _unit_norms(p.grad) > clipping * _unit_norms(p).clamp(min=eps))
                for p in parameters if p.grad is not None]
    adaptive_clip_grad_(parameters, clipping, eps)  # a generator is already exhausted here
    return sum(int(o.sum()) for _, o in over)


AGC_MISTAKES = (
    variant(_agc_variant, "one norm per parameter tensor",
            "clip unit by unit: each slice along dim 0 of a 2-D or larger parameter (a row of an (H, D) "
            "weight: the weights into one unit) is compared with its own weights.", unit_dim=None),
    variant(_agc_variant, "units along dim 1",
            "a unit is a slice along dim 0, parameter[i] (the weights into unit i, PyTorch's (out, in) "
            "layout): take the norm over every other dimension.", unit_dim=1),
    variant(_agc_variant, "threshold not relative to the weight",
            "the limit is clipping * max(||W_i||, eps), a fraction of the unit's own weight norm, not the "
            "constant clipping.", relative=False),
    variant(_agc_variant, "weight norm not floored at eps",
            "use max(||W_i||, eps): a unit whose weights are all zero (a bias initialized to 0) would "
            "otherwise have its gradient clipped to nothing and could never move.", floor=False),
    variant(_agc_variant, "counted units exactly at the threshold",
            "a unit is clipped (and counted) only when ||G_i|| is strictly greater than its limit.",
                 strict=False),
    Mistake("parameters iterated twice",
            "parameters may be a generator (model.parameters() is one), which can be read only once: turn it "
            "into a list first.", _agc_iterates_twice),
)

# ------------------------------------------------------------------ masked_temporal_activation_regularization


def _check_lengths(states, lengths):
    if states.dim() != 3:
        raise ValueError(f"expected states of shape (B, T, H), got {tuple(states.shape)}")
    B, T, _ = states.shape
    if not isinstance(lengths, torch.Tensor) or lengths.dtype != torch.int64 or tuple(lengths.shape) != (B,):
        raise ValueError(f"expected lengths as an int64 tensor of shape ({B},)")
    if bool(((lengths < 1) | (lengths > T)).any()):
        raise ValueError(f"every length must be between 1 and T = {T}, got {lengths.tolist()}")


def masked_temporal_activation_regularization(states, lengths, beta):
    """TAR over a padded batch: beta * mean((h_{t+1} - h_t)^2) over the units and the valid pairs only.

    Row b holds lengths[b] real steps, then padding; the pair (t, t+1) counts when t + 1 < lengths[b].

    Args:
        states: ``(B, T, H)``. lengths: ``(B,)`` int64, each in 1..T. beta: the strength.

    Returns:
        A 0-dim tensor of states' dtype, differentiable; 0 when no row has two real steps.
    """
    _check_lengths(states, lengths)
    H = states.shape[2]
    real = torch.arange(1, states.shape[1]) < lengths[:, None]  # (B, T-1): the pair (t, t+1) is real
    squared = (states[:, 1:] - states[:, :-1]).pow(2)[real]  # (pairs, H)
    return beta * squared.sum() / max(squared.shape[0] * H, 1)


def _tar_variant(states, lengths, beta, *, real_pairs="t+1 < length", mean="pairs and units"):
    """The masked TAR with one rule done wrong (the arguments say which)."""
    _check_lengths(states, lengths)
    B, T, H = states.shape
    t = torch.arange(1, T)[None, :]
    real = {"t+1 < length": t < lengths[:, None], "t+1 <= length": t <= lengths[:, None],
            "all": torch.ones(B, T - 1, dtype=torch.bool)}[real_pairs]
    squared = (states[:, 1:] - states[:, :-1]).pow(2) * real[..., None].to(states.dtype)
    pairs = real.sum()
    if mean == "pairs and units":
        return beta * squared.sum() / max(int(pairs) * H, 1)
    if mean == "pairs":
        return beta * squared.sum() / max(int(pairs), 1)
    if mean == "padded too":
        return beta * squared.sum() / max(B * (T - 1) * H, 1)
    if mean == "new zero" and pairs == 0:
        return torch.tensor(0.0)
    if mean == "new zero":
        return beta * squared.sum() / (int(pairs) * H)
    per_row = squared.sum(dim=(1, 2)) / (real.sum(dim=1) * H).clamp(min=1)  # "per row"
    rows = real.any(dim=1)
    return beta * per_row[rows].sum() / max(int(rows.sum()), 1)


TAR_MISTAKES = (
    variant(_tar_variant, "padded steps counted",
            "only the real steps of each row count: the pair (t, t+1) is real when t + 1 < lengths[b]; "
            "padding is not part of the sequence, and its jumps would be penalized too.", real_pairs="all"),
    variant(_tar_variant, "the step into the padding counted",
            "a row of length L has L - 1 real pairs, t = 0 ... L-2 (t + 1 < L): the pair (L-1, L) "
            "already reaches into the padding.", real_pairs="t+1 <= length"),
    variant(_tar_variant, "a mean over all pairs, padded ones included",
            "divide by the number of real pairs times H, not by B * (T-1) * H: the padded pairs you "
            "masked out must not count in the denominator either.", mean="padded too"),
    variant(_tar_variant, "summed over the hidden units",
            "average over the hidden units too: divide by (number of real pairs) * H.", mean="pairs"),
    variant(_tar_variant, "a mean of the per-row means",
            "every real pair weighs the same: one mean over all real pairs of the batch, not the average "
            "of each row's mean (which gives the pairs of short rows more weight).", mean="per row"),
    variant(_tar_variant, "a new zero when no pair is real",
            "when no row has two real steps, return a zero that is still part of the graph and has "
            "states' dtype (e.g. a sum over no pairs, times beta), not torch.tensor(0.0).", mean="new zero"),
)

ANSWERS = {
    "rnn_bptt": Answer(reference=rnn_bptt, mistakes=BPTT_MISTAKES),
    "numerical_gradient": Answer(reference=numerical_gradient, mistakes=NUMERICAL_MISTAKES),
    "adaptive_clip_grad_": Answer(reference=adaptive_clip_grad_, mistakes=AGC_MISTAKES),
    "masked_temporal_activation_regularization": Answer(reference=masked_temporal_activation_regularization,
                                                        mistakes=TAR_MISTAKES),
}
