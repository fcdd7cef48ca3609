"""Checks of assignment 03, initialization: ``BridgedEncoderDecoder``, ``forget_bias_for_retention``,
``timescale_forget_bias_`` and ``critical_scale``.

Their reference implementations and known mistakes are in :mod:`grader.answers.initialization`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Check
from .compare import compare_errors, compare_tensors, compare_values
from .core import DTYPE_NAMES, Case, Outcome, error_record, generators, rand, randn, snapshot

# ----------------------------------------------------------------------------- BridgedEncoderDecoder


def _bridge_shapes(source_size, target_size, encoder_size, decoder_size, output_size):
    """name -> shape of every parameter of the model, in PyTorch's layout (LSTM 4 gate blocks, GRU 3)."""
    E, Dd = encoder_size, decoder_size
    return {
        "encoder.weight_ih_l0": (4 * E, source_size), "encoder.weight_hh_l0": (4 * E, E),
        "encoder.bias_ih_l0": (4 * E,), "encoder.bias_hh_l0": (4 * E,),
        "bridge.weight": (Dd, 2 * E), "bridge.bias": (Dd,),
        "decoder.weight_ih_l0": (3 * Dd, target_size), "decoder.weight_hh_l0": (3 * Dd, Dd),
        "decoder.bias_ih_l0": (3 * Dd,), "decoder.bias_hh_l0": (3 * Dd,),
        "readout.weight": (output_size, Dd), "readout.bias": (output_size,),
    }


def _layer_facts(layer, *names):
    return (type(layer).__name__ if layer is not None else "missing",
            tuple(getattr(layer, name, None) for name in names))


def _bridge_facts(model) -> dict:
    encoder, decoder = getattr(model, "encoder", None), getattr(model, "decoder", None)
    return {
        "encoder": _layer_facts(encoder, "input_size", "hidden_size", "num_layers", "bidirectional"),
        "encoder batch_first": bool(getattr(encoder, "batch_first", False)),
        "bridge": _layer_facts(getattr(model, "bridge", None), "in_features", "out_features"),
        "decoder": _layer_facts(decoder, "input_size", "hidden_size", "num_layers", "bidirectional"),
        "decoder batch_first": bool(getattr(decoder, "batch_first", False)),
        "readout": _layer_facts(getattr(model, "readout", None), "in_features", "out_features"),
    }


BRIDGE_FACTS = {
    "encoder": "self.encoder must be nn.LSTM(source_size, encoder_size, batch_first=True): expected {expected}, got {got}.",
    "encoder batch_first": "create the encoder with batch_first=True: sources are (B, S, source_size).",
    "bridge": ("self.bridge must be nn.Linear(2 * encoder_size, decoder_size): it maps the encoder's final "
               "[h, c] to the decoder's h_0. Expected {expected}, got {got}."),
    "decoder": "self.decoder must be nn.GRU(target_size, decoder_size, batch_first=True): expected {expected}, got {got}.",
    "decoder batch_first": "create the decoder with batch_first=True: target inputs are (B, T, target_size).",
    "readout": "self.readout must be nn.Linear(decoder_size, output_size): expected {expected}, got {got}.",
}


def _facts_problem(got: dict, expected: dict) -> str | None:
    for key, value in expected.items():
        if got.get(key) != value:
            return BRIDGE_FACTS[key].format(expected=value, got=got.get(key, "missing"))
    return None


class BridgedEncoderDecoderCheck(Check):
    name = "BridgedEncoderDecoder"
    output_name = "(forward(source, target_inputs), initial_state(other source))"
    summary = ("encoder and decoder of different sizes (and equal), sizes 1, B, S, T = 1, float32 and float64, "
               "outputs, initial states and the gradient of every parameter and of the source")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        # (source_size, target_size, encoder_size, decoder_size, output_size, B, S, T)
        plan = [(1, 1, 1, 1, 1, 1, 1, 1), (3, 2, 4, 6, 2, 2, 5, 3), (2, 1, 5, 2, 3, 3, 4, 6),
                (4, 3, 3, 3, 1, 1, 2, 4), (2, 2, 1, 4, 2, 4, 1, 2)]
        plan += [tuple(rng.randint(1, 6) for _ in range(5)) + (rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 6))
                 for _ in range(6 if hidden else 1)]
        cases = []
        for i, (Ds, Dt, E, Dd, O, B, S, T) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            shapes = _bridge_shapes(Ds, Dt, E, Dd, O)
            weights = {name: randn(gen, *shape, dtype=dtype, scale=0.7) for name, shape in shapes.items()}
            other_batch, other_length = rng.randint(1, 3), rng.randint(1, 4)
            cases.append(Case(
                label=(f"source_size={Ds}, target_size={Dt}, encoder_size={E}, decoder_size={Dd}, output_size={O}; "
                       f"source (B={B}, S={S}), target_inputs (B={B}, T={T}), {DTYPE_NAMES[dtype]}; "
                       f"initial_state of another source (B={other_batch}, S={other_length})"),
                args={"source_size": Ds, "target_size": Dt, "encoder_size": E, "decoder_size": Dd, "output_size": O},
                data={"weights": weights, "dtype": dtype,
                      "source": randn(gen, B, S, Ds, dtype=dtype), "target_inputs": randn(gen, B, T, Dt, dtype=dtype),
                      "other_source": randn(gen, other_batch, other_length, Ds, dtype=dtype),
                      "cotangent": randn(gen, B, T, O, dtype=dtype)},
            ))
        return cases

    def call(self, cls, case, student, substitutes=None):
        outcome = Outcome()
        with self.watching(cls, student, substitutes) as seen:
            try:
                model = cls(*case.args.values())
                outcome.facts = _bridge_facts(model)
                model.load_state_dict(case.data["weights"])
                model.to(case.data["dtype"])
                source = case.data["source"].clone().requires_grad_(True)
                outputs = model(source, case.data["target_inputs"].clone())
                initial = model.initial_state(case.data["other_source"].clone())
                outcome.grads = self._gradients(model, source, outputs, case.data["cotangent"])
                outcome.value = snapshot((outputs, initial))
            except Exception as exc:  # noqa: BLE001 - any error of the student's code is a result
                outcome.error = error_record(exc)
        outcome.forbidden = list(seen)
        return outcome

    @staticmethod
    def _gradients(model, source, outputs, cotangent) -> dict:
        """name -> gradient of sum(outputs * cotangent) for every parameter and for the source."""
        targets = dict(model.named_parameters())
        targets["source"] = source
        grads = {name: None for name in targets}
        if type(outputs) is torch.Tensor and outputs.shape == cotangent.shape and outputs.requires_grad:
            found = torch.autograd.grad((outputs * cotangent).sum(), list(targets.values()), allow_unused=True)
            grads.update({name: None if g is None else g.detach().clone() for name, g in zip(targets, found)})
        return grads

    def compare(self, case, got, expected):
        if got.error is not None and not got.facts:  # the constructor itself failed
            return "BridgedEncoderDecoder(...) " + compare_errors(None, got)
        problem = _facts_problem(got.facts, expected.facts) or compare_errors(expected.error, got)
        if problem:
            return problem
        if not isinstance(got.value, tuple) or len(got.value) != 2:
            return f"{self.output_name}: expected a pair of tensors, got {got.value!r}."
        names = ("forward(source, target_inputs)", "initial_state(other source), the decoder's h_0")
        for name, g, e in zip(names, got.value, expected.value):
            problem = compare_values(name, g, e)
            if problem:
                return problem
        for name, e in expected.grads.items():
            g = got.grads.get(name)
            if e is None:
                continue
            if g is None:
                return (f"no gradient reaches {name}: the decoder must start from the bridged state of the "
                        f"encoder, kept in the autograd graph (no .detach(), no torch.no_grad()).")
            problem = compare_tensors(f"gradient of the loss with respect to {name}", g, e)
            if problem:
                return problem + " (the outputs agree, so look at how the bridge is computed.)"
        return None


# ----------------------------------------------------------------------------- forget_bias_for_retention


class ForgetBiasForRetentionCheck(Check):
    name = "forget_bias_for_retention"
    output_name = "the bias b"
    summary = "one step and thousands, retention from 0.001 to 0.999, 0.5 in one step (b = 0), every invalid input"

    def cases(self, seed, hidden=False):
        rng, _ = generators(self.name, seed)
        plan = [(0.5, 1), (0.9, 1), (0.5, 10), (0.01, 100), (0.99, 1000), (0.2, 3), (0.999, 5000)]
        plan += [(round(rng.uniform(0.001, 0.999), 6), rng.choice([1, rng.randint(2, 50), rng.randint(51, 5000)]))
                 for _ in range(12 if hidden else 3)]
        invalid = [(0.0, 5), (1.0, 5), (1.25, 2), (-0.1, 2), (0.5, 0), (0.5, -4), (0.5, 2.5)]
        cases = [Case(label=f"retention={r}, steps={t}", args={"retention": r, "steps": t}) for r, t in plan]
        cases += [Case(label=f"retention={r}, steps={t!r} (invalid: ValueError)", args={"retention": r, "steps": t})
                  for r, t in invalid]
        return cases


# ----------------------------------------------------------------------------- timescale_forget_bias_

GATES = "ifgo"


def _lstm(spec: dict):
    """The module a case describes: an nn.LSTM (layers, directions, proj_size) or an nn.LSTMCell."""
    if spec["kind"] == "LSTMCell":
        return nn.LSTMCell(spec["input_size"], spec["hidden_size"])
    return nn.LSTM(spec["input_size"], spec["hidden_size"], spec["num_layers"], batch_first=True,
                   bidirectional=spec["bidirectional"], proj_size=spec["proj_size"])


def _describe_lstm(spec: dict) -> str:
    if spec["kind"] == "LSTMCell":
        return f"nn.LSTMCell({spec['input_size']}, {spec['hidden_size']})"
    extra = "".join(f", {key}={spec[key]}" for key, plain in (("bidirectional", False), ("proj_size", 0))
                    if spec[key] != plain)
    return f"nn.LSTM({spec['input_size']}, {spec['hidden_size']}, num_layers={spec['num_layers']}{extra})"


def _timescales(rng, H, dtype):
    """Time scales tau > 1 spread over orders of magnitude (tau - 1 log-uniform in [0.05, 500])."""
    return torch.tensor([1 + math.exp(rng.uniform(math.log(0.05), math.log(500))) for _ in range(H)], dtype=dtype)


INVALID_TIMESCALES = {
    "an entry equal to 1": lambda taus: torch.cat([taus.new_ones(1), taus[1:]]),
    "an entry below 1": lambda taus: torch.cat([taus[:-1], taus.new_full((1,), 0.5)]),
    "shape (H + 1,)": lambda taus: torch.cat([taus, taus[:1]]),
    "shape (1, H)": lambda taus: taus[None],
}


class TimescaleForgetBiasCheck(Check):
    name = "timescale_forget_bias_"
    output_name = "the LSTM's parameters after the call"
    summary = ("nn.LSTM with 1 to 3 layers, bidirectional, proj_size, nn.LSTMCell, H = 1, float32 and float64, "
               "time scales from 1.05 to 500, invalid time scales")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        # (kind, input_size, hidden_size, num_layers, bidirectional, proj_size, what is wrong with the time scales)
        plan = [("LSTM", 2, 1, 1, False, 0, None), ("LSTM", 3, 4, 2, False, 0, None), ("LSTM", 2, 3, 2, True, 0, None),
                ("LSTMCell", 3, 5, 1, False, 0, None), ("LSTM", 2, 4, 1, False, 2, None),
                ("LSTM", 1, 2, 3, False, 0, None)]
        plan += [(rng.choice(["LSTM", "LSTM", "LSTMCell"]), rng.randint(1, 4), rng.randint(1, 5), rng.randint(1, 3),
                  rng.random() < 0.4, 0, None) for _ in range(6 if hidden else 1)]
        plan += [("LSTM", 2, 3, 2, False, 0, problem) for problem in INVALID_TIMESCALES]
        cases = []
        for i, (kind, D, H, L, bidirectional, P, problem) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            spec = {"kind": kind, "input_size": D, "hidden_size": H, "num_layers": L, "bidirectional": bidirectional,
                    "proj_size": P}
            weights = {name: randn(gen, *p.shape, dtype=dtype, scale=0.5) for name, p in _lstm(spec).named_parameters()}
            taus = _timescales(rng, H, dtype if i % 3 else torch.float64)
            label = (f"{_describe_lstm(spec)}, {DTYPE_NAMES[dtype]}, timescales of shape {tuple(taus.shape)} "
                     f"({DTYPE_NAMES[taus.dtype]}) from {taus.min():.3g} to {taus.max():.3g}")
            if problem:
                taus = INVALID_TIMESCALES[problem](taus)
                label = f"{_describe_lstm(spec)}, {DTYPE_NAMES[dtype]}, timescales with {problem} (ValueError)"
            cases.append(Case(label=label, args={"timescales": taus},
                              data={"spec": spec, "weights": weights, "dtype": dtype}))
        return cases

    def call(self, fn, case, student, substitutes=None):
        outcome = Outcome()
        lstm = _lstm(case.data["spec"])
        lstm.load_state_dict(case.data["weights"])
        lstm.to(case.data["dtype"])
        parameters = dict(lstm.named_parameters())
        timescales = case.args["timescales"].clone()
        with self.watching(fn, student, substitutes) as seen:
            try:
                result = fn(lstm, timescales)
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
                result = None
        outcome.forbidden = list(seen)
        outcome.mutated = [] if torch.equal(timescales, case.args["timescales"]) else ["timescales"]
        now = dict(lstm.named_parameters())
        outcome.facts = {"returns the module": result is lstm,
                         "same parameters": now.keys() == parameters.keys()
                         and all(now[k] is p and p.requires_grad and p.grad_fn is None for k, p in parameters.items())}
        outcome.value = {name: p.detach().clone() for name, p in now.items()}
        return outcome

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem or expected.error is not None:
            return problem
        if got.mutated:
            return "modified `timescales` in place: compute new tensors from it instead."
        if not got.facts["same parameters"]:
            return ("the LSTM's parameters must stay the same nn.Parameter objects, leaves that require grad: "
                    "change their values in place under torch.no_grad() (an optimizer may already hold them).")
        H = case.data["spec"]["hidden_size"]
        for name, e in expected.value.items():
            g = got.value.get(name)
            if not name.startswith("bias_"):
                problem = compare_values(name, g, e)
                if problem:
                    return f"{problem} Only the biases change; the weights stay as they are."
                continue
            for k, gate in enumerate(GATES):
                rows = slice(k * H, (k + 1) * H)
                problem = compare_values(f"{name}, block {gate} (rows {k * H} to {(k + 1) * H - 1})",
                                         g[rows] if isinstance(g, torch.Tensor) and g.shape == e.shape else g,
                                         e[rows])
                if problem:
                    return problem
        if not got.facts["returns the module"]:
            return "return the module itself (modified in place), like torch.nn.init functions return their tensor."
        return None


# ----------------------------------------------------------------------------- critical_scale


def _with_radius(weight, radius):
    return weight * (radius / torch.linalg.eigvals(weight).abs().max())


def _symmetric(weight):
    return weight + weight.T


def _random_recurrent(gen, H, radius, gaussian, dtype):
    """(H, H) at spectral radius ``radius``: Gaussian, or else triangular with a strong upper triangle (far from
    normal: eigenvalues on the diagonal, singular values spread by the triangle)."""
    if gaussian:
        return _with_radius(randn(gen, H, H, dtype=dtype), radius)
    diagonal = rand(gen, H, dtype=dtype, low=0.3, high=1.0) * radius
    diagonal[0] = radius
    signs = torch.where(rand(gen, H, dtype=dtype) < 0.5, -1.0, 1.0).to(dtype)
    return torch.diag(diagonal * signs) + 2 * randn(gen, H, H, dtype=dtype).triu(1)


class CriticalScaleCheck(Check):
    """``torch.linalg.matrix_power`` is allowed: what the part teaches is the T-step gain ||W^T||_2 and its
    root, and the long horizons of the cases take W^T out of the floating-point range, which matrix_power alone
    does not survive (the mistake "W^steps out of floating-point range"). Forbidding it would only force a
    hand-written product of the same kind (and the forbidden-call rules watch Python functions, not torch's
    built-ins)."""

    name = "critical_scale"
    output_name = "c"
    summary = ("normal and non-normal matrices (the shear), 1x1, nilpotent, horizons from 1 step to 1000 "
               "(gains outside the floating-point range), every invalid input")

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        shear = [[0.9, 3.0], [0.0, 0.9]]  # chapter 5's: both eigenvalues 0.9, largest singular value above 3
        # (kind, the matrix in a dtype, steps in that dtype); long horizons take W^steps out of the dtype's range
        plan = [("shear [[0.9, 3], [0, 0.9]]", lambda dt: torch.tensor(shear, dtype=dt), lambda dt: 1),
                ("shear [[0.9, 3], [0, 0.9]]", lambda dt: torch.tensor(shear, dtype=dt), lambda dt: 10),
                ("shear [[0.9, 3], [0, 0.9]]", lambda dt: torch.tensor(shear, dtype=dt), lambda dt: 300),
                ("1x1 matrix", lambda dt: torch.tensor([[-0.7]], dtype=dt), lambda dt: 3),
                ("scaled rotation (normal)", lambda dt: torch.tensor([[0.78, -1.04], [1.04, 0.78]], dtype=dt),
                 lambda dt: 5),
                ("symmetric matrix (normal)", lambda dt: _symmetric(randn(gen, 4, 4, dtype=dt)), lambda dt: 7),
                ("strictly upper triangular matrix", lambda dt: randn(gen, 3, 3, dtype=dt).triu(1), lambda dt: 2),
                ("strictly upper triangular matrix, nilpotent at this power (ValueError)", lambda dt: randn(gen, 3, 3, dtype=dt).triu(1),
                 lambda dt: 3),
                ("Gaussian matrix at radius 3, a horizon where W^steps overflows", lambda dt: _with_radius(randn(gen, 5, 5, dtype=dt), 3.0),
                 lambda dt: 120 if dt == torch.float32 else 700),
                ("Gaussian matrix at radius 0.2, a horizon where W^steps underflows", lambda dt: _with_radius(randn(gen, 4, 4, dtype=dt), 0.2),
                 lambda dt: 90 if dt == torch.float32 else 500),
                ("zero matrix (ValueError)", lambda dt: torch.zeros(3, 3, dtype=dt), lambda dt: 4),
                ("non-square matrix (ValueError)", lambda dt: randn(gen, 2, 3, dtype=dt), lambda dt: 2),
                ("steps < 1 (ValueError)", lambda dt: randn(gen, 3, 3, dtype=dt), lambda dt: 0),
                ("steps < 1 (ValueError)", lambda dt: randn(gen, 3, 3, dtype=dt), lambda dt: -2)]
        for _ in range(10 if hidden else 2):
            H, radius, gaussian = rng.randint(2, 7), rng.choice([0.3, 0.9, 1.0, 1.5, 2.5]), rng.random() < 0.5
            steps = rng.choice([1, 2, rng.randint(3, 40), rng.randint(41, 1000)])
            plan.append((f"{'Gaussian matrix' if gaussian else 'triangular matrix with a strong upper triangle'} at radius {radius}",
                         lambda dt, H=H, r=radius, g=gaussian: _random_recurrent(gen, H, r, g, dt),
                         lambda dt, steps=steps: steps))
        cases = []
        for i, (kind, matrix, steps) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            weight, steps = matrix(dtype), steps(dtype)
            cases.append(Case(label=f"{kind}: shape {tuple(weight.shape)}, {DTYPE_NAMES[dtype]}, steps={steps}",
                              args={"weight": weight, "steps": steps}))
        return cases


CHECKS = [BridgedEncoderDecoderCheck(), ForgetBiasForRetentionCheck(), TimescaleForgetBiasCheck(),
          CriticalScaleCheck()]
