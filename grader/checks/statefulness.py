"""Checks of assignment 04, statefulness: ``reset_rows``, ``forward_with_resets``, ``truncated_forward`` and
``pack_documents``.

``forward_with_resets`` and ``truncated_forward`` receive a PyTorch recurrent module: their cases hold its
sizes and weights as plain data, and their ``call`` step builds the module, runs the function and records
the outputs, the final state and the gradients of a weighted loss with respect to ``x``, the incoming state
and every parameter.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Check
from .compare import compare_errors, compare_tensors, compare_values, describe
from .core import (DTYPE_NAMES, Case, Outcome, _flatten_tensors, clone_arg, error_record, generators, mutated_args,
                   randn, snapshot)

MODES = ("RNN", "LSTM", "GRU")
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
DTYPES = (torch.float32, torch.float64)


def _random_state(gen, mode, layers, B, H, dtype):
    """A state in the format of ``nn.<mode>``: ``(layers, B, H)``, a pair for an LSTM."""
    if mode == "LSTM":
        return (randn(gen, layers, B, H, dtype=dtype, scale=0.8), randn(gen, layers, B, H, dtype=dtype))
    return randn(gen, layers, B, H, dtype=dtype, scale=0.8)


def _like(gen, value):
    """Random weights with the structure of ``value`` (tensors, tuples of them, None)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_like(gen, v) for v in value)
    return randn(gen, *value.shape, dtype=value.dtype)


def _describe_state(state) -> str:
    if state is None:
        return "state=None"
    if isinstance(state, tuple):
        return f"state=(h, c), each {tuple(state[0].shape)}"
    return f"state {tuple(state.shape)}"


def _compare_grads(got: Outcome, expected: Outcome, hint: str) -> str | None:
    """Gradients by name; a missing gradient counts as zeros (a detached or reset state gets none)."""
    for name in sorted(set(expected.grads) | set(got.grads)):
        want, have = expected.grads.get(name), got.grads.get(name)
        if want is None and have is None:
            continue
        if want is None:
            if type(have) is torch.Tensor and bool((have != 0).any()):
                return f"a gradient reaches `{name}`, and none should. {hint}"
            continue
        if have is None:
            if bool((want != 0).any()):
                return (f"no gradient reaches `{name}`: autograd cannot follow your computation there "
                        f"(avoid .detach(), .data, torch.no_grad() and in-place writes where the gradient must flow).")
            continue
        problem = compare_tensors(f"gradient of the loss with respect to `{name}`", have, want)
        if problem:
            return f"{problem} {hint}"
    return None


def _compare_named(names: tuple, got, expected) -> str | None:
    """A returned tuple compared item by item, each under its own name."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        return f"expected a tuple ({', '.join(names)}), got {describe(got)}."
    for name, g, e in zip(names, got, expected):
        problem = compare_values(name, g, e)
        if problem:
            return problem
    return None


# ----------------------------------------------------------------------------- reset_rows


def _mask(rng, B, pattern):
    if pattern == "all":
        return torch.ones(B, dtype=torch.bool)
    if pattern == "none":
        return torch.zeros(B, dtype=torch.bool)
    mask = torch.tensor([rng.random() < 0.5 for _ in range(B)], dtype=torch.bool)
    if B > 1:  # mixed: at least one row reset and one kept
        mask[rng.randrange(B)] = True
        kept = rng.choice([b for b in range(B) if b != int(mask.nonzero()[0])])
        mask[kept] = False
    return mask


def _bad_mask(rng, B, kind):
    """A mask reset_rows must refuse: the wrong dtype or shape."""
    good = _mask(rng, B, "mixed")
    return {"float": good.to(torch.float32), "int": good.to(torch.int64), "short": good[:-1],
            "one": good[:1], "column": good[:, None]}[kind]


class ResetRowsCheck(Check):
    name = "reset_rows"
    output_name = "the returned state"
    summary = ("RNN/GRU states and LSTM pairs, 1 to 3 layers, B = 1 and more, None, no/some/all rows reset, "
               "float32 and float64, gradients of the kept rows, masks of the wrong dtype or shape")

    # (state kind, layers, B, H, mask pattern or a bad mask's kind)
    PLAN = [("tensor", 1, 3, 4, "mixed"), ("pair", 2, 4, 3, "mixed"), ("tensor", 2, 1, 1, "all"),
            ("pair", 1, 1, 2, "none"), ("tensor", 3, 5, 1, "mixed"), ("none", 1, 3, 2, "mixed"),
            ("pair", 1, 2, 3, "all"), ("tensor", 1, 4, 2, "none"),
            ("tensor", 1, 3, 2, "float"), ("pair", 1, 4, 2, "one"), ("tensor", 2, 3, 2, "short"),
            ("tensor", 1, 2, 2, "column"), ("tensor", 1, 3, 3, "int")]

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = list(self.PLAN)
        for _ in range(10 if hidden else 2):
            plan.append((rng.choice(["tensor", "pair", "tensor", "none"]), rng.randint(1, 3), rng.randint(1, 6),
                         rng.randint(1, 5), rng.choice(["mixed", "mixed", "all", "none"])))
        cases = []
        for i, (kind, layers, B, H, pattern) in enumerate(plan):
            dtype = DTYPES[(i + seed) % 2]
            state = None if kind == "none" else _random_state(gen, "LSTM" if kind == "pair" else "RNN",
                                                              layers, B, H, dtype)
            valid = pattern in ("mixed", "all", "none")
            starts = _mask(rng, B, pattern) if valid else _bad_mask(rng, B, pattern)
            differentiable = valid and state is not None and not bool(starts.all())
            mask_text = (f"starts {starts.tolist()}" if valid else
                         f"starts of dtype {DTYPE_NAMES.get(starts.dtype, str(starts.dtype).replace('torch.', ''))} "
                         f"and shape {tuple(starts.shape)} (must raise ValueError)")
            label = f"{_describe_state(state)}, {DTYPE_NAMES[dtype]}, {mask_text}"
            cases.append(Case(label=label, args={"state": state, "starts": starts},
                              grad=("state",) if differentiable else (),
                              cotangent=_like(gen, state) if differentiable else None))
        return cases


# ----------------------------------------------------------------------------- a recurrent module from plain data


def _parameter_shapes(mode, D, H, layers, bias) -> dict:
    """``nn.<mode>(D, H, layers, bias=bias)``'s parameters: name -> shape, PyTorch's layout (G*H, D)."""
    G = GATES[mode]
    shapes = {}
    for layer in range(layers):
        shapes[f"weight_ih_l{layer}"] = (G * H, D if layer == 0 else H)
        shapes[f"weight_hh_l{layer}"] = (G * H, H)
        if bias:
            shapes[f"bias_ih_l{layer}"] = (G * H,)
            shapes[f"bias_hh_l{layer}"] = (G * H,)
    return shapes


def module_data(gen, mode, D, H, layers, bias, dtype) -> dict:
    """A recurrent module as plain data: its sizes and random weights."""
    scale = 1.0 / H ** 0.5
    weights = {name: randn(gen, *shape, dtype=dtype, scale=scale)
               for name, shape in _parameter_shapes(mode, D, H, layers, bias).items()}
    return {"mode": mode, "sizes": (D, H, layers), "bias": bias, "dtype": dtype, "weights": weights}


def build_module(data: dict) -> nn.Module:
    """The batch-first ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` that :func:`module_data` describes."""
    kind = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[data["mode"]]
    D, H, layers = data["sizes"]
    rnn = kind(D, H, layers, bias=data["bias"], batch_first=True).to(data["dtype"])
    with torch.no_grad():
        for name, parameter in rnn.named_parameters():
            parameter.copy_(data["weights"][name])
    return rnn


def describe_module(data: dict) -> str:
    D, H, layers = data["sizes"]
    extra = ("" if layers == 1 else f", num_layers={layers}") + ("" if data["bias"] else ", bias=False")
    return f"nn.{data['mode']}({D}, {H}{extra}, batch_first=True), {DTYPE_NAMES[data['dtype']]}"


class ModuleCheck(Check):
    """A part called as ``fn(rnn, x, state, extra)``; returns ``(outputs, final_state)``."""

    extra = ""  # the name of the fourth argument
    output_name = "(outputs, final_state)"
    grad_hint = ""

    PLAN: list = []  # (mode, B, T, D, H, layers, bias, state given, what extra_argument makes the 4th from)

    def random_entry(self, rng) -> tuple:
        raise NotImplementedError

    def extra_argument(self, rng, B, T, entry):
        return entry

    def describe_extra(self, value) -> str:
        return f"{self.extra}={value}"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = list(self.PLAN) + [self.random_entry(rng) for _ in range(10 if hidden else 2)]
        cases = []
        for i, (mode, B, T, D, H, layers, bias, given, entry) in enumerate(plan):
            dtype = DTYPES[(i + seed) % 2]
            data = module_data(gen, mode, D, H, layers, bias, dtype)
            x = randn(gen, B, T, D, dtype=dtype)
            state = _random_state(gen, mode, layers, B, H, dtype) if given else None
            cotangent = (randn(gen, B, T, H, dtype=dtype), _random_state(gen, mode, layers, B, H, dtype))
            value = self.extra_argument(rng, B, T, entry)
            label = (f"{describe_module(data)}, x {tuple(x.shape)}, {_describe_state(state)}, "
                     f"{self.describe_extra(value)}")
            cases.append(Case(label=label, args={"x": x, "state": state, self.extra: value}, cotangent=cotangent,
                              data={"module": data}))
        return cases

    def call(self, fn, case, student, substitutes=None):
        rnn = build_module(case.data["module"])
        before = {name: p.detach().clone() for name, p in rnn.named_parameters()}
        passed = {"x": clone_arg(case.args["x"], True), "state": clone_arg(case.args["state"], True),
                  self.extra: clone_arg(case.args[self.extra])}
        originals = {name: clone_arg(value) for name, value in passed.items()}
        outcome = Outcome()
        with self.watching(fn, student, substitutes) as seen:
            try:
                result = fn(rnn, *passed.values())
            except Exception as exc:  # noqa: BLE001 - any error of the student's code is a result
                outcome.error, result = error_record(exc), None
            if outcome.error is None:
                self._gradients(outcome, result, case, passed, rnn)
        outcome.forbidden = list(seen)
        if outcome.error is None:
            outcome.value = snapshot(result)
        outcome.mutated = mutated_args(originals, passed)
        outcome.facts = {"parameters changed": [name for name, p in rnn.named_parameters()
                                                if not torch.equal(p.detach(), before[name])]}
        return outcome

    @staticmethod
    def _gradients(outcome, result, case, passed, rnn):
        state = passed["state"]
        targets = [("x", passed["x"])]
        if isinstance(state, tuple):
            targets += [("state[0]", state[0]), ("state[1]", state[1])]
        elif state is not None:
            targets.append(("state", state))
        targets += [(f"rnn.{name}", p) for name, p in rnn.named_parameters()]
        pairs = [(out, cot) for out, cot in _flatten_tensors(result, case.cotangent) if out.requires_grad]
        outcome.grads = {name: None for name, _ in targets}
        if not pairs:
            return
        loss = sum((out * cot).sum() for out, cot in pairs)
        try:
            grads = torch.autograd.grad(loss, [t for _, t in targets], allow_unused=True)
        except Exception as exc:  # noqa: BLE001
            outcome.error = error_record(exc)
            return
        outcome.grads = {name: None if g is None else g.detach().clone() for (name, _), g in zip(targets, grads)}

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem or expected.error is not None:
            return problem
        if got.mutated:
            return (f"modified its input `{got.mutated[0]}` in place; compute new tensors instead "
                    f"(slices, torch.cat, masked_fill, a product with a mask).")
        changed = got.facts.get("parameters changed")
        if changed:
            return f"changed the module's parameter {changed[0]}: only run the module, do not modify it."
        problem = _compare_named(("outputs", "final_state"), got.value, expected.value)
        if problem:
            return problem
        return _compare_grads(got, expected, self.grad_hint)


# ----------------------------------------------------------------------------- forward_with_resets


def _starts(rng, B, T, pattern):
    """(B, T) bool: where documents begin, by pattern."""
    starts = torch.zeros(B, T, dtype=torch.bool)
    if pattern == "first":
        starts[:, 0] = True
    elif pattern == "middle" and T > 1:
        starts[rng.randrange(B), rng.randrange(1, T)] = True
    elif pattern == "together" and T > 1:
        starts[:, rng.randrange(1, T)] = True
    elif pattern == "last":
        starts[rng.randrange(B), T - 1] = True
    elif pattern == "mixed":
        for b in range(B):
            for t in range(T):
                starts[b, t] = rng.random() < 0.25
    return starts


def _describe_starts(starts) -> str:
    where = [(b, t) for b, t in starts.nonzero().tolist()]
    if not where:
        return "no document starts"
    return "documents start at (row, step) " + ", ".join(f"({b}, {t})" for b, t in where)


class ForwardWithResetsCheck(ModuleCheck):
    name = "forward_with_resets"
    extra = "starts"
    summary = ("nn.RNN, nn.LSTM and nn.GRU with 1 or 2 layers, with and without biases, B, T, H = 1 and more, "
               "state given and None, documents starting at t = 0, mid-chunk, in several rows at once, at the "
               "last step or never, float32 and float64, gradients with respect to x, the state and every weight")
    grad_hint = ("The outputs agree, so look at the gradient: it must flow within each document and stop at its "
                 "start, which zeroing the rows of the state (not detaching everything) does.")

    # (mode, B, T, D, H, layers, bias, state given, starts pattern)
    PLAN = [("RNN", 3, 6, 2, 3, 1, True, True, "middle"), ("LSTM", 2, 5, 3, 2, 1, True, True, "mixed"),
            ("GRU", 3, 4, 1, 2, 2, True, False, "together"), ("LSTM", 1, 1, 1, 1, 1, True, True, "first"),
            ("RNN", 2, 5, 2, 1, 2, False, True, "last"), ("GRU", 4, 6, 2, 3, 1, True, True, "none"),
            ("LSTM", 3, 7, 2, 3, 2, True, True, "mixed"), ("RNN", 1, 6, 3, 2, 1, True, True, "mixed")]

    def random_entry(self, rng):
        return (rng.choice(MODES), rng.randint(1, 4), rng.randint(1, 8), rng.randint(1, 3), rng.randint(1, 4),
                rng.choice([1, 1, 2]), rng.random() < 0.8, rng.random() < 0.7,
                rng.choice(["mixed", "mixed", "middle", "together", "first", "last", "none"]))

    def extra_argument(self, rng, B, T, pattern):
        return _starts(rng, B, T, pattern)

    def describe_extra(self, starts):
        return _describe_starts(starts)


# ----------------------------------------------------------------------------- truncated_forward


class TruncatedForwardCheck(ModuleCheck):
    name = "truncated_forward"
    extra = "k"
    summary = ("nn.RNN, nn.LSTM and nn.GRU with 1 or 2 layers, k = 1, k dividing T or not, k >= T, state given "
               "and None, float32 and float64, outputs, final state and the gradients with respect to x, the "
               "incoming state and every weight, k < 1")
    grad_hint = ("The outputs agree, so look at where the state is detached: at steps 0, k, 2k, ... and nowhere "
                 "else.")

    # (mode, B, T, D, H, layers, bias, state given, k); k = 0 and -2 must raise ValueError
    PLAN = [("RNN", 2, 6, 2, 3, 1, True, True, 2), ("LSTM", 3, 7, 2, 2, 1, True, True, 3),
            ("GRU", 1, 5, 1, 1, 2, True, True, 1), ("RNN", 2, 4, 3, 2, 2, False, False, 4),
            ("LSTM", 1, 3, 2, 3, 2, True, True, 5), ("GRU", 4, 8, 2, 2, 1, True, False, 3),
            ("LSTM", 2, 1, 1, 2, 1, True, True, 1), ("RNN", 2, 3, 2, 2, 1, True, True, 0),
            ("GRU", 1, 4, 1, 2, 1, True, True, -2)]

    def random_entry(self, rng):
        T = rng.randint(1, 10)
        return (rng.choice(MODES), rng.randint(1, 4), T, rng.randint(1, 3), rng.randint(1, 4), rng.choice([1, 1, 2]),
                rng.random() < 0.8, rng.random() < 0.7, rng.randint(1, T + 2))

    def describe_extra(self, k):
        return f"k={k}" + (" (must raise ValueError)" if k < 1 else "")


# ----------------------------------------------------------------------------- pack_documents


class PackDocumentsCheck(Check):
    name = "pack_documents"
    output_name = "(rows, starts, valid)"
    summary = ("token ids (n,) and features (n, D), float32, float64 and int64, ties, more rows than documents, "
               "batch_size = 1, documents of one step, an empty list and batch_size < 1")

    # (document lengths, batch_size, trailing shape, kind)
    PLAN = [([3, 1, 2, 4], 2, (), "tokens"), ([2, 2, 2], 3, (2,), "float"), ([5], 1, (3,), "float"),
            ([1, 4, 2, 1, 3], 3, (), "tokens"), ([2, 1], 4, (1,), "float"), ([3, 3, 1, 2, 2, 1], 2, (2,), "float"),
            ([1, 1, 1, 1, 1], 2, (), "tokens"), ([4, 2], 1, (), "tokens"),
            ([], 2, (), "tokens"), ([2, 3], 0, (1,), "float"), ([1], -1, (), "tokens")]

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = list(self.PLAN)
        for _ in range(10 if hidden else 2):
            plan.append(([rng.randint(1, 6) for _ in range(rng.randint(1, 8))], rng.randint(1, 5),
                         rng.choice([(), (1,), (3,)]), rng.choice(["tokens", "float"])))
        cases = []
        for i, (lengths, batch_size, trailing, kind) in enumerate(plan):
            dtype = DTYPES[(i + seed) % 2]
            if kind == "tokens":
                documents = [torch.randint(1, 50, (n, *trailing), generator=gen) for n in lengths]
                text = "token ids (int64)"
            else:
                documents = [randn(gen, n, *trailing, dtype=dtype) for n in lengths]
                text = DTYPE_NAMES[dtype]
            bad = " (must raise ValueError)" if not lengths or batch_size < 1 else ""
            label = (f"{len(lengths)} documents of lengths {lengths}, trailing shape {trailing}, {text}, "
                     f"batch_size={batch_size}{bad}")
            cases.append(Case(label=label, args={"documents": documents, "batch_size": batch_size}))
        return cases

    def compare(self, case, got, expected):
        problem = compare_errors(expected.error, got)
        if problem or expected.error is not None:
            return problem
        return _compare_named(("rows", "starts", "valid"), got.value, expected.value)


CHECKS = [ResetRowsCheck(), ForwardWithResetsCheck(), TruncatedForwardCheck(), PackDocumentsCheck()]
