"""Checks of assignment 01, the hidden state: ``stacked_rnn_forward``, ``bidirectional_rnn_forward``,
``masked_rnn_forward`` and ``recurrent_parameter_count``.

Their reference implementations and known mistakes are in ``grader.answers.hidden_state``. The cases
follow :mod:`.recurrent`: fixed edge shapes (B, T, H = 1 somewhere, D = H where a wrong input size
would otherwise only raise) with flags rotated by the seed, then random shapes, more of them hidden.
"""

from __future__ import annotations

import torch
from torch import nn

from . import forbidden
from .base import Check
from .core import DTYPE_NAMES, Case, generators, randn
from .recurrent import BIASES, SEQUENCE_SHAPES, _flags, _random_flags

BIAS_TEXT = {"both": "both biases", "none": "no biases", "ih": "bias_ih only", "hh": "bias_hh only"}


def layer_weights(gen, reads, hidden, dtype, biases):
    """One layer's (weight_ih (H, reads), weight_hh (H, H), bias_ih or None, bias_hh or None)."""
    scale = 1.2 / max(hidden, 1) ** 0.5
    weight_ih = randn(gen, hidden, reads, dtype=dtype, scale=scale)
    weight_hh = randn(gen, hidden, hidden, dtype=dtype, scale=scale)
    bias_ih = randn(gen, hidden, dtype=dtype, scale=0.5) if biases in ("both", "ih") else None
    bias_hh = randn(gen, hidden, dtype=dtype, scale=0.5) if biases in ("both", "hh") else None
    return (weight_ih, weight_hh, bias_ih, bias_hh)


def _nonlinearity(args, flag):
    """Put the flag's nonlinearity into ``args`` (or leave the default); its text for the label."""
    if flag["nonlinearity"] == "default":
        return "nonlinearity=default (tanh)"
    args["nonlinearity"] = flag["nonlinearity"]
    return f"nonlinearity={flag['nonlinearity']!r}"


def _grad_names(args):
    return tuple(name for name, value in args.items() if value is not None and name not in ("nonlinearity", "lengths"))


def _shapes_and_flags(rng, seed, hidden, fixed, draw):
    """The fixed shapes with the seed's flags, then random ones (``draw(rng)``) with random flags."""
    shapes = list(fixed)
    flags = [_flags(i, seed) for i in range(len(shapes))]
    for _ in range(8 if hidden else 2):
        shapes.append(draw(rng))
        flags.append(_random_flags(rng))
    return zip(shapes, flags)


class ForwardPassCheck(Check):
    """A forward pass written from scratch, returning ``(outputs, h_n)``."""

    rules = forbidden.FROM_SCRATCH
    output_name = "(outputs, h_n)"


# ----------------------------------------------------------------------------- stacked_rnn_forward

# (B, T, D, H, L): one layer; B = 1; T = 1; D = H with h0 given (wrong inputs of upper layers compute);
# H = 1 with three layers.
STACKED_SHAPES = [(1, 1, 1, 1, 1), (1, 5, 3, 2, 2), (3, 1, 2, 4, 3), (2, 4, 3, 3, 2), (4, 6, 2, 1, 3)]


def _draw_stacked(rng):
    return rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 4)


class StackedRNNForwardCheck(ForwardPassCheck):
    name = "stacked_rnn_forward"
    summary = ("1 to 4 layers, B, T, D, H = 1 and D = H, float32 and float64, h0 given and None, "
               "biases given and None per layer, tanh and relu, gradients")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        cases = []
        for (B, T, D, H, L), flag in _shapes_and_flags(rng, seed, hidden, STACKED_SHAPES, _draw_stacked):
            dtype = flag["dtype"]
            biases = [flag["biases"]] + [BIASES[(seed + layer * 2) % len(BIASES)] for layer in range(1, L)]
            weights = [layer_weights(gen, D if layer == 0 else H, H, dtype, b) for layer, b in enumerate(biases)]
            h0 = randn(gen, L, B, H, dtype=dtype, scale=0.8) if flag["state"] else None
            args = {"x": randn(gen, B, T, D, dtype=dtype), "h0": h0, "weights": weights}
            activation = _nonlinearity(args, flag)
            cotangent = (randn(gen, B, T, H, dtype=dtype), randn(gen, L, B, H, dtype=dtype))
            label = (f"B={B}, T={T}, D={D}, H={H}, L={L}, {DTYPE_NAMES[dtype]}, "
                     f"h0={'given' if h0 is not None else 'None'}, "
                     f"per layer: {', '.join(BIAS_TEXT[b] for b in biases)}, {activation}")
            cases.append(Case(label=label, args=args, grad=_grad_names(args), cotangent=cotangent))
        return cases


# ----------------------------------------------------------------------------- bidirectional_rnn_forward


def _draw_sequence(rng):
    return rng.randint(1, 5), rng.randint(1, 7), rng.randint(1, 6), rng.randint(1, 6)


class BidirectionalRNNForwardCheck(ForwardPassCheck):
    name = "bidirectional_rnn_forward"
    summary = ("B, T, D, H = 1, float32 and float64, h0 given and None, biases given and None per direction, "
               "tanh and relu, gradients")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        cases = []
        for (B, T, D, H), flag in _shapes_and_flags(rng, seed, hidden, SEQUENCE_SHAPES, _draw_sequence):
            dtype = flag["dtype"]
            backward_biases = BIASES[(BIASES.index(flag["biases"]) + 1 + seed) % len(BIASES)]
            h0 = randn(gen, 2, B, H, dtype=dtype, scale=0.8) if flag["state"] else None
            args = {"x": randn(gen, B, T, D, dtype=dtype), "h0": h0,
                    "forward_weights": layer_weights(gen, D, H, dtype, flag["biases"]),
                    "backward_weights": layer_weights(gen, D, H, dtype, backward_biases)}
            activation = _nonlinearity(args, flag)
            cotangent = (randn(gen, B, T, 2 * H, dtype=dtype), randn(gen, 2, B, H, dtype=dtype))
            label = (f"B={B}, T={T}, D={D}, H={H}, {DTYPE_NAMES[dtype]}, h0={'given' if h0 is not None else 'None'}, "
                     f"forward: {BIAS_TEXT[flag['biases']]}, backward: {BIAS_TEXT[backward_biases]}, {activation}")
            cases.append(Case(label=label, args=args, grad=_grad_names(args), cotangent=cotangent))
        return cases


# ----------------------------------------------------------------------------- masked_rnn_forward

# (B, T, D, H) and lengths: one step; B = 1 with padding; T = 1; unsorted lengths with ties; H = 1.
MASKED_FIXED = [((1, 1, 1, 1), [1]), ((1, 5, 3, 2), [3]), ((3, 1, 2, 4), [1, 1, 1]),
                ((4, 6, 3, 3), [2, 6, 1, 4]), ((5, 4, 2, 1), [4, 1, 3, 3, 2])]


class MaskedRNNForwardCheck(ForwardPassCheck):
    name = "masked_rnn_forward"
    summary = ("lengths from 1 to T in any order, B, T, D, H = 1, float32 and float64, h0 given and None, "
               "biases given and None, gradients, lengths out of range (ValueError)")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [(shape, list(lengths)) for shape, lengths in MASKED_FIXED]
        for _ in range(8 if hidden else 2):
            B, T = rng.randint(1, 5), rng.randint(1, 7)
            plan.append(((B, T, rng.randint(1, 6), rng.randint(1, 6)), [rng.randint(1, T) for _ in range(B)]))
        flags = [_flags(i, seed) for i in range(len(MASKED_FIXED))] + [_random_flags(rng) for _ in plan[5:]]
        cases = [self._case(gen, shape, lengths, flag) for (shape, lengths), flag in zip(plan, flags)]
        for bad in ([0, 1], [2, 4], [-1, 3])[: 3 if hidden else 2]:  # lengths 0, T + 1 (T = 3), negative
            B, T = 2, 3
            rng.shuffle(bad)
            cases.append(self._case(gen, (B, T, 2, 2), bad, _random_flags(rng), error=True))
        return cases

    def _case(self, gen, shape, lengths, flag, error=False):
        B, T, D, H = shape
        dtype = flag["dtype"]
        weight_ih, weight_hh, bias_ih, bias_hh = layer_weights(gen, D, H, dtype, flag["biases"])
        args = {"x": randn(gen, B, T, D, dtype=dtype), "lengths": torch.tensor(lengths, dtype=torch.int64),
                "h0": randn(gen, B, H, dtype=dtype, scale=0.8) if flag["state"] else None,
                "weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
        if bias_ih is None and bias_hh is None and flag["nonlinearity"] == "relu":
            del args["bias_ih"], args["bias_hh"]  # rely on the defaults (in some cases, chosen by a flag)
        label = (f"B={B}, T={T}, D={D}, H={H}, lengths={lengths}{' (out of range)' if error else ''}, "
                 f"{DTYPE_NAMES[dtype]}, h0={'given' if args['h0'] is not None else 'None'}, "
                 f"{BIAS_TEXT[flag['biases']]}")
        if error:
            return Case(label=label, args=args)
        cotangent = (randn(gen, B, T, H, dtype=dtype), randn(gen, B, H, dtype=dtype))
        return Case(label=label, args=args, grad=_grad_names(args), cotangent=cotangent)


# ----------------------------------------------------------------------------- recurrent_parameter_count

MODES = ("RNN", "LSTM", "GRU")

# (mode, num_layers, bias, bidirectional, with a projection): what the visible cases always include.
COUNT_PLAN = [("LSTM", 1, True, False, True), ("GRU", 3, True, True, False), ("LSTM", 2, True, True, True),
              ("RNN", 2, False, True, False), ("LSTM", 3, False, False, True), ("RNN", 1, True, False, False)]
# Arguments that nn.RNN/LSTM/GRU refuse, as (mode, hidden_size, proj_size); "P" stands for a valid projection.
COUNT_ERRORS = [("RNN", 6, "P"), ("GRU", 5, "P"), ("LSTM", 4, 4), ("LSTM", 4, 7), ("LSTM", 5, -1), ("lstm", 5, 0),
                ("Transformer", 3, 0)]


class RecurrentParameterCountCheck(Check):
    name = "recurrent_parameter_count"
    # Building the module and summing p.numel() would answer without a thought: count from the shapes.
    rules = forbidden.Rules(functions=(("torch.nn.RNNBase.__init__ (building nn.RNN, nn.LSTM or nn.GRU)",
                                        nn.RNNBase.__init__),),
                            reason="this part counts the parameters from their shapes, without building the module")
    output_name = "the count"
    summary = ("RNN, LSTM and GRU, 1 to 4 layers, with and without biases, bidirectional, LSTM projections, "
               "default arguments, arguments PyTorch refuses (ValueError)")

    def cases(self, seed, hidden=False):
        rng, _ = generators(self.name, seed)
        plan = list(COUNT_PLAN)
        for _ in range(12 if hidden else 3):
            mode = rng.choice(MODES)
            plan.append((mode, rng.randint(1, 4), rng.random() < 0.7, rng.random() < 0.5,
                         mode == "LSTM" and rng.random() < 0.6))
        cases = [Case(label=self._label(args), args=args) for args in
                 [self._defaults(rng)] + [self._arguments(rng, *entry) for entry in plan]]
        errors = COUNT_ERRORS if hidden else [COUNT_ERRORS[i] for i in sorted(rng.sample(range(len(COUNT_ERRORS)), 4))]
        for mode, hidden_size, proj in errors:
            args = {"input_size": rng.randint(1, 20), "hidden_size": hidden_size, "num_layers": rng.randint(1, 3),
                    "bias": True, "mode": mode, "bidirectional": rng.random() < 0.5,
                    "proj_size": rng.randint(1, hidden_size - 1) if proj == "P" else proj}
            cases.append(Case(label=self._label(args) + " (refused by PyTorch)", args=args))
        return cases

    @staticmethod
    def _defaults(rng):
        return {"input_size": rng.randint(1, 40), "hidden_size": rng.randint(1, 40)}  # a one-layer RNN with biases

    @staticmethod
    def _arguments(rng, mode, layers, bias, bidirectional, projected):
        d, h = rng.randint(1, 40), rng.randint(2, 40)
        while h == d:
            h = rng.randint(2, 40)
        return {"input_size": d, "hidden_size": h, "num_layers": layers, "bias": bias, "mode": mode,
                "bidirectional": bidirectional, "proj_size": rng.randint(1, h - 1) if projected else 0}

    @staticmethod
    def _label(args):
        return ", ".join(f"{key}={value!r}" for key, value in args.items())


CHECKS = [StackedRNNForwardCheck(), BidirectionalRNNForwardCheck(), MaskedRNNForwardCheck(),
          RecurrentParameterCountCheck()]
