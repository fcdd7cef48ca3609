"""Checks of assignment 05, vanishing gradients: ``rnn_bptt``, ``numerical_gradient``,
``adaptive_clip_grad_`` and ``masked_temporal_activation_regularization``."""

from __future__ import annotations

import torch
from torch import nn

from grader import reference as ref

from . import forbidden
from .base import Check
from .compare import compare_errors, compare_outcomes, compare_values
from .core import DTYPE_NAMES, Case, Outcome, error_record, generators, rand, randn, same_tensor_values, snapshot
from .recurrent import recurrent_cases

# ----------------------------------------------------------------------------- rnn_bptt

GRADIENTS = ("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias")


class RNNBPTTCheck(Check):
    name = "rnn_bptt"
    rules = forbidden.BY_HAND
    output_name = "(" + ", ".join(GRADIENTS) + ")"
    summary = ("states from rnn_forward with and without biases, B, T, D and H = 1 and more, D = H, "
               "float32 and float64")

    def cases(self, seed, hidden=False):
        cases = []
        for forward in recurrent_cases(self.name, seed, hidden, gates=1, sequence=True):
            args = dict(forward.args)
            x, weight_ih, weight_hh = args["x"], args["weight_ih"], args["weight_hh"]
            h0 = args["h0"] if args["h0"] is not None else x.new_zeros(x.shape[0], weight_hh.shape[0])
            outputs, _ = ref.rnn_forward(x, h0, weight_ih, weight_hh, args.get("bias_ih"), args.get("bias_hh"))
            label = forward.label.replace("h0=None", "h0=zeros").replace("h0=given", "h0 random")
            cases.append(Case(label=label + " in the forward pass that made `outputs`",
                              args={"grad_outputs": forward.cotangent[0], "x": x, "h0": h0, "outputs": outputs,
                                    "weight_ih": weight_ih, "weight_hh": weight_hh}))
        return cases

    def compare(self, case, got, expected):
        problem = compare_outcomes(case, got, expected, output_name=self.output_name)
        prefix = self.output_name + "["
        if problem and problem.startswith(prefix):  # name the gradient rather than its index
            index = int(problem[len(prefix)])
            problem = GRADIENTS[index] + problem[len(prefix) + 2:]
        return problem


# ----------------------------------------------------------------------------- numerical_gradient


class ScalarFunction:
    """The f a numerical_gradient case differentiates, built from plain data; it counts its calls.

    Kinds: ``"rnn input"`` (x is the input sequence (B, T, D) of a small tanh RNN, f = sum(w * states)),
    ``"rnn weight"`` (x is its W_hh (H, H)), ``"polynomial"`` (a Python float: sum(a x^3 + b x^2 + c x)),
    ``"softplus"`` (sum of softplus(x * s) as a 0-dim tensor).
    """

    def __init__(self, data):
        self.data, self.calls = data, 0
        self.shape, self.dtype = tuple(data["x"].shape), data["x"].dtype

    def __call__(self, x):
        self.calls += 1
        if type(x) is not torch.Tensor or tuple(x.shape) != self.shape or x.dtype != self.dtype:
            got = f"shape {tuple(x.shape)}, {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"f expects a tensor of x's shape {self.shape} and dtype {self.dtype}, got {got}")
        d, kind = self.data, self.data["kind"]
        if kind == "polynomial":
            return float((d["a"] * x ** 3 + d["b"] * x ** 2 + d["c"] * x).sum())
        if kind == "softplus":
            return nn.functional.softplus(x * d["scale"]).sum()
        inputs, weight_hh = (x, d["weight_hh"]) if kind == "rnn input" else (d["inputs"], x)
        h, total = d["h0"], x.new_zeros(())
        for t in range(inputs.shape[1]):
            h = torch.tanh(inputs[:, t] @ d["weight_ih"].T + h @ weight_hh.T + d["bias"])
            total = total + (d["weights"][:, t] * h).sum()
        return total


def _function_data(kind, shape, dtype, gen):
    """The data of a ScalarFunction of ``kind`` whose argument has ``shape`` (its x included)."""
    if kind == "polynomial":
        return {"kind": kind, "x": randn(gen, *shape, dtype=dtype), "a": randn(gen, *shape, dtype=dtype, scale=0.5),
                "b": randn(gen, *shape, dtype=dtype), "c": randn(gen, *shape, dtype=dtype)}
    if kind == "softplus":
        return {"kind": kind, "x": randn(gen, *shape, dtype=dtype), "scale": randn(gen, *shape, dtype=dtype)}
    B, T, D, H = shape if kind == "rnn input" else (2, 3, 2, shape[0])
    data = {"kind": kind, "weight_ih": randn(gen, H, D, dtype=dtype, scale=0.8), "bias": randn(gen, H, dtype=dtype),
            "h0": randn(gen, B, H, dtype=dtype, scale=0.5), "weights": randn(gen, B, T, H, dtype=dtype)}
    weight_hh = randn(gen, H, H, dtype=dtype, scale=0.9 / H ** 0.5)
    inputs = randn(gen, B, T, D, dtype=dtype)
    if kind == "rnn input":
        return {**data, "x": inputs, "weight_hh": weight_hh}
    return {**data, "x": weight_hh, "inputs": inputs}


class NumericalGradientCheck(Check):
    name = "numerical_gradient"
    rules = forbidden.BY_HAND
    output_name = "the gradient"
    summary = ("f a polynomial (returning a float), a softplus sum and the loss of a tanh RNN of its input or its "
               "W_hh (0-dim tensors); x of 0 to 3 dimensions, float64 and float32, eps given and default")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        float32 = torch.float32
        plan = [("rnn input", (1, 3, 2, 2), None, torch.float64), ("polynomial", (), None, torch.float64),
                ("rnn weight", (3, 3), 1e-5, torch.float64), ("softplus", (2, 1, 3), None, torch.float64),
                ("polynomial", (1,), 1e-4, torch.float64), ("polynomial", (2, 3), 1e-2, float32)]
        for _ in range(6 if hidden else 2):
            kind = rng.choice(["polynomial", "softplus", "rnn input", "rnn weight"])
            shape = {"rnn input": (rng.randint(1, 2), rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 3)),
                     "rnn weight": (rng.randint(1, 4),) * 2}.get(kind, tuple(rng.randint(1, 3)
                                                                       for _ in range(rng.randint(0, 3))))
            plan.append((kind, shape, rng.choice([None, 1e-5, 1e-4]), torch.float64))
        cases = []
        for kind, shape, eps, dtype in plan:
            data = _function_data(kind, shape, dtype, gen)
            x = data["x"]
            label = (f"f = {kind} ({'a Python float' if kind == 'polynomial' else 'a 0-dim tensor'}), x of shape "
                     f"{tuple(x.shape)}, {DTYPE_NAMES[dtype]}, eps={eps if eps is not None else 'default (1e-6)'}")
            cases.append(Case(label=label, args={}, data={**data, "eps": eps}))
        return cases

    def call(self, fn, case, student, substitutes=None):
        outcome = Outcome()
        f = ScalarFunction(case.data)
        x = case.data["x"].clone()
        extra = () if case.data["eps"] is None else (case.data["eps"],)
        with self.watching(fn, student, substitutes) as seen:
            try:
                result = fn(f, x, *extra)
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        outcome.value = snapshot(result)
        outcome.facts = {"calls": f.calls, "x unchanged": same_tensor_values(x, case.data["x"])}
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem:
            return problem
        if got.facts["x unchanged"] != expected.facts["x unchanged"]:
            return "the caller's x was changed: work on a copy (x.detach().clone()) or restore every entry."
        problem = compare_values(self.output_name, got.value, expected.value)
        if problem:
            return problem
        if got.facts["calls"] != expected.facts["calls"]:
            return (f"f was called {got.facts['calls']} times; central differences take exactly 2 calls per entry "
                    f"of x: {expected.facts['calls']} here.")
        return None


# ----------------------------------------------------------------------------- adaptive_clip_grad_


def _parameters(data):
    """Fresh parameters with their gradients, and the argument as the case passes it (tensor, list, generator)."""
    params = [nn.Parameter(v.clone()) for v in data["values"]]
    for p, g in zip(params, data["grads"]):
        p.grad = None if g is None else g.clone()
    how = data["how"]
    argument = params[0] if how == "single tensor" else (p for p in params) if how == "generator" else list(params)
    return params, argument


# (how, [(weight shape, gradient scale or None for no .grad)], clipping, eps or None, float64?)
AGC_PLAN = [
    ("list", [((3, 2), 5.0), ((3,), 0.01)], 0.1, None, False),
    ("generator", [((2, 3, 2, 2), 1.0), ((2,), 1.0), ((), 3.0)], 0.5, 1e-2, True),
    ("single tensor", [((4, 3), 1.0)], 0.2, None, False),
    ("list", [((1, 1), 10.0), ((1,), None), ((2, 1), 0.1)], 1.0, None, True),
    ("generator", [((5,), 2.0), ((3, 4), 0.5)], 0.05, 1e-3, False),
    ("list", [((2, 2), 1e-3)], 100.0, None, True),
]


class AdaptiveClipGradCheck(Check):
    name = "adaptive_clip_grad_"
    output_name = "the result"
    summary = ("a list, a generator and a single tensor; 0-, 1-, 2- and 4-dimensional parameters, zero weights, "
               "gradients exactly at the limit, parameters without .grad, eps given and default, clipping <= 0 "
               "rejected")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = list(AGC_PLAN)
        for _ in range(6 if hidden else 1):
            shapes = [tuple(rng.randint(1, 4) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(1, 3))]
            plan.append((rng.choice(["list", "generator"]),
                         [(s, rng.choice([None, 0.01, 0.3, 3.0]) if k else 3.0) for k, s in enumerate(shapes)],
                         rng.choice([0.01, 0.1, 0.5]), rng.choice([None, 1e-3, 0.1]), rng.random() < 0.5))
        cases = []
        for how, specs, clipping, eps, wide in plan:  # the dtypes swap from one seed to the next
            dtype = torch.float64 if wide != (seed % 2 == 1) else torch.float32
            cases.append(self._case(gen, how, specs, clipping, eps, dtype))
        cases.append(self._exact(seed))
        cases += [self._case(gen, "list", [((2, 2), 1.0)], clipping, None, dtype=torch.float32)
                  for clipping in (0.0, -0.5)]
        return cases

    def _case(self, gen, how, specs, clipping, eps, dtype):
        values, grads, texts = [], [], []
        for k, (shape, scale) in enumerate(specs):
            zero = len(shape) == 1 and k == len(specs) - 1  # a bias initialized to 0: ||W|| floored at eps
            values.append(torch.zeros(shape, dtype=dtype) if zero else randn(gen, *shape, dtype=dtype))
            grads.append(None if scale is None else randn(gen, *shape, dtype=dtype, scale=scale))
            texts.append(f"{tuple(shape)}" + (" all zeros" if zero else "")
                         + (" without .grad" if scale is None else ""))
        what = (f"a single tensor of shape {texts[0]}" if how == "single tensor"
                else f"a {how} of shapes {', '.join(texts)}")
        return Case(label=f"parameters as {what}, {DTYPE_NAMES[dtype]}, clipping={clipping}, "
                          f"eps={eps if eps is not None else 'default (1e-3)'}",
                    args={}, data={"how": how, "values": values, "grads": grads, "clipping": clipping, "eps": eps})

    def _exact(self, seed):
        """Rows whose gradient norm equals the limit exactly (5 * 0.5 = 2.5), with one row above it."""
        dtype = (torch.float32, torch.float64)[seed % 2]
        weight = torch.tensor([[3.0, 4.0], [0.0, 5.0], [4.0, 3.0]], dtype=dtype)
        grad = torch.tensor([[1.5, 2.0], [2.5, 0.0], [3.0, 4.0]], dtype=dtype)
        return Case(label=f"a (3, 2) weight in a list whose rows 0 and 1 have ||G_i|| exactly at the limit "
                          f"0.5 * ||W_i|| = 2.5, {DTYPE_NAMES[dtype]}, clipping=0.5, eps=default (1e-3)",
                    args={}, data={"how": "list", "values": [weight], "grads": [grad], "clipping": 0.5, "eps": None})

    def call(self, fn, case, student, substitutes=None):
        outcome = Outcome()
        params, argument = _parameters(case.data)
        extra = () if case.data["eps"] is None else (case.data["eps"],)
        with self.watching(fn, student, substitutes) as seen:
            try:
                result = fn(argument, case.data["clipping"], *extra)
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        outcome.value = {"returned count": snapshot(result),
                         "gradients after the call": tuple(None if p.grad is None else p.grad.detach().clone()
                                                           for p in params)}
        outcome.facts = {"parameters unchanged": all(same_tensor_values(p.detach(), v)
                                                     for p, v in zip(params, case.data["values"]))}
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem or expected.error is not None:
            return problem
        if got.facts != expected.facts:
            return "the parameters' values changed: only their .grad may be rescaled."
        for key in ("gradients after the call", "returned count"):
            problem = compare_values(key, got.value[key], expected.value[key])
            if problem:
                return problem
        return None


# ------------------------------------------------------------------ masked_temporal_activation_regularization


class MaskedTARCheck(Check):
    name = "masked_temporal_activation_regularization"
    output_name = "the penalty"
    summary = ("padded rows of random lengths (padding holding other values), B, T and H = 1 and more, no row with "
               "two steps, float32 and float64, gradients; lengths of 0, above T, of the wrong shape or dtype rejected")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [((1, 2, 1), [2]), ((3, 5, 4), [5, 2, 4]), ((2, 6, 1), [1, 6]), ((4, 3, 2), [1, 1, 1, 1]),
                ((1, 1, 3), [1]), ((3, 7, 2), [7, 7, 3])]
        for _ in range(6 if hidden else 2):
            B, T = rng.randint(1, 4), rng.randint(1, 9)
            plan.append(((B, T, rng.randint(1, 5)), [rng.randint(1, T) for _ in range(B)]))
        cases = [self._case(gen, rng, shape, torch.tensor(lengths), (torch.float32, torch.float64)[(i + seed) % 2])
                 for i, (shape, lengths) in enumerate(plan)]
        bad = [("a length of 0", torch.tensor([3, 0])), ("a length above T = 3", torch.tensor([4, 2])),
               ("lengths of shape (3,) for B = 2", torch.tensor([3, 2, 1])),
               ("float lengths", torch.tensor([3.0, 2.0]))]
        for what, lengths in bad:
            case = self._case(gen, rng, (2, 3, 2), lengths, torch.float64)
            case.label = f"{what}: ValueError expected; " + case.label
            cases.append(case)
        return cases

    def _case(self, gen, rng, shape, lengths, dtype):
        B, T, H = shape
        states = torch.tanh(randn(gen, B, T, H, dtype=dtype))
        padding = rand(gen, B, T, H, dtype=dtype, low=-3.0, high=3.0)  # whatever the padded steps hold
        real = torch.arange(T)[None, :] < lengths.reshape(-1)[:B, None]
        states = torch.where(real[..., None], states, padding)
        beta = rng.choice([1.0, 0.5, 2.0, 1e-2])
        return Case(label=f"states (B={B}, T={T}, H={H}), lengths {lengths.tolist()}, {DTYPE_NAMES[dtype]}, "
                          f"beta={beta}",
                    args={"states": states, "lengths": lengths, "beta": beta}, grad=("states",),
                    cotangent=randn(gen, dtype=dtype))


CHECKS = [RNNBPTTCheck(), NumericalGradientCheck(), AdaptiveClipGradCheck(), MaskedTARCheck()]
