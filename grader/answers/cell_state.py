"""The answers of assignment 02_cell_state: ``lstm_cell_backward``, ``coupled_lstm_cell``,
``peephole_lstm_cell`` and ``projected_lstm_forward``, with their known mistakes.

Conventions are PyTorch's: ``weight_ih`` is ``(G*H, D)``, ``weight_hh`` is ``(G*H, H)`` (``(4H, P)``
with a projection), biases are ``(G*H,)`` or ``None``, the state is ``(h, c)`` or ``None`` for zeros,
and the gate blocks come in the order i, f, g, o (i, g, o for the coupled cell).
"""

from __future__ import annotations

import torch

from grader import reference as ref
from grader.checks.core import Mistake
from grader.checks.recurrent import permuted_gates

from . import Answer


def _state(x, state, h_size, c_size):
    """``(h, c)``: the given state, or zeros of ``(B, h_size)`` and ``(B, c_size)`` like ``x``."""
    if state is not None:
        return state
    return x.new_zeros(x.shape[0], h_size), x.new_zeros(x.shape[0], c_size)


def _pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """``(B, G*H)``: x @ W_ih^T + b_ih + h @ W_hh^T + b_hh, the biases where given."""
    pre = x @ weight_ih.T + h @ weight_hh.T
    for bias in (bias_ih, bias_hh):
        if bias is not None:
            pre = pre + bias
    return pre


# ----------------------------------------------------------------------------- lstm_cell_backward


def lstm_cell_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The gradients of one LSTM step, by the chain rule (no autograd).

    The loss is L = sum(h_next * grad_h_next) + sum(c_next * grad_c_next), where
    ``(h_next, c_next) = lstm_cell(x, state, ...)``; ``grad_c_next=None`` means no loss on c_next.

    Args:
        grad_h_next, grad_c_next: ``(B, H)`` (grad_c_next may be ``None``).
        x, state, weight_ih, weight_hh, bias_ih, bias_hh: as in ``lstm_cell``.

    Returns:
        ``(grad_x (B, D), (grad_h (B, H), grad_c (B, H)), grad_weight_ih (4H, D), grad_weight_hh (4H, H),
        grad_bias (4H,))``; grad_bias is dL/db_ih = dL/db_hh, whether the biases are given or not.
    """
    h, c = _state(x, state, weight_hh.shape[1], weight_hh.shape[1])
    i, f, g, o = ref.lstm_gates(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
    tanh_c = torch.tanh(f * c + i * g)
    # dL/dc_next: the direct term plus the path through h_next = o * tanh(c_next).
    grad_c_total = grad_h_next * o * (1 - tanh_c**2)
    if grad_c_next is not None:
        grad_c_total = grad_c_total + grad_c_next
    grad_pre = torch.cat([
        grad_c_total * g * i * (1 - i),         # a_i: c_next = ... + i * g, i = sigmoid(a_i)
        grad_c_total * c * f * (1 - f),         # a_f: c_next = f * c + ...
        grad_c_total * i * (1 - g**2),          # a_g: g = tanh(a_g)
        grad_h_next * tanh_c * o * (1 - o),     # a_o: h_next = o * tanh(c_next)
    ], dim=1)                                   # (B, 4H), blocks i, f, g, o
    grad_state = (grad_pre @ weight_hh, grad_c_total * f)
    return grad_pre @ weight_ih, grad_state, grad_pre.T @ x, grad_pre.T @ h, grad_pre.sum(dim=0)


def _backward_no_cell_tanh(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    # The reference with a cotangent on c_next that cancels the tanh derivative:
    # grad_h * o * (1 - tanh^2) + grad_h * o * tanh^2 = grad_h * o.
    h_next, c_next = ref.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    extra = grad_h_next * h_next * torch.tanh(c_next)  # o * tanh(c_next)^2 = h_next * tanh(c_next)
    grad_c_next = extra if grad_c_next is None else grad_c_next + extra
    return lstm_cell_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def _backward_grad_c_next_ignored(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None,
                                  bias_hh=None):
    return lstm_cell_backward(grad_h_next, None, x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def _backward_grad_c_without_f(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None,
                               bias_hh=None):
    grads = lstm_cell_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    _, f, _, _ = ref.lstm_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    grad_x, (grad_h, grad_c), *rest = grads
    return (grad_x, (grad_h, grad_c / f), *rest)


def _backward_bias_averaged(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    *rest, grad_bias = lstm_cell_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return (*rest, grad_bias / x.shape[0])


def _backward_weights_transposed(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None,
                                 bias_hh=None):
    grad_x, grad_state, grad_w_ih, grad_w_hh, grad_bias = lstm_cell_backward(
        grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return grad_x, grad_state, grad_w_ih.T, grad_w_hh.T, grad_bias


BACKWARD_MISTAKES = (
    Mistake("tanh derivative missing on the cell path",
            "h_next = o * tanh(c_next), so the gradient reaching c_next through h_next is "
            "grad_h_next * o * (1 - tanh(c_next)^2), not grad_h_next * o.", _backward_no_cell_tanh),
    Mistake("grad_c_next ignored",
            "the loss also weights c_next: add grad_c_next (when it is not None) to the gradient that reaches "
            "c_next through h_next.", _backward_grad_c_next_ignored),
    Mistake("grad_c not scaled by the forget gate",
            "c_next = f * c + i * g, so dL/dc = dL/dc_next * f: the old cell state reaches the loss through "
            "the forget gate.", _backward_grad_c_without_f),
    Mistake("bias gradient averaged over the batch",
            "the loss is a sum over the batch, so the bias gradient is the sum of the rows of dL/da "
            "(dim=0), not their mean.", _backward_bias_averaged),
    Mistake("weight gradients transposed",
            "a weight's gradient has the weight's shape: (4H, D) for weight_ih, so dL/dW_ih = dL/da^T @ x "
            "(and dL/dW_hh = dL/da^T @ h), not x^T @ dL/da.", _backward_weights_transposed),
)

# ----------------------------------------------------------------------------- coupled_lstm_cell


def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of the coupled input-forget gate LSTM (CIFG, Greff et al. 2017).

    Three gate blocks, in the order i, g, o; the forget gate is f = 1 - i, so
    c_next = (1 - i) * c + i * g (the cell moves from c towards g by the share i), h_next = o * tanh(c_next).

    Args:
        x: ``(B, D)``. state: ``(h, c)``, each ``(B, H)``, or ``None`` for zeros.
        weight_ih: ``(3H, D)``. weight_hh: ``(3H, H)``. bias_ih, bias_hh: ``(3H,)`` or ``None``.

    Returns:
        ``(h_next, c_next)``, each ``(B, H)``.
    """
    h, c = _state(x, state, weight_hh.shape[1], weight_hh.shape[1])
    a_i, a_g, a_o = _pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh).chunk(3, dim=1)
    c_next = c + torch.sigmoid(a_i) * (torch.tanh(a_g) - c)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next


def _negated_input_gate(weight):
    """The weight (or bias) with its i block negated: sigmoid(-a_i) = 1 - sigmoid(a_i)."""
    if weight is None:
        return None
    blocks = list(weight.chunk(3, dim=0))
    return torch.cat([-blocks[0], *blocks[1:]], dim=0)


def _coupled_reversed(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    # i * c + (1 - i) * g is the reference with i replaced by 1 - i.
    return coupled_lstm_cell(x, state, *(_negated_input_gate(w) for w in (weight_ih, weight_hh, bias_ih, bias_hh)))


def _coupled_order_i_o_g(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return coupled_lstm_cell(x, state, *(permuted_gates(w, ("i", "o", "g"), ("i", "g", "o"))
                                         for w in (weight_ih, weight_hh, bias_ih, bias_hh)))


def _coupled_no_cell_tanh(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, _ = _state(x, state, weight_hh.shape[1], weight_hh.shape[1])
    _, c_next = coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    a_o = _pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh).chunk(3, dim=1)[2]
    return torch.sigmoid(a_o) * c_next, c_next


def _coupled_state_swapped(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    state = None if state is None else (state[1], state[0])
    return coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def _coupled_without_bias_hh(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih, None)


COUPLED_MISTAKES = (
    Mistake("coupling the wrong way round",
            "the forget gate is f = 1 - i: the share i of the candidate g is written and the share 1 - i of "
            "the old cell kept, c_next = (1 - i) * c + i * g (you kept i * c and wrote (1 - i) * g).",
            _coupled_reversed),
    Mistake("gates in order i, o, g",
            "the coupled cell keeps PyTorch's order without the forget block: i, g, o (rows 0:H, H:2H, 2H:3H).",
            _coupled_order_i_o_g),
    Mistake("tanh missing on the cell state",
            "the hidden state is h_next = o * tanh(c_next), not o * c_next.", _coupled_no_cell_tanh),
    Mistake("h and c swapped in the state",
            "the state is the pair (h, c): state[0] is h, state[1] is c.", _coupled_state_swapped),
    Mistake("bias_hh missing",
            "both biases are added when given: x @ W_ih^T + b_ih + h @ W_hh^T + b_hh.", _coupled_without_bias_hh),
)

# ----------------------------------------------------------------------------- peephole_lstm_cell


def peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    """One step of an LSTM with peephole connections (Gers & Schmidhuber 2000), gate blocks i, f, g, o.

    i = sigmoid(a_i + p_i * c), f = sigmoid(a_f + p_f * c), g = tanh(a_g), c_next = f * c + i * g,
    o = sigmoid(a_o + p_o * c_next) (the output gate sees the new cell state), h_next = o * tanh(c_next).

    Args:
        x: ``(B, D)``. state: ``(h, c)``, each ``(B, H)``, or ``None`` for zeros.
        weight_ih: ``(4H, D)``. weight_hh: ``(4H, H)``. peephole: ``(3, H)``, rows p_i, p_f, p_o.
        bias_ih, bias_hh: ``(4H,)`` or ``None``.

    Returns:
        ``(h_next, c_next)``, each ``(B, H)``.
    """
    h, c = _state(x, state, weight_hh.shape[1], weight_hh.shape[1])
    a_i, a_f, a_g, a_o = _pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh).chunk(4, dim=1)
    p_i, p_f, p_o = peephole.unbind(0)
    c_next = torch.sigmoid(a_f + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(a_g)
    return torch.sigmoid(a_o + p_o * c_next) * torch.tanh(c_next), c_next


def _peephole_output_sees_old_cell(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    h, c = _state(x, state, weight_hh.shape[1], weight_hh.shape[1])
    _, c_next = peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole, bias_ih, bias_hh)
    a_o = _pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh).chunk(4, dim=1)[3]
    return torch.sigmoid(a_o + peephole[2] * c) * torch.tanh(c_next), c_next


def _peephole_rows_i_f_swapped(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    return peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole[[1, 0, 2]], bias_ih, bias_hh)


def _peephole_ignored(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    return ref.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def _peephole_order_i_f_o_g(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    weights = (permuted_gates(w, ("i", "f", "o", "g"), ("i", "f", "g", "o"))
               for w in (weight_ih, weight_hh, bias_ih, bias_hh))
    w_ih, w_hh, b_ih, b_hh = weights
    return peephole_lstm_cell(x, state, w_ih, w_hh, peephole, b_ih, b_hh)


def _peephole_without_bias_hh(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    return peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole, bias_ih, None)


PEEPHOLE_MISTAKES = (
    Mistake("output gate looks at the old cell state",
            "i and f look at the old cell state c, but the output gate is computed after the update and looks "
            "at the new one: o = sigmoid(a_o + p_o * c_next).", _peephole_output_sees_old_cell),
    Mistake("peephole rows p_i and p_f swapped",
            "the rows of peephole are (p_i, p_f, p_o): peephole[0] goes with the input gate, peephole[1] with "
            "the forget gate.", _peephole_rows_i_f_swapped),
    Mistake("peepholes ignored",
            "that is the plain LSTM: add p_i * c to a_i, p_f * c to a_f and p_o * c_next to a_o before the "
            "sigmoids.", _peephole_ignored),
    Mistake("gates in order i, f, o, g",
            "the gate blocks are in PyTorch's order i, f, g, o (rows 0:H, H:2H, 2H:3H, 3H:4H).",
            _peephole_order_i_f_o_g),
    Mistake("bias_hh missing",
            "both biases are added when given: x @ W_ih^T + b_ih + h @ W_hh^T + b_hh.", _peephole_without_bias_hh),
)

# ----------------------------------------------------------------------------- projected_lstm_forward


def projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    """One LSTM layer with a projection (LSTMP, Sak et al. 2014), as ``nn.LSTM(D, H, proj_size=P, batch_first=True)``.

    At each step the LSTM cell computes m_t = o * tanh(c_t) of size H from (h_{t-1}, c_{t-1}), and the state
    it carries and outputs is the projection h_t = m_t @ weight_hr^T of size P.

    Args:
        x: ``(B, T, D)``. state: ``(h0 (B, P), c0 (B, H))`` or ``None`` for zeros.
        weight_ih: ``(4H, D)``. weight_hh: ``(4H, P)``. weight_hr: ``(P, H)``. bias_ih, bias_hh: ``(4H,)`` or ``None``.

    Returns:
        ``(outputs (B, T, P), (h_n (B, P), c_n (B, H)))``.
    """
    h, c = _state(x, state, weight_hr.shape[0], weight_hr.shape[1])
    outputs = []
    for t in range(x.shape[1]):
        m, c = ref.lstm_cell(x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        h = m @ weight_hr.T
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


def _projected_trace(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None, carry=(True, True)):
    """``(m (B, T, H), h (B, T, P), c_T (B, H))``: every step's m_t = o * tanh(c_t) and h_t = m_t @ W_hr^T.

    ``carry = (carry h, carry c)``: a half of the state that is not carried restarts every step from the initial one.
    """
    start = _state(x, state, weight_hr.shape[0], weight_hr.shape[1])
    h, c = start
    ms, hs, cs = [], [], []
    for t in range(x.shape[1]):
        m, c = ref.lstm_cell(x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        h = m @ weight_hr.T
        ms.append(m)
        hs.append(h)
        cs.append(c)
        h, c = (h if carry[0] else start[0]), (c if carry[1] else start[1])
    return torch.stack(ms, dim=1), torch.stack(hs, dim=1), cs[-1]


def _projected_unprojected_outputs(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    ms, hs, c_n = _projected_trace(x, state, weight_ih, weight_hh, weight_hr, bias_ih, bias_hh)
    return ms, (hs[:, -1], c_n)


def _projected_state_not_carried(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    _, hs, c_n = _projected_trace(x, state, weight_ih, weight_hh, weight_hr, bias_ih, bias_hh, carry=(False, False))
    return hs, (hs[:, -1], c_n)


def _projected_cell_not_carried(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    _, hs, c_n = _projected_trace(x, state, weight_ih, weight_hh, weight_hr, bias_ih, bias_hh, carry=(True, False))
    return hs, (hs[:, -1], c_n)


def _projected_h0_of_size_h(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hr.shape[1])
        state = (zeros, zeros)  # h0 of size H: the recurrent product then fails
    return projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih, bias_hh)


def _projected_flat(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    outputs, (h_n, c_n) = projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih, bias_hh)
    return outputs, h_n, c_n


PROJECTED_MISTAKES = (
    Mistake("outputs before the projection",
            "with a projection the layer outputs h_t = (o * tanh(c_t)) @ weight_hr^T, of size P, at every step "
            "(the same h_t it carries to the next step), not the H-sized o * tanh(c_t).",
            _projected_unprojected_outputs),
    Mistake("state not carried",
            "each step must start from the (h, c) the previous step produced, not from the initial state.",
            _projected_state_not_carried),
    Mistake("cell state not carried",
            "carry both halves of the state: the new c_t (size H) as well as the projected h_t (size P).",
            _projected_cell_not_carried),
    Mistake("h0 of size H when state is None",
            "with a projection the hidden state has size P = weight_hr.shape[0] (it is what weight_hh, (4H, P), "
            "multiplies); only the cell state has size H.", _projected_h0_of_size_h,
            error_pattern=r"shape|size"),
    Mistake("returned (outputs, h_n, c_n)",
            "return two things, like nn.LSTM: (outputs, (h_n, c_n)).", _projected_flat),
)

ANSWERS = {
    "lstm_cell_backward": Answer(reference=lstm_cell_backward, mistakes=BACKWARD_MISTAKES),
    "coupled_lstm_cell": Answer(reference=coupled_lstm_cell, mistakes=COUPLED_MISTAKES),
    "peephole_lstm_cell": Answer(reference=peephole_lstm_cell, mistakes=PEEPHOLE_MISTAKES),
    "projected_lstm_forward": Answer(reference=projected_lstm_forward, mistakes=PROJECTED_MISTAKES),
}
