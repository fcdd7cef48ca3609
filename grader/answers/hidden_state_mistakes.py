"""The known mistakes of assignment 01's parts: small functions with each part's signature.

Most are the reference with one thing done wrong, so that a student's outcome can be recognised
exactly; each explanation says what is wrong and how to fix it.
"""

from __future__ import annotations

import torch

from grader.checks.core import Mistake

from .hidden_state import (GATE_BLOCKS, bidirectional_rnn_forward, check_count_arguments, check_lengths,
                           masked_rnn_forward, stacked_rnn_forward)

# ----------------------------------------------------------------------------- stacked_rnn_forward


def _one_layer(sequence, h0, layer_weights, nonlinearity, initial=None):
    """One layer run with the reference; ``initial`` (B, H) or None."""
    outputs, h_n = stacked_rnn_forward(sequence, None if initial is None else initial[None], [layer_weights],
                                       nonlinearity)
    return outputs, h_n[0]


def _every_layer_reads_x(x, h0, weights, nonlinearity="tanh"):
    finals = []
    for layer, layer_weights in enumerate(weights):
        outputs, h = _one_layer(x, None, layer_weights, nonlinearity, None if h0 is None else h0[layer])
        finals.append(h)
    return outputs, torch.stack(finals)


def _every_layer_from_first_state(x, h0, weights, nonlinearity="tanh"):
    first = None if h0 is None else h0[0]
    sequence, finals = x, []
    for layer_weights in weights:
        sequence, h = _one_layer(sequence, None, layer_weights, nonlinearity, first)
        finals.append(h)
    return sequence, torch.stack(finals)


def _first_layer_outputs(x, h0, weights, nonlinearity="tanh"):
    _, h_n = stacked_rnn_forward(x, h0, weights, nonlinearity)
    outputs, _ = _one_layer(x, None, weights[0], nonlinearity, None if h0 is None else h0[0])
    return outputs, h_n


def _final_states_reversed(x, h0, weights, nonlinearity="tanh"):
    outputs, h_n = stacked_rnn_forward(x, h0, weights, nonlinearity)
    return outputs, h_n.flip(0)


def _top_final_state_only(x, h0, weights, nonlinearity="tanh"):
    outputs, h_n = stacked_rnn_forward(x, h0, weights, nonlinearity)
    return outputs, h_n[-1]


STACKED = (
    Mistake("every layer reads x",
            "only the first layer reads x; layer l reads the outputs (B, T, H) of layer l - 1, which is why "
            "weight_ih of the upper layers is (H, H).", _every_layer_reads_x,
            error_pattern="(?i)shape|size|multipl|dimension"),
    Mistake("every layer starts from h0[0]",
            "h0 holds one initial state per layer: layer l starts from h0[l].", _every_layer_from_first_state),
    Mistake("outputs of the first layer",
            "outputs are the states of the top layer, the last one, at every step.", _first_layer_outputs),
    Mistake("h_n layers in reverse order",
            "h_n[l] is the final state of layer l, with the first layer at index 0 and the top layer last "
            "(PyTorch's layout).", _final_states_reversed),
    Mistake("h_n of the top layer only",
            "h_n is (L, B, H): the final state of every layer, stacked along a new first dimension.",
            _top_final_state_only),
)

# ----------------------------------------------------------------------------- bidirectional_rnn_forward


def _halves(outputs):
    return outputs.chunk(2, dim=2)


def _backward_outputs_in_reading_order(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    outputs, h_n = bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity)
    ahead, behind = _halves(outputs)
    return torch.cat([ahead, behind.flip(1)], dim=2), h_n


def _backward_reads_forward_order(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    halves, finals = [], []
    for direction, weights in enumerate((forward_weights, backward_weights)):
        outputs, h = _one_layer(x, None, weights, nonlinearity, None if h0 is None else h0[direction])
        halves.append(outputs)
        finals.append(h)
    return torch.cat(halves, dim=2), torch.stack(finals)


def _backward_final_at_last_position(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    outputs, h_n = bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity)
    return outputs, torch.stack([h_n[0], _halves(outputs)[1][:, -1]])


def _directions_swapped(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    outputs, h_n = bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity)
    ahead, behind = _halves(outputs)
    return torch.cat([behind, ahead], dim=2), h_n.flip(0)


def _initial_states_swapped(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    return bidirectional_rnn_forward(x, None if h0 is None else h0.flip(0), forward_weights, backward_weights,
                                     nonlinearity)


BIDIRECTIONAL = (
    Mistake("backward outputs in reading order",
            "outputs[:, t, H:] is the backward state at position t, the state after reading x_T ... x_t: "
            "store each backward state at the position of the input it just read, not in the order computed.",
            _backward_outputs_in_reading_order),
    Mistake("backward direction reads x_1 first",
            "the backward direction reads the sequence from its last step to its first: t = T-1, ..., 0.",
            _backward_reads_forward_order),
    Mistake("backward final state taken at the last position",
            "h_n[1] is the backward direction's final state, after it has read x_1: it equals "
            "outputs[:, 0, H:], not outputs[:, -1, H:].", _backward_final_at_last_position),
    Mistake("directions swapped",
            "the forward direction comes first: outputs[..., :H] and h_n[0] are forward, outputs[..., H:] "
            "and h_n[1] backward.", _directions_swapped),
    Mistake("h0 halves swapped",
            "h0[0] is the forward direction's initial state and h0[1] the backward one's.",
            _initial_states_swapped),
)

# ----------------------------------------------------------------------------- masked_rnn_forward


def _padding_read_into_the_state(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    check_lengths(lengths, x.shape[0], x.shape[1])
    everything = torch.full_like(lengths, x.shape[1])
    states, h_n = masked_rnn_forward(x, everything, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    valid = torch.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    return torch.where(valid, states, torch.zeros_like(states)), h_n


def _outputs_not_zeroed(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    outputs, h_n = masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    valid = torch.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    return torch.where(valid, outputs, h_n[:, None, :].expand_as(outputs)), h_n


def _one_step_too_many(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    check_lengths(lengths, x.shape[0], x.shape[1])
    longer = (lengths + 1).clamp(max=x.shape[1])
    return masked_rnn_forward(x, longer, h0, weight_ih, weight_hh, bias_ih, bias_hh)


def _final_states_sorted_by_length(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    outputs, h_n = masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    return outputs, h_n[torch.argsort(lengths, descending=True, stable=True)]


def _final_state_from_the_last_output(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    outputs, _ = masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    return outputs, outputs[:, -1]


MASKED = (
    Mistake("padding read into the state",
            "a row's state must stop changing after its last valid step: steps t >= lengths[b] are "
            "padding, and h_n[b] is the state after step lengths[b] - 1, not after step T - 1.",
            _padding_read_into_the_state),
    Mistake("outputs not zeroed after the end",
            "outputs[b, t] is exactly 0 for t >= lengths[b] (what pad_packed_sequence gives), not the "
            "last state carried on.", _outputs_not_zeroed),
    Mistake("one step too many",
            "a row of length l has valid steps t = 0, ..., l - 1 (t < l): the step t = l is already padding.",
            _one_step_too_many),
    Mistake("h_n in sorted order",
            "h_n[b] belongs to row b of the batch, in the order the rows came in, whatever their lengths "
            "(PyTorch sorts packed sequences internally but puts h_n back in the original order).",
            _final_states_sorted_by_length),
    Mistake("h_n read from the last output",
            "outputs[:, -1] is 0 for every row shorter than T: take each row's state after its own last "
            "valid step (or keep a finished row's state unchanged and return it).",
            _final_state_from_the_last_output),
)

# ----------------------------------------------------------------------------- recurrent_parameter_count


def _count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False, proj_size=0, *,
           backward_counted=True, upper_reads_both=True, projection_counted=True, hh_projected=True,
           upper_reads_projection=True):
    """The parameter count with one of the rules switched off (each keyword names one)."""
    check_count_arguments(hidden_size, num_layers, mode, proj_size)
    rows = GATE_BLOCKS[mode] * hidden_size
    out = proj_size or hidden_size
    two = bidirectional and backward_counted
    directions = 2 if two else 1
    upper = (out if upper_reads_projection else hidden_size) * (2 if bidirectional and upper_reads_both else 1)
    total = 0
    for layer in range(num_layers):
        reads = input_size if layer == 0 else upper
        per_direction = rows * reads + rows * (out if hh_projected else hidden_size) + 2 * rows * bias
        per_direction += proj_size * hidden_size if projection_counted else 0
        total += directions * per_direction
    return total


def _variant(**rule):
    def count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False, proj_size=0):
        return _count(input_size, hidden_size, num_layers, bias, mode, bidirectional, proj_size, **rule)

    return count


COUNT = (
    Mistake("backward direction not counted",
            "a bidirectional layer has two directions, each with its own weight_ih, weight_hh and biases "
            "(the *_reverse parameters): count every layer's parameters twice.",
            _variant(backward_counted=False)),
    Mistake("upper layers read one direction",
            "above the first layer, each direction reads the concatenated outputs of both directions of "
            "the layer below: weight_ih is (G*H, 2H), or (G*H, 2P) with projections.",
            _variant(upper_reads_both=False)),
    Mistake("projection weights missing",
            "with proj_size = P > 0, every direction of every layer has one more matrix, weight_hr (P, H), "
            "which projects the state down to P numbers.", _variant(projection_counted=False)),
    Mistake("weight_hh not projected",
            "with projections the recurrence reads the projected state, so weight_hh is (4H, P), not (4H, H).",
            _variant(hh_projected=False)),
    Mistake("upper layers read hidden_size",
            "with projections a layer hands on P numbers per direction, so the layer above reads P (or 2P "
            "when bidirectional), not H.", _variant(upper_reads_projection=False)),
)
