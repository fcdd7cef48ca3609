"""Checks of assignment 04, statefulness: ``StatefulRNN``, ``batchify_stream`` and ``tbptt_step``."""

from __future__ import annotations

import torch
from torch import nn

from grader import reference as ref

from . import forbidden
from .core import (DTYPE_NAMES, Case, Check, Mistake, Outcome, compare_errors, compare_tensors, compare_values,
                   error_record, generators, randn, snapshot)

MODES = ("RNN", "LSTM", "GRU")

# ----------------------------------------------------------------------------- StatefulRNN


def _state_snapshot(state):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(_state_snapshot(s) for s in state)
    return snapshot(state) if type(state) is torch.Tensor else snapshot(state.detach())


def _describe_step(step):
    kind = step[0]
    if kind == "call":
        return f"call {step[1] + 1}" + (" (then loss.backward())" if step[2] else "")
    rows = step[1]
    if rows is None:
        return "reset_state()"
    if isinstance(rows, torch.Tensor):
        return f"reset_state(rows=mask {rows.int().tolist()})"
    return f"reset_state(rows={rows})"


class _NotDetached(ref.StatefulRNN):
    def forward(self, x):
        outputs, self.state = self.rnn(x, self.state)
        return outputs if self.readout is None else self.readout(outputs)


class _Stateless(ref.StatefulRNN):
    def forward(self, x):
        outputs, self.state = self.rnn(x)
        return outputs if self.readout is None else self.readout(outputs)


class _ResetAllRows(ref.StatefulRNN):
    def reset_state(self, rows=None):
        self.state = None


class _ResetIgnoresRows(ref.StatefulRNN):
    def reset_state(self, rows=None):
        if rows is None:
            self.state = None


class _ForgetsOnEveryCall(ref.StatefulRNN):
    """Carries only the first call's state: forgets to store the new one."""

    def forward(self, x):
        state = self.state.detach() if isinstance(self.state, torch.Tensor) else \
            (None if self.state is None else tuple(s.detach() for s in self.state))
        outputs, new_state = self.rnn(x, state)
        if self.state is None:
            self.state = new_state
        return outputs if self.readout is None else self.readout(outputs)


class StatefulRNNCheck(Check):
    name = "StatefulRNN"
    reference = ref.StatefulRNN
    output_name = "the outputs"
    summary = "RNN, LSTM and GRU, with and without readout, B = 1 and more, float32 and float64, " \
              "backward after some calls, full and partial resets"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [("RNN", 1, None), ("LSTM", 3, 2), ("GRU", 2, None), ("RNN", 4, 3), ("LSTM", 2, None), ("GRU", 3, 1)]
        plan += [(rng.choice(MODES), rng.randint(1, 4), rng.choice([None, 1, 2])) for _ in range(6 if hidden else 0)]
        cases = []
        for i, (mode, B, O) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            D, H = rng.randint(1, 4), rng.randint(1, 4)
            template = ref.StatefulRNN(D, H, O, mode)
            weights = {k: randn(gen, *v.shape, dtype=dtype, scale=0.7) for k, v in template.state_dict().items()}
            lengths = [rng.randint(1, 4) for _ in range(7)]
            chunks = [randn(gen, B, T, D, dtype=dtype) for T in lengths]
            out = O or H
            cotangents = [randn(gen, B, T, out, dtype=dtype) for T in lengths]
            rows = [rng.randrange(B)] if B > 1 else None
            mask = torch.zeros(B, dtype=torch.bool)
            if B > 1:
                mask[rng.randrange(B)] = True
            script = [("call", 0, True), ("call", 1, True), ("call", 2, False), ("call", 3, True),
                      ("reset", rows), ("call", 4, True), ("reset", None), ("call", 5, True),
                      ("reset", mask if B > 1 else None), ("call", 6, True)]
            args = {"input_size": D, "hidden_size": H, "output_size": O, "mode": mode}
            if mode == "RNN" and O is None and i % 2 == 0:
                args = {"input_size": D, "hidden_size": H}
            label = (f"mode={mode!r}, input_size={D}, hidden_size={H}, output_size={O}, B={B}, "
                     f"{DTYPE_NAMES[dtype]}, chunks of T={lengths}; steps: "
                     + ", ".join(_describe_step(s) for s in script))
            cases.append(Case(label=label, args=args, data={"weights": weights, "chunks": chunks,
                                                            "cotangents": cotangents, "script": script,
                                                            "dtype": dtype, "mode": mode, "output_size": O}))
        return cases

    def call(self, cls, case, student):
        outcome = Outcome()
        records = []
        with forbidden.watching(self.rules if student else None) as seen:
            try:
                model = cls(*case.args.values())
                rnn = getattr(model, "rnn", None)
                outcome.facts = {
                    "rnn": type(rnn).__name__,
                    "batch_first": bool(getattr(rnn, "batch_first", False)),
                    "readout": type(getattr(model, "readout", None)).__name__,
                    "state before the first call": "None" if getattr(model, "state", "missing") is None else "not None",
                }
                model.load_state_dict(case.data["weights"])
                model.to(case.data["dtype"])
                for step_index, step in enumerate(case.data["script"]):
                    outcome.facts["steps done"] = step_index
                    if step[0] == "reset":
                        if step[1] is None:
                            model.reset_state()
                        else:
                            model.reset_state(step[1].clone() if isinstance(step[1], torch.Tensor) else list(step[1]))
                        continue
                    _, k, backward = step
                    out = model(case.data["chunks"][k].clone())
                    record = {"outputs": snapshot(out), "state": _state_snapshot(getattr(model, "state", None))}
                    if backward:
                        cot = case.data["cotangents"][k]
                        if type(out) is torch.Tensor and out.shape == cot.shape and out.requires_grad:
                            (out * cot).sum().backward()
                        record["grads"] = {name: None if p.grad is None else p.grad.detach().clone()
                                           for name, p in model.named_parameters()}
                        model.zero_grad(set_to_none=True)
                    records.append(record)
                outcome.facts["steps done"] = len(case.data["script"])
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
        outcome.forbidden = list(seen)
        outcome.value = records
        return outcome

    def compare(self, case, got, expected):
        facts_messages = {
            "rnn": f"self.rnn must be a torch.nn.{case.data['mode']} (mode={case.data['mode']!r}), got {{got}}.",
            "batch_first": "create the layer with batch_first=True: chunks are (B, T, D).",
            "readout": ("self.readout must be nn.Linear(hidden_size, output_size) when output_size is given, "
                        "and None otherwise; got {got}."),
            "state before the first call": "self.state must be None before the first call.",
        }
        if got.error is not None and not got.facts:  # the constructor itself failed
            return "StatefulRNN(...) " + compare_errors(None, got)
        for key, message in facts_messages.items():
            if key in expected.facts and got.facts.get(key) != expected.facts[key]:
                return message.format(got=got.facts.get(key, "missing"))
        script = case.data["script"]
        calls = [i for i, s in enumerate(script) if s[0] == "call"]
        for n, (g, e) in enumerate(zip(got.value, expected.value)):
            where = f"{_describe_step(script[calls[n]])}"
            resets = [_describe_step(s) for s in script[:calls[n]] if s[0] == "reset"]
            if resets:
                where += f", after {', '.join(resets)}"
            problem = compare_values(f"{where}: outputs", g["outputs"], e["outputs"])
            if problem:
                return problem
            problem = compare_values(f"{where}: self.state (the carried state)", g["state"], e["state"])
            if problem:
                return problem
            for name, e_grad in e.get("grads", {}).items():
                g_grad = (g.get("grads") or {}).get(name)
                if e_grad is None:
                    continue
                if g_grad is None:
                    return f"{where}: no gradient reached {name}."
                problem = compare_tensors(f"{where}: gradient of {name}", g_grad, e_grad)
                if problem:
                    return problem + " The gradient of a chunk must stop at the chunk's start."
        if got.error is not None and expected.error is None:
            step = got.facts.get("steps done", 0)
            if step < len(script) and "steps done" in got.facts:
                return f"{_describe_step(script[step])} raised {got.error[0]}: {got.error[1]}"
            return compare_errors(None, got)
        return None

    def mistakes(self):
        return [
            Mistake("state not detached",
                    "detach the carried state at the start of each call (state.detach(), and both h and c "
                    "for an LSTM): otherwise backward() reaches into earlier chunks, whose graphs were freed "
                    "or would keep growing.", _NotDetached,
                    error_pattern="(?i)backward through the graph a second time|freed"),
            Mistake("state not carried",
                    "a stateful model starts each call from the state the previous call ended in: pass "
                    "self.state to the layer and store the state it returns.", _Stateless),
            Mistake("reset_state(rows) resets every row",
                    "only the given batch rows are zeroed (index the batch dimension, state[:, rows]); the "
                    "other rows keep streaming.", _ResetAllRows),
            Mistake("reset_state(rows) ignores rows",
                    "with rows given, zero those rows of the carried state (for an LSTM in both h and c).",
                    _ResetIgnoresRows),
            Mistake("state not updated after the first call",
                    "store the state each call ends in: outputs, self.state = self.rnn(x, ...).",
                    _ForgetsOnEveryCall),
        ]


# ----------------------------------------------------------------------------- batchify_stream


def _interleaved(stream, batch_size):
    length = stream.shape[0] // batch_size
    return stream[: batch_size * length].reshape(length, batch_size, *stream.shape[1:]).transpose(0, 1)


def _time_major(stream, batch_size):
    return ref.batchify_stream(stream, batch_size).transpose(0, 1)


def _head_dropped(stream, batch_size):
    length = stream.shape[0] // batch_size
    return stream[stream.shape[0] - batch_size * length:].reshape(batch_size, length, *stream.shape[1:])


class BatchifyStreamCheck(Check):
    name = "batchify_stream"
    reference = staticmethod(ref.batchify_stream)
    output_name = "the batch"
    summary = "token streams (N,) and feature streams (N, D), lengths that do and do not divide, B = 1, too-short streams"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [(12, 3, None), (13, 4, 2), (7, 1, None), (5, 5, 3), (10, 3, 1), (2, 3, None)]
        plan += [(rng.randint(1, 40), rng.randint(1, 6), rng.choice([None, 1, 3])) for _ in range(8 if hidden else 2)]
        cases = []
        for i, (N, B, D) in enumerate(plan):
            if D is None:
                stream = torch.randint(0, 50, (N,), generator=gen)
                kind = "token ids (int64)"
            else:
                dtype = (torch.float32, torch.float64)[(i + seed) % 2]
                stream = randn(gen, N, D, dtype=dtype)
                kind = f"features, {DTYPE_NAMES[dtype]}"
            cases.append(Case(label=f"stream of shape {tuple(stream.shape)} ({kind}), batch_size={B}",
                              args={"stream": stream, "batch_size": B}))
        return cases

    def mistakes(self):
        return [
            Mistake("rows interleave the stream",
                    "row b must hold one contiguous piece, stream[b*L:(b+1)*L], so that the next chunk of "
                    "row b continues row b's own text. Reshaping to (L, batch_size) and transposing deals "
                    "the steps out round-robin instead.", _interleaved),
            Mistake("time-major result",
                    "the result is (batch_size, L, ...): one row per parallel stream.", _time_major),
            Mistake("head dropped instead of tail",
                    "drop the steps at the end that do not fill a row, keep the start of the stream.",
                    _head_dropped),
        ]


# ----------------------------------------------------------------------------- tbptt_step


class ChunkModel(nn.Module):
    """A small stateful model (nn.RNN + linear readout) the tbptt_step check trains."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, output_size)
        self.state = None

    def forward(self, x):
        state = None if self.state is None else self.state.detach()
        outputs, self.state = self.rnn(x, state)
        return self.readout(outputs)


def _mse(prediction, target):
    return nn.functional.mse_loss(prediction, target)


class TbpttStepCheck(Check):
    name = "tbptt_step"
    reference = staticmethod(ref.tbptt_step)
    output_name = "the returned loss"
    summary = "SGD and Adam, with and without gradient clipping, float32 and float64, consecutive chunks"

    def cases(self, seed, hidden=False):
        rng, gen = generators(self.name, seed)
        plan = [("SGD", 0.05), ("SGD", None), ("Adam", 0.1), ("Adam", None), ("SGD", "default")]
        plan += [(rng.choice(["SGD", "Adam"]), rng.choice([None, 0.05, 0.5, "default"])) for _ in range(5 if hidden else 0)]
        cases = []
        for i, (optimizer, clip) in enumerate(plan):
            dtype = (torch.float32, torch.float64)[(i + seed) % 2]
            D, H, O, B = rng.randint(1, 3), rng.randint(2, 4), rng.randint(1, 2), rng.randint(1, 3)
            template = ChunkModel(D, H, O)
            weights = {k: randn(gen, *v.shape, dtype=dtype, scale=0.7) for k, v in template.state_dict().items()}
            lengths = [rng.randint(1, 4) for _ in range(3)]
            chunks = [(randn(gen, B, T, D, dtype=dtype), randn(gen, B, T, O, dtype=dtype)) for T in lengths]
            lr = 0.3 if optimizer == "SGD" else 0.05
            label = (f"{optimizer}(lr={lr}), max_grad_norm={'default (None)' if clip == 'default' else clip}, "
                     f"model nn.RNN({D}, {H}) + nn.Linear({H}, {O}), B={B}, {DTYPE_NAMES[dtype]}, "
                     f"3 consecutive chunks of T={lengths}, loss_fn=mse_loss")
            cases.append(Case(label=label, args={}, data={"weights": weights, "chunks": chunks, "sizes": (D, H, O),
                                                          "optimizer": optimizer, "lr": lr, "clip": clip,
                                                          "dtype": dtype}))
        return cases

    def call(self, fn, case, student):
        outcome = Outcome()
        model = ChunkModel(*case.data["sizes"])
        model.load_state_dict(case.data["weights"])
        model.to(case.data["dtype"])
        kind = torch.optim.SGD if case.data["optimizer"] == "SGD" else torch.optim.Adam
        optimizer = kind(model.parameters(), lr=case.data["lr"])
        records = []
        with forbidden.watching(self.rules if student else None, fn) as seen:
            try:
                for x, y in case.data["chunks"]:
                    extra = () if case.data["clip"] == "default" else (case.data["clip"],)
                    loss = fn(model, optimizer, x.clone(), y.clone(), _mse, *extra)
                    records.append({"loss": snapshot(loss),
                                    "parameters": {n: p.detach().clone() for n, p in model.named_parameters()}})
            except Exception as exc:  # noqa: BLE001
                outcome.error = error_record(exc)
        outcome.forbidden = list(seen)
        outcome.value = records
        return outcome

    def compare(self, case, got, expected):
        for n, (g, e) in enumerate(zip(got.value, expected.value)):
            problem = compare_values(f"chunk {n + 1}: the returned loss", g["loss"], e["loss"])
            if problem:
                return problem
            for name, value in e["parameters"].items():
                problem = compare_tensors(f"chunk {n + 1}: model.{name} after the update", g["parameters"][name], value)
                if problem:
                    return problem
        if got.error is not None and expected.error is None:
            return f"chunk {len(got.value) + 1}: " + compare_errors(None, got)
        return None

    def mistakes(self):
        def no_zero_grad(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            return loss.item()

        def no_clipping(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
            return ref.tbptt_step(model, optimizer, inputs, targets, loss_fn, None)

        def returns_tensor(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            return loss

        def step_before_backward(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            optimizer.step()
            loss.backward()
            return loss.item()

        return [
            Mistake("optimizer.zero_grad() missing",
                    "gradients accumulate in .grad across backward() calls: clear them at the start of each "
                    "step, or each update also carries the previous chunks' gradients.", no_zero_grad),
            Mistake("clipping has no effect",
                    "with max_grad_norm given, call torch.nn.utils.clip_grad_norm_(model.parameters(), "
                    "max_grad_norm) after loss.backward() and before optimizer.step().", no_clipping),
            Mistake("returned the loss tensor",
                    "return the loss as a Python float, loss.item(): a tensor would keep the whole graph "
                    "alive in whatever list collects the losses.", returns_tensor),
            Mistake("optimizer.step() before loss.backward()",
                    "the order is zero_grad, forward and loss, backward, (clip), step: the step uses the "
                    "gradients backward() just computed.", step_before_backward),
        ]


CHECKS = [StatefulRNNCheck(), BatchifyStreamCheck(), TbpttStepCheck()]
