"""Checks of assignment 05, vanishing gradients: ``input_gradient_norms``,
``effective_memory_length``, ``saturation_stats``, ``clip_grad_norm_`` and
``temporal_activation_regularization``."""

from __future__ import annotations

import math

import torch
from torch import nn

from grader import reference as ref

from . import forbidden
from .core import (DTYPE_NAMES, Case, Check, Mistake, Outcome, compare_errors, compare_values, error_record,
                   generators, rand, randn, same_tensor_values, snapshot)

# ----------------------------------------------------------------------------- input_gradient_norms


class LeakyTanh:
    """A forward callable returning a plain tensor: h_t = decay * h_{t-1} + (1 - decay) * tanh(W x_t)."""

    def __init__(self, weight, decay):
        self.weight, self.decay = weight, decay

    def __call__(self, x):
        drive = torch.tanh(x @ self.weight.T)
        h = torch.zeros_like(drive[:, 0])
        states = []
        for t in range(x.shape[1]):
            h = self.decay * h + (1 - self.decay) * drive[:, t]
            states.append(h)
        return torch.stack(states, dim=1)


def _build_forward(data):
    if data["kind"] == "nn.RNN":
        rnn = nn.RNN(*data["sizes"], batch_first=True).to(data["dtype"])
        with torch.no_grad():
            for name, value in data["weights"].items():
                getattr(rnn, name).copy_(value)
        return rnn
    return LeakyTanh(data["weight"], data["decay"])


def _gradients(forward, x, reduce_loss):
    x = x.detach().clone().requires_grad_(True)
    outputs = forward(x)
    outputs = outputs[0] if isinstance(outputs, tuple) else outputs
    (gradient,) = torch.autograd.grad(reduce_loss(outputs), x)
    return gradient


class InputGradientNormsCheck(Check):
    name = "input_gradient_norms"
    reference = staticmethod(ref.input_gradient_norms)
    output_name = "the gradient norms"
    summary = "an nn.RNN (returns a tuple) and a plain function (returns a tensor), B and T = 1 and more, float32 and float64"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [("nn.RNN", 1, 1), ("function", 3, 6), ("nn.RNN", 4, 8), ("function", 1, 5), ("nn.RNN", 2, 3)]
        plan += [(rng.choice(["nn.RNN", "function"]), rng.randint(1, 5), rng.randint(1, 12)) for _ in range(6 if hidden else 1)]
        cases = []
        for i, (kind, B, T) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            D, H = rng.randint(1, 4), rng.randint(1, 5)
            data = {"kind": kind, "dtype": dtype}
            if kind == "nn.RNN":
                template = nn.RNN(D, H, batch_first=True)
                data["sizes"] = (D, H)
                data["weights"] = {n: randn(gen, *p.shape, dtype=dtype, scale=0.9) for n, p in template.named_parameters()}
            else:
                data["weight"] = randn(gen, H, D, dtype=dtype)
                data["decay"] = rng.choice([0.5, 0.8, 0.95])
            data["x"] = randn(gen, B, T, D, dtype=dtype)
            label = (f"forward = {'nn.RNN(' + str(D) + ', ' + str(H) + ', batch_first=True)' if kind == 'nn.RNN' else 'a function returning a (B, T, H) tensor'}"
                     f", x of shape (B={B}, T={T}, D={D}), {DTYPE_NAMES[dtype]}")
            cases.append(Case(label=label, args={}, data=data))
        return cases

    def call(self, fn, case, student):
        outcome = Outcome()
        forward = _build_forward(case.data)
        x = case.data["x"].clone()
        with forbidden.watching(self.rules if student else None) as seen:
            try:
                result = fn(forward, x)
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        outcome.facts = {"x unchanged": same_tensor_values(x, case.data["x"]) and not x.requires_grad and x.grad is None}
        outcome.value = snapshot(result)
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem:
            return problem
        if got.facts["x unchanged"] != expected.facts["x unchanged"]:
            return ("the caller's x was changed (its values, requires_grad or .grad): differentiate with "
                    "respect to a copy, x = x.detach().clone().requires_grad_(True).")
        return compare_values(self.output_name, got.value, expected.value)

    def mistakes(self):
        def every_step(forward, x):
            return _gradients(forward, x, lambda out: out.sum()).norm(dim=-1).mean(dim=0)

        def batch_sum(forward, x):
            return _gradients(forward, x, lambda out: out[:, -1].sum()).norm(dim=-1).sum(dim=0)

        def mean_loss(forward, x):
            return _gradients(forward, x, lambda out: out[:, -1].mean()).norm(dim=-1).mean(dim=0)

        def norm_over_batch(forward, x):
            return _gradients(forward, x, lambda out: out[:, -1].sum()).norm(dim=(0, 2))

        def caller_x(forward, x):
            x.requires_grad_(True)
            outputs = forward(x)
            outputs = outputs[0] if isinstance(outputs, tuple) else outputs
            (gradient,) = torch.autograd.grad(outputs[:, -1].sum(), x)
            return gradient.norm(dim=-1).mean(dim=0)

        return [
            Mistake("loss over every step",
                    "L is the sum of the outputs at the last step only, outputs[:, -1].sum(): the question is "
                    "how much the last output depends on each input.", every_step),
            Mistake("a sum over the batch where a mean was asked",
                    "each row of the batch is one trial: average the per-row norms over the batch, .mean(dim=0).",
                    batch_sum),
            Mistake("a mean where a sum was asked",
                    "L is the sum of the last step's outputs, outputs[:, -1].sum(), not their mean.", mean_loss),
            Mistake("norm taken over the batch too",
                    "take the norm over the features only (dim=-1), one per row and step, then average over "
                    "the batch.", norm_over_batch),
            Mistake("requires_grad set on the caller's x",
                    "work on a copy, x.detach().clone().requires_grad_(True): the caller's tensor must not "
                    "change.", caller_x),
        ]


# ----------------------------------------------------------------------------- effective_memory_length


class EffectiveMemoryLengthCheck(Check):
    name = "effective_memory_length"
    reference = staticmethod(ref.effective_memory_length)
    output_name = "the length"
    summary = "decaying and noisy norms, T = 1, all zeros, norms exactly at the threshold, several fractions"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        cases = []
        fixed = [
            ("geometric decay", torch.tensor([0.7 ** k for k in range(30)][::-1]), None),
            ("a norm exactly at the threshold", torch.tensor([0.25, 0.5, 1.0, 0.125, 2.0]), 0.125),
            ("T=1", torch.tensor([0.3]), None),
            ("all zeros", torch.zeros(4), None),
            ("noisy decay", (torch.linspace(-6, 0, 20).exp() * rand(gen, 20, low=0.5, high=1.5)), 0.05),
        ]
        for _ in range(6 if hidden else 2):
            T = rng.randint(1, 40)
            fixed.append(("random decay", torch.linspace(-rng.uniform(1, 9), 0, T).exp() * rand(gen, T, low=0.2, high=1.0),
                          rng.choice([None, 0.01, 0.1, 0.3])))
        for i, (kind, norms, fraction) in enumerate(fixed):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            args = {"gradient_norms": norms.to(dtype)}
            if fraction is not None:
                args["fraction"] = fraction
            label = f"{kind}, T={norms.numel()}, {DTYPE_NAMES[dtype]}, fraction={fraction if fraction is not None else 'default (0.01)'}"
            cases.append(Case(label=label, args=args))
        return cases

    def mistakes(self):
        return [
            Mistake("counted norms equal to the threshold",
                    "count the steps whose norm is strictly greater than fraction * max (>, not >=).",
                    lambda g, fraction=0.01: int((g >= fraction * g.max()).sum())),
            Mistake("threshold relative to the sum",
                    "the threshold is a fraction of the largest norm, fraction * max, not of the sum or mean.",
                    lambda g, fraction=0.01: int((g > fraction * g.sum()).sum())),
            Mistake("threshold relative to the mean",
                    "the threshold is a fraction of the largest norm, fraction * max, not of the mean.",
                    lambda g, fraction=0.01: int((g > fraction * g.mean()).sum())),
            Mistake("counted the steps below the threshold",
                    "the effective memory counts the steps that still matter: norms above the threshold.",
                    lambda g, fraction=0.01: int((g <= fraction * g.max()).sum())),
            Mistake("fraction ignored", "use the given fraction, not a fixed 1 %.",
                    lambda g, fraction=0.01: int((g > 0.01 * g.max()).sum())),
            Mistake("returned a tensor", "return a Python int: int(...) of the count.",
                    lambda g, fraction=0.01: (g > fraction * g.max()).sum()),
        ]


# ----------------------------------------------------------------------------- saturation_stats


class SaturationStatsCheck(Check):
    name = "saturation_stats"
    reference = staticmethod(ref.saturation_stats)
    output_name = "the stats"
    summary = "states of several shapes, saturated at +1 and -1, values exactly at the threshold, states that require grad"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        raw = [
            ("tanh states (B, T, H)", torch.tanh(3 * randn(gen, 2, 5, 3)), None, False),
            ("states near -1 only", -1 + 0.04 * rand(gen, 3, 4), None, True),
            ("values exactly at the threshold", torch.tensor([[0.5, -0.5, 0.25], [0.75, -0.9, 0.0]]), 0.5, False),
            ("a single state (1, 1, 1)", torch.tensor([[[0.99]]]), None, False),
            ("mixed signs, threshold 0.8", torch.tanh(2 * randn(gen, 4, 3, 2)), 0.8, True),
        ]
        for _ in range(6 if hidden else 2):
            shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
            raw.append(("random tanh states", torch.tanh(rng.uniform(0.5, 4) * randn(gen, *shape)),
                        rng.choice([None, 0.9, 0.95, 0.99]), rng.random() < 0.5))
        cases = []
        for i, (kind, states, threshold, needs_grad) in enumerate(raw):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            args = {"states": states.to(dtype)}
            if threshold is not None:
                args["threshold"] = threshold
            label = (f"{kind}, shape {tuple(states.shape)}, {DTYPE_NAMES[dtype]}, "
                     f"threshold={threshold if threshold is not None else 'default (0.95)'}"
                     + (", states.requires_grad=True" if needs_grad else ""))
            cases.append(Case(label=label, args=args, grad=("states",) if needs_grad else ()))
        return cases

    def mistakes(self):
        def stats(states, threshold=0.95, *, magnitude=True, strict=True, scale=1.0, signed_mean=False):
            s = states.detach()
            m = s.abs() if magnitude else s
            above = (m > threshold) if strict else (m >= threshold)
            return {"saturation_rate": scale * above.float().mean().item(),
                    "mean_abs": (s.mean() if signed_mean else s.abs().mean()).item(),
                    "max_abs": s.abs().max().item()}

        return [
            Mistake("|h| not taken",
                    "saturation happens at both ends, h near +1 and near -1: compare |h| with the threshold.",
                    lambda states, threshold=0.95: stats(states, threshold, magnitude=False)),
            Mistake("counted values equal to the threshold",
                    "a state counts as saturated when |h| is strictly greater than the threshold (>, not >=).",
                    lambda states, threshold=0.95: stats(states, threshold, strict=False)),
            Mistake("a percentage instead of a share",
                    "saturation_rate is a share between 0 and 1 (the mean of a boolean mask), not a percentage.",
                    lambda states, threshold=0.95: stats(states, threshold, scale=100.0)),
            Mistake("mean of h instead of mean of |h|",
                    "mean_abs is the mean of |h|; positive and negative states must not cancel.",
                    lambda states, threshold=0.95: stats(states, threshold, signed_mean=True)),
        ]


# ----------------------------------------------------------------------------- clip_grad_norm_

CLIP_RULES = forbidden.Rules(
    functions=tuple((f"torch.nn.utils.{name}", getattr(torch.nn.utils, name))
                    for name in ("clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm")
                    if hasattr(torch.nn.utils, name)),
    reason="the exercise is to write what torch.nn.utils.clip_grad_norm_ does",
)


class ClipGradNormCheck(Check):
    name = "clip_grad_norm_"
    reference = staticmethod(ref.clip_grad_norm_)
    rules = CLIP_RULES
    output_name = "the result"
    tolerance = (2e-5, 1e-7)  # the 1e-6 in max_norm / (total_norm + 1e-6) may be left out
    summary = "a list, a generator and a single tensor, norms above and below max_norm, p = 1, 2 and inf, " \
              "parameters without gradients"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [("list", [(3, 2), (4,)], 0.5, None, []), ("generator", [(2, 2), (5,), (1,)], 0.3, 2.0, [2]),
                ("single tensor", [(3, 4)], 1.0, None, []), ("list", [(2,), (3, 3)], 100.0, None, []),
                ("list", [(4,), (2, 2)], 0.5, math.inf, []), ("generator", [(3,), (3,)], 0.2, 1.0, []),
                ("list", [(2,), (2,)], 1.0, None, [0, 1])]
        for _ in range(6 if hidden else 1):
            n = rng.randint(1, 4)
            plan.append((rng.choice(["list", "generator"]), [tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2)))
                                                             for _ in range(n)],
                         rng.choice([0.1, 0.5, 2.0, 50.0]), rng.choice([None, 2.0, 1.0, math.inf]),
                         [rng.randrange(n)] if n > 1 and rng.random() < 0.3 else []))
        cases = []
        for i, (how, shapes, max_norm, norm_type, without_grad) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            values = [randn(gen, *s, dtype=dtype) for s in shapes]
            grads = [None if k in without_grad else randn(gen, *s, dtype=dtype) for k, s in enumerate(shapes)]
            label = (f"parameters as a {how} of shapes {shapes}"
                     + (f" (index {without_grad} without .grad)" if without_grad else "")
                     + f", {DTYPE_NAMES[dtype]}, max_norm={max_norm}, "
                     f"norm_type={norm_type if norm_type is not None else 'default (2.0)'}")
            cases.append(Case(label=label, args={}, data={"how": how, "values": values, "grads": grads,
                                                          "max_norm": max_norm, "norm_type": norm_type}))
        return cases

    def call(self, fn, case, student):
        outcome = Outcome()
        params = [nn.Parameter(v.clone()) for v in case.data["values"]]
        for p, g in zip(params, case.data["grads"]):
            p.grad = None if g is None else g.clone()
        how = case.data["how"]
        argument = params[0] if how == "single tensor" else (p for p in params) if how == "generator" else list(params)
        extra = () if case.data["norm_type"] is None else (case.data["norm_type"],)
        with forbidden.watching(self.rules if student else None, fn) as seen:
            try:
                result = fn(argument, case.data["max_norm"], *extra)
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        outcome.value = {"returned total norm": snapshot(result),
                         "gradients after the call": tuple(None if p.grad is None else p.grad.detach().clone()
                                                           for p in params)}
        outcome.facts = {"parameters unchanged": all(same_tensor_values(p.detach(), v)
                                                     for p, v in zip(params, case.data["values"]))}
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem:
            return problem
        if got.facts != expected.facts:
            return "the parameters' values changed: only their .grad may be rescaled."
        for key in ("returned total norm", "gradients after the call"):
            problem = compare_values(key, got.value[key], expected.value[key], self.tolerance)
            if problem:
                return problem
        return None

    def mistakes(self):
        def _grads(parameters):
            parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
            return [p.grad for p in parameters if p.grad is not None]

        def _norm(g, p):
            return torch.linalg.vector_norm(g, float(p))

        def _total(gs, p):
            norms = torch.stack([_norm(g, p) for g in gs])
            return norms.max() if math.isinf(p) else torch.linalg.vector_norm(norms, float(p))

        def per_parameter(parameters, max_norm, norm_type=2.0):
            gs = _grads(parameters)
            if not gs:
                return torch.tensor(0.0)
            total = _total(gs, norm_type)
            for g in gs:
                g.mul_(torch.clamp(max_norm / (_norm(g, norm_type) + 1e-6), max=1.0))
            return total

        def always_scales(parameters, max_norm, norm_type=2.0):
            gs = _grads(parameters)
            if not gs:
                return torch.tensor(0.0)
            total = _total(gs, norm_type)
            for g in gs:
                g.mul_(max_norm / (total + 1e-6))
            return total

        def returns_clipped_norm(parameters, max_norm, norm_type=2.0):
            parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
            ref.clip_grad_norm_(parameters, max_norm, norm_type)
            gs = _grads(parameters)
            return _total(gs, norm_type) if gs else torch.tensor(0.0)

        def iterates_twice(parameters, max_norm, norm_type=2.0):
            if isinstance(parameters, torch.Tensor):
                parameters = [parameters]
            gs = [p.grad for p in parameters if p.grad is not None]
            if not gs:
                return torch.tensor(0.0)
            total = _total(gs, norm_type)
            coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            for p in parameters:  # a generator is already exhausted here
                if p.grad is not None:
                    p.grad.mul_(coefficient)
            return total

        def norm_type_ignored(parameters, max_norm, norm_type=2.0):
            return ref.clip_grad_norm_(parameters, max_norm)

        return [
            Mistake("each gradient clipped on its own",
                    "the norm is taken over all gradients together, as if concatenated into one vector, and "
                    "every gradient is scaled by the same factor: the update keeps its direction.", per_parameter),
            Mistake("gradients scaled up below max_norm",
                    "clipping only ever shrinks: the factor is min(1, max_norm / (total_norm + 1e-6)).",
                    always_scales),
            Mistake("returned the norm after clipping",
                    "return the total norm measured before clipping (it is what you log to spot explosions).",
                    returns_clipped_norm),
            Mistake("parameters iterated twice",
                    "parameters may be a generator (model.parameters() is one), which can be read only once: "
                    "turn it into a list first.", iterates_twice),
            Mistake("norm_type ignored",
                    "use the p-norm given by norm_type (inf means the largest absolute entry).", norm_type_ignored),
        ]


# ----------------------------------------------------------------------------- temporal_activation_regularization


class TemporalActivationRegularizationCheck(Check):
    name = "temporal_activation_regularization"
    reference = staticmethod(ref.temporal_activation_regularization)
    output_name = "the penalty"
    summary = "B and H = 1 and more, T = 2 and more, float32 and float64, gradients, T = 1 rejected"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        shapes = [(1, 2, 1), (3, 5, 4), (2, 7, 1), (1, 3, 6), (2, 1, 3)]
        shapes += [(rng.randint(1, 4), rng.randint(2, 9), rng.randint(1, 5)) for _ in range(6 if hidden else 2)]
        cases = []
        for i, (B, T, H) in enumerate(shapes):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            beta = rng.choice([1.0, 0.5, 2.0, 1e-2])
            states = torch.tanh(randn(gen, B, T, H, dtype=dtype))
            cases.append(Case(label=f"states (B={B}, T={T}, H={H}), {DTYPE_NAMES[dtype]}, beta={beta}",
                              args={"states": states, "beta": beta}, grad=("states",),
                              cotangent=randn(gen, dtype=dtype)))
        return cases

    def mistakes(self):
        def diffs(states):
            return states[:, 1:] - states[:, :-1]

        return [
            Mistake("a sum where a mean was asked",
                    "TAR averages the squared differences over B, T-1 and H (.mean()), so its size does not "
                    "grow with the batch or the sequence length.",
                    lambda states, beta: beta * diffs(states).pow(2).sum()),
            Mistake("summed over the hidden units",
                    "average over every entry, including H: .pow(2).mean() over the whole (B, T-1, H) tensor, "
                    "not the squared norm of each step's difference averaged over B and T-1.",
                    lambda states, beta: beta * diffs(states).pow(2).sum(-1).mean()),
            Mistake("activity regularization instead",
                    "TAR penalizes the change from one step to the next, h_{t+1} - h_t, not the states "
                    "themselves (that is AR).", lambda states, beta: beta * states.pow(2).mean()),
            Mistake("absolute differences", "square the differences: (h_{t+1} - h_t)^2.",
                    lambda states, beta: beta * diffs(states).abs().mean()),
            Mistake("beta ignored", "scale the penalty by beta.", lambda states, beta: diffs(states).pow(2).mean()),
        ]


CHECKS = [InputGradientNormsCheck(), EffectiveMemoryLengthCheck(), SaturationStatsCheck(), ClipGradNormCheck(),
          TemporalActivationRegularizationCheck()]
