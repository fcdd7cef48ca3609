"""The answers of assignment 03, initialization (instructor-only; see :mod:`grader.answers`): the reference
implementations and known mistakes of ``BridgedEncoderDecoder`` (an LSTM encoder bridged to a GRU decoder),
``forget_bias_for_retention`` (the forget-gate bias for a retention over some steps),
``timescale_forget_bias_`` ("chrono" initialization) and ``critical_scale`` (the scale of W whose worst-case
gain over some steps is 1). PyTorch's layout: LSTM gates i, f, g, o stacked in ``bias_ih`` / ``bias_hh``.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from grader.checks.core import Mistake

from . import Answer

# ----------------------------------------------------------------------------- BridgedEncoderDecoder


class BridgedEncoderDecoder(nn.Module):
    """A sequence-to-sequence model whose halves differ in size and kind, joined by a learned bridge.

    The LSTM encoder's final pair ``(h_S, c_S)``, each ``(1, B, encoder_size)``, is concatenated as
    ``[h, c]`` and mapped to the GRU decoder's initial state ``h_0 = tanh(W_b [h_S; c_S] + b_b)``,
    ``(1, B, decoder_size)``: tanh keeps it in the range of the states the GRU produces itself.
    """

    def __init__(self, source_size, target_size, encoder_size, decoder_size, output_size):
        super().__init__()
        self.encoder = nn.LSTM(source_size, encoder_size, batch_first=True)
        self.bridge = nn.Linear(2 * encoder_size, decoder_size)
        self.decoder = nn.GRU(target_size, decoder_size, batch_first=True)
        self.readout = nn.Linear(decoder_size, output_size)

    def initial_state(self, source):
        """source ``(B, S, source_size)`` -> the decoder's h_0, ``(1, B, decoder_size)``."""
        summary = torch.cat(self.encoder(source)[1], dim=2)  # (1, B, 2 * encoder_size): [h, c]
        return self.bridge(summary).tanh()

    def forward(self, source, target_inputs):
        """source ``(B, S, source_size)``, target_inputs ``(B, T, target_size)`` -> ``(B, T, output_size)``."""
        h_0 = self.initial_state(source)
        return self.readout(self.decoder(target_inputs, h_0)[0])


class _CellFirst(BridgedEncoderDecoder):
    def initial_state(self, source):
        _, (h, c) = self.encoder(source)
        return torch.tanh(self.bridge(torch.cat([c, h], dim=-1)))


class _NoTanh(BridgedEncoderDecoder):
    def initial_state(self, source):
        _, (h, c) = self.encoder(source)
        return self.bridge(torch.cat([h, c], dim=-1))


class _OnlyH(BridgedEncoderDecoder):
    def __init__(self, source_size, target_size, encoder_size, decoder_size, output_size):
        super().__init__(source_size, target_size, encoder_size, decoder_size, output_size)
        self.bridge = nn.Linear(encoder_size, decoder_size)

    def initial_state(self, source):
        _, (h, _) = self.encoder(source)
        return torch.tanh(self.bridge(h))


class _DecoderFromZero(BridgedEncoderDecoder):
    def forward(self, source, target_inputs):
        self.initial_state(source)
        states, _ = self.decoder(target_inputs)
        return self.readout(states)


class _Detached(BridgedEncoderDecoder):
    def initial_state(self, source):
        return super().initial_state(source).detach()


BRIDGE_MISTAKES = (
    Mistake("cell state first in the bridge",
            "the bridge reads the encoder's final state as [h, c]: torch.cat([h_n, c_n], dim=-1), h first, "
            "then c (the order the weights are laid out for).", _CellFirst),
    Mistake("tanh missing on the bridge",
            "h_0 = tanh(bridge([h, c])): without tanh the decoder starts outside (-1, 1), a range its own "
            "states never reach.", _NoTanh),
    Mistake("only h bridged",
            "the bridge reads both halves of the LSTM's state, h and c concatenated: "
            "nn.Linear(2 * encoder_size, decoder_size).", _OnlyH, error_pattern="(?i)loading state_dict"),
    Mistake("decoder ignores the bridged state",
            "pass the bridged state to the decoder as its h_0: self.decoder(target_inputs, h_0); without it "
            "the GRU starts from zeros and never sees the source.", _DecoderFromZero),
    Mistake("bridged state detached",
            "keep h_0 in the autograd graph (no .detach(), no torch.no_grad()): the loss must train the "
            "bridge and the encoder through it.", _Detached),
)

# ----------------------------------------------------------------------------- forget_bias_for_retention


def _check_steps(steps):
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")


def _check_retention(retention, steps):
    if not 0 < retention < 1:
        raise ValueError(f"retention must be strictly between 0 and 1, got {retention}")
    _check_steps(steps)


def forget_bias_for_retention(retention, steps):
    """The bias b with sigmoid(b) ** steps == retention: a constant forget gate that keeps the share
    ``retention`` of the cell state after ``steps`` steps (input gate closed). A Python float.

    In logs: the per-step gate is f = retention ** (1 / steps) and b = logit(f) = log f - log(1 - f),
    with 1 - f = -expm1(log(retention) / steps) computed without cancellation.
    """
    _check_retention(retention, steps)
    log_f = math.log(retention) / steps
    return log_f - math.log(-math.expm1(log_f))


def _logit(p):
    return math.log(p / (1 - p))


def _steps_ignored(retention, steps):
    _check_retention(retention, steps)
    return _logit(retention)


def _gate_not_bias(retention, steps):
    _check_retention(retention, steps)
    return retention ** (1 / steps)


def _power_not_root(retention, steps):
    _check_retention(retention, steps)
    return _logit(retention ** steps)


def _log_not_logit(retention, steps):
    _check_retention(retention, steps)
    return math.log(retention) / steps


def _in_float32(retention, steps):
    _check_retention(retention, steps)
    gate = torch.tensor(retention) ** (1 / steps)
    return torch.log(gate / (1 - gate)).item()


RETENTION_MISTAKES = (
    Mistake("steps ignored",
            "the share is kept over `steps` steps of the same gate: sigmoid(b) ** steps = retention, so the "
            "gate of one step is retention ** (1 / steps).", _steps_ignored),
    Mistake("the gate instead of its bias",
            "retention ** (1 / steps) is the forget gate f itself; the bias is the pre-activation whose "
            "sigmoid is f: b = log(f / (1 - f)).", _gate_not_bias),
    Mistake("power instead of root",
            "f ** steps = retention gives f = retention ** (1 / steps), a root, not retention ** steps.",
            _power_not_root),
    Mistake("log instead of logit",
            "the inverse of the sigmoid is the logit log(f / (1 - f)), not log(f): sigmoid(b) is not e^b.",
            _log_not_logit),
    Mistake("float32 precision",
            "for gates close to 1, 1 - f is tiny and float32 (torch's default) loses most of its digits: "
            "compute with Python floats (math.log, math.expm1) or float64.", _in_float32),
)

# ----------------------------------------------------------------------------- timescale_forget_bias_


def _check_timescales(lstm, timescales):
    H = lstm.hidden_size
    if timescales.shape != (H,):
        raise ValueError(f"timescales must have shape (hidden_size,) = ({H},), got {tuple(timescales.shape)}")
    if not bool((timescales > 1).all()):
        raise ValueError("every time scale must be > 1 (a forget gate 1 - 1/tau in (0, 1))")


def timescale_forget_bias_(lstm, timescales):
    """Chrono initialization (Tallec and Ollivier 2018): unit k of every layer forgets on the time scale tau_k.

    A forget gate f = 1 - 1/tau keeps a share 1 - 1/tau per step, so content decays like exp(-t / tau):
    its pre-activation is logit(1 - 1/tau) = log(tau - 1). The input gate gets the opposite bias,
    -log(tau - 1), so that a slow unit also writes slowly. Written into ``bias_ih`` (blocks i and f of
    i, f, g, o) with the same blocks of ``bias_hh`` set to 0, in every layer and direction.

    Args:
        lstm: an ``nn.LSTM`` (any layers, directions, proj_size) or ``nn.LSTMCell`` with biases; modified
            in place under ``torch.no_grad()`` and returned.
        timescales: ``(H,)``, every entry > 1.
    """
    _check_timescales(lstm, timescales)
    H = lstm.hidden_size
    log_odds = (timescales - 1).log()
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if not name.startswith("bias_"):
                continue
            gates = bias.view(4, H)  # rows: i, f, g, o
            if name.startswith("bias_hh"):
                gates[:2] = 0
            else:
                gates[0] = -log_odds
                gates[1] = log_odds
    return lstm


def _chrono_biases(lstm, timescales, names, *, log_of=lambda tau: tau - 1, input_gate=True, zero_hh=True,
                   no_grad=True):
    """The chrono biases written into the parameters ``names`` only (the mistakes' common body)."""
    _check_timescales(lstm, timescales)
    H = lstm.hidden_size
    log_odds = torch.log(log_of(timescales))
    with torch.no_grad() if no_grad else contextlib.nullcontext():
        for name in names:
            bias = getattr(lstm, name)
            if name.startswith("bias_ih"):
                bias[H:2 * H] = log_odds
                if input_gate:
                    bias[:H] = -log_odds
            elif zero_hh:
                bias[H:2 * H] = 0
                if input_gate:
                    bias[:H] = 0
    return lstm


def _bias_names(lstm):
    return [name for name, _ in lstm.named_parameters() if name.startswith("bias_")]


def _only_first_layer(lstm, timescales):
    first = [name for name in _bias_names(lstm) if name in ("bias_ih", "bias_hh", "bias_ih_l0", "bias_hh_l0")]
    return _chrono_biases(lstm, timescales, first)


def _input_gate_left_alone(lstm, timescales):
    return _chrono_biases(lstm, timescales, _bias_names(lstm), input_gate=False)


def _bias_hh_kept(lstm, timescales):
    return _chrono_biases(lstm, timescales, _bias_names(lstm), zero_hh=False)


def _log_tau(lstm, timescales):
    return _chrono_biases(lstm, timescales, _bias_names(lstm), log_of=lambda tau: tau)


def _reverse_left_out(lstm, timescales):
    forward = [name for name in _bias_names(lstm) if not name.endswith("_reverse")]
    return _chrono_biases(lstm, timescales, forward)


def _without_no_grad(lstm, timescales):
    return _chrono_biases(lstm, timescales, _bias_names(lstm), no_grad=False)


TIMESCALE_MISTAKES = (
    Mistake("only the first layer",
            "every layer has its own biases (bias_ih_l0, bias_ih_l1, ...): loop over lstm.named_parameters() "
            "and set each one.", _only_first_layer),
    Mistake("input gate left alone",
            "chrono initialization sets the input gate too, to the opposite bias -log(tau - 1) "
            "(block i, rows 0 to H - 1), so that a unit that forgets slowly also writes slowly.",
            _input_gate_left_alone),
    Mistake("bias_hh not zeroed",
            "PyTorch adds bias_ih and bias_hh: set the i and f blocks of bias_hh to 0, or the total bias is "
            "not the one you wrote into bias_ih.", _bias_hh_kept),
    Mistake("log(tau) instead of log(tau - 1)",
            "sigmoid(b) = 1 - 1/tau gives b = log((1 - 1/tau) / (1/tau)) = log(tau - 1).", _log_tau),
    Mistake("reverse direction left out",
            "a bidirectional LSTM has a second set of biases per layer (bias_ih_l0_reverse, ...): set those "
            "too.", _reverse_left_out),
    Mistake("torch.no_grad() missing",
            "the biases are parameters that require grad: change them in place inside `with torch.no_grad():`.",
            _without_no_grad, error_pattern="(?i)leaf|in-place|inplace"),
)

# ----------------------------------------------------------------------------- critical_scale


def _check_power(weight, steps):
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"critical_scale needs a square matrix, got shape {tuple(weight.shape)}")
    _check_steps(steps)


def _unit(matrix, log_scale=0.0):
    """``matrix`` as (the matrix at unit Frobenius norm, log of its scale, plus ``log_scale``)."""
    size = torch.linalg.matrix_norm(matrix)
    if size == 0:
        raise ValueError("W^steps is the zero matrix (W is nilpotent): no scale makes its gain 1")
    return matrix / size, log_scale + math.log(size)


def _times(a, b):
    return _unit(a[0] @ b[0], a[1] + b[1])


def _log_gain(weight, steps, ord=2):
    """log ||W^steps|| (spectral norm by default), by repeated squaring of unit-norm factors, in float64."""
    _check_power(weight, steps)
    base = _unit(weight.detach().to(torch.float64))
    result, remaining = None, steps
    while remaining:
        if remaining & 1:
            result = base if result is None else _times(base, result)
        remaining >>= 1
        if remaining:
            base = _times(base, base)
    return result[1] + math.log(torch.linalg.matrix_norm(result[0], ord=ord))


def critical_scale(weight, steps):
    """The scale c with ||(c W)^steps||_2 = 1: c = ||W^steps||_2 ** (-1 / steps).

    The gain ||W^steps||_2 is computed as a logarithm: the partial products of repeated squaring are kept at
    unit norm, their scales added up as logs, so that gains far outside the floating-point range (rho^steps
    over long horizons) cost no accuracy.

    Args:
        weight: ``(H, H)``. steps: an int >= 1.

    Returns:
        A 0-dim tensor in ``weight``'s dtype (not differentiable).
    """
    return torch.tensor(math.exp(-_log_gain(weight, steps) / steps), dtype=weight.dtype)


def _inverse_radius(weight, steps):
    _check_power(weight, steps)
    return 1 / torch.linalg.eigvals(weight.detach()).abs().max()


def _one_step_norm(weight, steps):
    _check_power(weight, steps)
    return 1 / torch.linalg.matrix_norm(weight.detach(), ord=2)


def _frobenius(weight, steps):
    return torch.tensor(math.exp(-_log_gain(weight, steps, ord="fro") / steps), dtype=weight.dtype)


def _growth_rate(weight, steps):
    return torch.tensor(math.exp(_log_gain(weight, steps) / steps), dtype=weight.dtype)


def _root_missing(weight, steps):
    log_gain = _log_gain(weight, steps)
    return torch.tensor(math.exp(-log_gain) if log_gain > -700 else math.inf, dtype=weight.dtype)


def _out_of_range(weight, steps):
    _check_power(weight, steps)
    gain = torch.linalg.matrix_norm(torch.linalg.matrix_power(weight.detach(), steps), ord=2)
    if gain == 0:
        raise ValueError("W^steps is the zero matrix")
    return gain ** (-1 / steps)


CRITICAL_MISTAKES = (
    Mistake("1 / spectral radius",
            "1 / rho(W) is the limit for many steps (Gelfand's formula) and exact only for normal matrices; over "
            "a finite horizon the worst case is the spectral norm of the product: c = ||W^steps||_2 ** (-1 / steps).",
            _inverse_radius),
    Mistake("one-step norm",
            "1 / ||W||_2 balances a single step; over `steps` steps use the norm of the whole product W^steps, "
            "which for a non-normal W is smaller than ||W||_2 ** steps.", _one_step_norm),
    Mistake("Frobenius norm",
            "torch.linalg.matrix_norm computes the Frobenius norm by default; the worst-case gain is the "
            "spectral norm, ord=2 (the largest singular value).", _frobenius),
    Mistake("growth rate instead of scale",
            "||W^steps||_2 ** (1 / steps) is the average growth per step; the scale that cancels it is its "
            "inverse, ||W^steps||_2 ** (-1 / steps).", _growth_rate),
    Mistake("root missing",
            "(c W)^steps = c^steps W^steps, so c^steps ||W^steps||_2 = 1 and c is the steps-th root of "
            "1 / ||W^steps||_2.", _root_missing),
    Mistake("W^steps out of floating-point range",
            "over long horizons W^steps overflows (or underflows to 0) although c is an ordinary number: keep "
            "the partial products at norm 1 and add up the logarithms of their scales, then "
            "c = exp(-log_gain / steps).", _out_of_range),
)

ANSWERS = {
    "BridgedEncoderDecoder": Answer(reference=BridgedEncoderDecoder, mistakes=BRIDGE_MISTAKES),
    "forget_bias_for_retention": Answer(reference=forget_bias_for_retention, mistakes=RETENTION_MISTAKES),
    "timescale_forget_bias_": Answer(reference=timescale_forget_bias_, mistakes=TIMESCALE_MISTAKES),
    "critical_scale": Answer(reference=critical_scale, mistakes=CRITICAL_MISTAKES),
}
