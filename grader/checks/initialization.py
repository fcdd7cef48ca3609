"""Checks of assignment 03, initialization: ``LearnedInitialStateRNN``, ``identity_init_``,
``spectral_radius`` and ``scale_to_spectral_radius``."""

from __future__ import annotations

import torch
from torch import nn

from grader import reference as ref

from . import forbidden
from .core import (DTYPE_NAMES, Case, Check, Mistake, Outcome, compare_errors, compare_tensors, compare_values,
                   error_record, generators, randn, snapshot)

# ----------------------------------------------------------------------------- LearnedInitialStateRNN


def _module_facts(model, num_layers, hidden_size):
    rnn = getattr(model, "rnn", None)
    h0 = getattr(model, "h0", None)
    return {
        "rnn": type(rnn).__qualname__ if rnn is not None else "missing",
        "batch_first": bool(getattr(rnn, "batch_first", False)),
        "rnn sizes": (getattr(rnn, "input_size", None), getattr(rnn, "hidden_size", None),
                      getattr(rnn, "num_layers", None)),
        "h0 is a parameter": isinstance(h0, nn.Parameter) and any(p is h0 for p in model.parameters()),
        "h0 shape": tuple(h0.shape) if isinstance(h0, torch.Tensor) else None,
        "h0 starts at zero": bool(isinstance(h0, torch.Tensor) and (h0 == 0).all()),
    }


FACT_MESSAGES = {
    "rnn": "self.rnn must be a torch.nn.RNN (got {got}).",
    "batch_first": "create the layer with batch_first=True: inputs are (B, T, D).",
    "rnn sizes": "self.rnn must be nn.RNN(input_size, hidden_size, num_layers, ...): expected sizes {expected}, got {got}.",
    "h0 is a parameter": ("h0 must be an nn.Parameter assigned to self.h0, so that it appears in "
                          "model.parameters() and the optimizer trains it."),
    "h0 shape": "h0 must have shape (num_layers, 1, hidden_size) = {expected}, got {got}.",
    "h0 starts at zero": ("h0 must start at zero (torch.zeros), so that an untrained model behaves "
                          "like one with the default zero initial state."),
}


def compare_facts(got: dict, expected: dict) -> str | None:
    for key, value in expected.items():
        if got.get(key) != value:
            return FACT_MESSAGES[key].format(expected=value, got=got.get(key))
    return None


class _H0Buffer(ref.LearnedInitialStateRNN):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__(input_size, hidden_size, num_layers)
        del self.h0
        self.register_buffer("h0", torch.zeros(num_layers, 1, hidden_size))


class _IgnoresH0(ref.LearnedInitialStateRNN):
    def forward(self, x):
        return self.rnn(x)


class _NotExpanded(ref.LearnedInitialStateRNN):
    def forward(self, x):
        return self.rnn(x, self.h0)


class _RandomH0(ref.LearnedInitialStateRNN):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__(input_size, hidden_size, num_layers)
        with torch.no_grad():
            self.h0.normal_()


class _H0WithoutLayers(ref.LearnedInitialStateRNN):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__(input_size, hidden_size, num_layers)
        self.h0 = nn.Parameter(torch.zeros(1, 1, hidden_size))

    def initial_state(self, batch_size):
        return self.h0.expand(self.rnn.num_layers, batch_size, -1).contiguous()


class LearnedInitialStateCheck(Check):
    name = "LearnedInitialStateRNN"
    reference = ref.LearnedInitialStateRNN
    output_name = "(outputs, h_n, initial_state(B'))"
    summary = "1 to 3 layers, B = 1 and more, float32 and float64, the gradient reaching h0"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [(1, 2, 1, 1, 1), (3, 4, 2, 5, 6), (2, 3, 1, 4, 3), (1, 1, 3, 2, 4)]
        plan += [(rng.randint(1, 5), rng.randint(1, 6), rng.randint(1, 3), rng.randint(1, 5), rng.randint(1, 7))
                 for _ in range(6 if hidden else 1)]
        cases = []
        for i, (D, H, L, B, T) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            template = nn.RNN(D, H, L, batch_first=True)
            weights = {name: randn(gen, *p.shape, dtype=dtype, scale=0.6) for name, p in template.named_parameters()}
            args = {"input_size": D, "hidden_size": H, "num_layers": L}
            if L == 1 and i % 2 == 0:
                del args["num_layers"]
            other_batch = rng.randint(1, 4)
            cases.append(Case(
                label=f"input_size={D}, hidden_size={H}, num_layers={L}{' (default)' if 'num_layers' not in args else ''}, "
                      f"x of shape (B={B}, T={T}, D={D}), {DTYPE_NAMES[dtype]}, initial_state({other_batch})",
                args=args,
                data={"weights": weights, "h0": randn(gen, L, 1, H, dtype=dtype), "x": randn(gen, B, T, D, dtype=dtype),
                      "dtype": dtype, "other_batch": other_batch,
                      "cotangents": (randn(gen, B, T, H, dtype=dtype), randn(gen, L, B, H, dtype=dtype))},
            ))
        return cases

    def call(self, cls, case, student):
        outcome = Outcome()
        with forbidden.watching(self.rules if student else None) as seen:
            try:
                model = cls(*case.args.values())
                outcome.facts = _module_facts(model, case.args.get("num_layers", 1), case.args["hidden_size"])
                with torch.no_grad():
                    for name, value in case.data["weights"].items():
                        getattr(model.rnn, name).copy_(value)
                    model.h0.copy_(case.data["h0"])
                model.to(case.data["dtype"])
                outputs, h_n = model(case.data["x"].clone())
                initial = model.initial_state(case.data["other_batch"])
                targets = {"h0": model.h0, "rnn.weight_hh_l0": model.rnn.weight_hh_l0}
                targets = {k: t for k, t in targets.items() if isinstance(t, torch.Tensor) and t.requires_grad}
                outcome.grads = {"h0": None, "rnn.weight_hh_l0": None}
                loss_terms = [(o * c).sum() for o, c in zip((outputs, h_n), case.data["cotangents"])
                              if type(o) is torch.Tensor and o.shape == c.shape and o.requires_grad]
                if loss_terms and targets:
                    grads = torch.autograd.grad(sum(loss_terms), list(targets.values()), allow_unused=True)
                    outcome.grads.update({k: None if g is None else g.detach().clone()
                                          for k, g in zip(targets, grads)})
                outcome.value = snapshot((outputs, h_n, initial))
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
        outcome.forbidden = list(seen)
        return outcome

    def compare(self, case, got, expected):
        if got.error is not None and got.facts:
            problem = compare_facts(got.facts, expected.facts)
            if problem:
                return problem
        if got.error is not None and not got.facts:  # the constructor itself failed
            return "LearnedInitialStateRNN(...) " + compare_errors(None, got)
        problem = compare_errors(expected.error, got) or compare_facts(got.facts, expected.facts)
        if problem:
            return problem
        names = ("outputs", "h_n", f"initial_state({case.data['other_batch']})")
        if not isinstance(got.value, tuple) or len(got.value) != 3:
            return "forward(x) must return the pair (outputs, h_n) that self.rnn returns."
        for name, g, e in zip(names, got.value, expected.value):
            problem = compare_values(name, g, e)
            if problem:
                return problem
        for name, e in expected.grads.items():
            g = got.grads.get(name)
            if e is None:
                continue
            if g is None:
                return (f"no gradient reaches {name}: forward must run self.rnn from the learned h0 "
                        f"(expanded over the batch), keeping it in the autograd graph.")
            problem = compare_tensors(f"gradient with respect to {name}", g, e)
            if problem:
                return problem + " (each sequence in the batch adds its own gradient to the shared h0.)"
        return None

    def mistakes(self):
        return [
            Mistake("h0 not a parameter",
                    "a buffer or plain tensor is never trained: use self.h0 = nn.Parameter(torch.zeros(...)).",
                    _H0Buffer),
            Mistake("h0 ignored in forward",
                    "pass the learned state to the layer: self.rnn(x, self.initial_state(x.shape[0])).",
                    _IgnoresH0),
            Mistake("h0 not expanded over the batch",
                    "nn.RNN wants h_0 of shape (num_layers, B, H): expand the (num_layers, 1, H) parameter "
                    "with self.h0.expand(-1, B, -1).", _NotExpanded, error_pattern="(?i)hidden size|size|shape"),
            Mistake("h0 starts random",
                    "initialize h0 with zeros, so that the untrained model matches a zero initial state.",
                    _RandomH0),
            Mistake("one h0 for all layers",
                    "each layer has its own initial state: h0 is (num_layers, 1, H).", _H0WithoutLayers),
        ]


# ----------------------------------------------------------------------------- identity_init_


class IdentityInitCheck(Check):
    name = "identity_init_"
    reference = staticmethod(ref.identity_init_)
    output_name = "weight_hh after the call"
    summary = "H from 1 up, gains, float32 and float64, plain tensors and nn.Parameters, non-square input"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [(1, None, True), (4, 2.0, True), (3, None, False), (5, 0.5, False), ((2, 3), 1.0, True)]
        plan += [(rng.randint(1, 8), rng.choice([None, 0.25, 1.0, 1.5, 3.0]), rng.random() < 0.5)
                 for _ in range(6 if hidden else 2)]
        cases = []
        for i, (size, gain, parameter) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            shape = size if isinstance(size, tuple) else (size, size)
            args = {"weight_hh": randn(gen, *shape, dtype=dtype)}
            if gain is not None:
                args["gain"] = gain
            label = (f"weight_hh {'nn.Parameter' if parameter else 'tensor'} of shape {shape}, "
                     f"{DTYPE_NAMES[dtype]}, gain={gain if gain is not None else 'default (1.0)'}")
            cases.append(Case(label=label, args=args, data={"parameter": parameter}))
        return cases

    def call(self, fn, case, student):
        outcome = Outcome()
        weight = case.args["weight_hh"].clone()
        if case.data["parameter"]:
            weight = nn.Parameter(weight)
        with forbidden.watching(self.rules if student else None) as seen:
            try:
                result = fn(weight, *list(case.args.values())[1:])
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        if outcome.error is None:
            outcome.facts = {"returns weight_hh": result is weight,
                             "still a leaf": weight.grad_fn is None and weight.requires_grad == case.data["parameter"]}
            outcome.value = weight.detach().clone()
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem or expected.error is not None:
            return problem
        if got.facts["still a leaf"] != expected.facts["still a leaf"]:
            return ("weight_hh is no longer a leaf tensor (or its requires_grad changed): change its values "
                    "under torch.no_grad(), e.g. with weight_hh.copy_(...).")
        problem = compare_values("weight_hh after the call", got.value, expected.value)
        if problem:
            return problem
        if got.facts["returns weight_hh"] != expected.facts["returns weight_hh"]:
            return "return weight_hh itself (the same tensor, modified in place), like torch.nn.init functions."
        return None

    def mistakes(self):
        def not_in_place(weight_hh, gain=1.0):
            return gain * torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype)

        def gain_ignored(weight_hh, gain=1.0):
            return ref.identity_init_(weight_hh)

        def diagonal_only(weight_hh, gain=1.0):
            with torch.no_grad():
                weight_hh.fill_diagonal_(gain)
            return weight_hh

        def without_no_grad(weight_hh, gain=1.0):
            weight_hh.copy_(gain * torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype))
            return weight_hh

        return [
            Mistake("not in place",
                    "the function must change weight_hh itself (weight_hh.copy_(...) under torch.no_grad()) "
                    "and return it; a new tensor leaves the layer's weight untouched.", not_in_place),
            Mistake("gain ignored", "the identity is scaled by gain: W_hh = gain * I.", gain_ignored),
            Mistake("only the diagonal set",
                    "the off-diagonal entries must become 0 too: copy the whole matrix gain * I.", diagonal_only),
            Mistake("torch.no_grad() missing",
                    "an in-place change of a parameter that requires grad must happen under torch.no_grad().",
                    without_no_grad, error_pattern="(?i)leaf"),
        ]


# ----------------------------------------------------------------------------- spectral_radius


def _spectral_cases(name, seed, hidden, with_radius):
    rng, gen = generators(name, seed)
    kinds = ["gaussian", "rotation", "negative diagonal", "triangular", "1x1", "zero"]
    if not with_radius:
        kinds.append("non-square")
    kinds += ["gaussian"] * (6 if hidden else 2)
    cases = []
    for i, kind in enumerate(kinds):
        dtype = (torch.float32, torch.float64)[(i + seed) % 2]
        H = rng.randint(2, 7)
        if kind == "gaussian":
            w = randn(gen, H, H, dtype=dtype)
        elif kind == "rotation":  # complex eigenvalues +- i*a: the real parts are all 0
            a = 0.5 + rng.random()
            w = torch.tensor([[0.0, -a], [a, 0.0]], dtype=dtype) + 0.1 * randn(gen, 2, 2, dtype=dtype).triu(1)
        elif kind == "negative diagonal":
            w = torch.diag(torch.tensor([-1.7, 0.4, 1.1], dtype=dtype))
        elif kind == "triangular":  # eigenvalues on the diagonal, but far from the singular values
            w = torch.diag(torch.tensor([0.5, -0.3, 0.2], dtype=dtype)) + 2 * randn(gen, 3, 3, dtype=dtype).triu(1)
        elif kind == "1x1":
            w = randn(gen, 1, 1, dtype=dtype)
        elif kind == "zero":
            w = torch.zeros(3, 3, dtype=dtype)
        else:
            w = randn(gen, 2, 3, dtype=dtype)
        args = {"weight": w}
        label = f"{kind} matrix of shape {tuple(w.shape)}, {DTYPE_NAMES[dtype]}"
        if with_radius:
            radius = rng.choice([0.5, 0.9, 1.0, 1.5, 2.0])
            args["radius"] = radius
            label += f", radius={radius}"
        cases.append(Case(label=label, args=args))
    return cases


class SpectralRadiusCheck(Check):
    name = "spectral_radius"
    reference = staticmethod(ref.spectral_radius)
    output_name = "rho"
    summary = "Gaussian, rotation (complex eigenvalues), triangular, diagonal, zero and 1x1 matrices, non-square input"

    def cases(self, seed, hidden=False):
        return _spectral_cases(self.name, seed, hidden, with_radius=False)

    def mistakes(self):
        return [
            Mistake("largest singular value",
                    "the spectral norm max sigma_i is not the spectral radius max |lambda_i|; they agree only "
                    "for normal (e.g. symmetric) matrices. Use the eigenvalues: torch.linalg.eigvals.",
                    lambda weight: torch.linalg.matrix_norm(weight, ord=2)),
            Mistake("largest real eigenvalue",
                    "eigenvalues can be negative or complex: take the largest magnitude, "
                    "torch.linalg.eigvals(W).abs().max().", lambda weight: torch.linalg.eigvals(weight).real.max()),
            Mistake("magnitude of the real part only",
                    "complex eigenvalues count with their full magnitude |a + bi| = sqrt(a^2 + b^2): use .abs() "
                    "on the complex eigenvalues.", lambda weight: torch.linalg.eigvals(weight).real.abs().max()),
            Mistake("eigvalsh on a non-symmetric matrix",
                    "torch.linalg.eigvalsh assumes a symmetric matrix and reads only one triangle; W_hh is not "
                    "symmetric: use torch.linalg.eigvals.", lambda weight: torch.linalg.eigvalsh(weight).abs().max()),
        ]


class ScaleToSpectralRadiusCheck(Check):
    name = "scale_to_spectral_radius"
    reference = staticmethod(ref.scale_to_spectral_radius)
    substitutes = {"spectral_radius": ref.spectral_radius}
    output_name = "the rescaled matrix"
    summary = "Gaussian, rotation, triangular, diagonal and 1x1 matrices, several radii, the zero matrix"

    def cases(self, seed, hidden=False):
        return _spectral_cases(self.name, seed, hidden, with_radius=True)

    def mistakes(self):
        def in_place(weight, radius):
            return weight.mul_(radius / ref.spectral_radius(weight))

        return [
            Mistake("divided by the largest singular value",
                    "rescale by the spectral radius (largest |eigenvalue|), not the spectral norm: "
                    "W * (radius / rho(W)).",
                    lambda weight, radius: weight * (radius / torch.linalg.matrix_norm(weight, ord=2))),
            Mistake("ratio inverted", "multiply by radius / rho(W), not rho(W) / radius.",
                    lambda weight, radius: weight * (ref.spectral_radius(weight) / radius)),
            Mistake("radius ignored",
                    "W / rho(W) has spectral radius 1; multiply by radius to reach the target.",
                    lambda weight, radius: weight / ref.spectral_radius(weight)),
            Mistake("modified weight in place", "return a new tensor; the caller's weight must stay unchanged.",
                    in_place),
        ]


CHECKS = [LearnedInitialStateCheck(), IdentityInitCheck(), SpectralRadiusCheck(), ScaleToSpectralRadiusCheck()]
