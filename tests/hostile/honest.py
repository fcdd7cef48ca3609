"""Honest answers in the shapes students write, which must score full marks in grading as in the notebook.

Each variant is an assignment and answer cells (grade id -> source) that differ from the
solutions in *form* only: module-level helper tables (``ACT = {"tanh": torch.tanh, ...}``),
aliases, lambdas, computed constants (``SCALE = 1 / math.sqrt(1)``), type aliases used in
annotations, ``functools.partial``, a helper function defined in another answer cell, decorators
(``@torch.no_grad()``), a dataclass. The answer cells not listed keep the solution.

Use::

    from hostile.honest import VARIANTS, notebook
    nb = notebook("tables_and_helpers")       # a release notebook with these answers, as submitted
    VARIANTS["tables_and_helpers"].assignment # "01_hidden_state"

``notebook(name)`` returns a notebook dict ready to write as a submission (``nbformat`` v4, the
release's cells and metadata); every part of it passes ``check()`` run in the notebook's way
(tests/test_integrity_honest.py checks both that and the trusted verification's verdict).
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.coursework import filled_release, release_notebook, solution_cells, source_notebook, strip_markers


@dataclass(frozen=True)
class Variant:
    assignment: str
    answers: dict   # grade id of an answer cell -> its source
    shapes: str     # what it exercises


TABLES_AND_HELPERS = Variant("01_hidden_state", {
    "stacked_rnn_forward": '''from functools import partial
from typing import Optional

Tensor = torch.Tensor
Weights = tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]
ACT = {"tanh": torch.tanh, "relu": torch.relu}


def rnn_step(x_t: Tensor, h: Tensor, weights: Weights, act=torch.tanh) -> Tensor:
    """One step h' = act(x_t W_ih^T + b_ih + h W_hh^T + b_hh); x_t (B, D), h (B, H)."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    pre = x_t @ weight_ih.T + h @ weight_hh.T
    if bias_ih is not None:
        pre = pre + bias_ih
    if bias_hh is not None:
        pre = pre + bias_hh
    return act(pre)


def stacked_rnn_forward(x: Tensor, h0: Optional[Tensor], weights: list[Weights], nonlinearity="tanh"):
    if nonlinearity not in ACT:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    step = partial(rnn_step, act=ACT[nonlinearity])
    layer_input, last = x, []
    for layer, w in enumerate(weights):
        h = h0[layer] if h0 is not None else x.new_zeros(x.shape[0], w[1].shape[1])
        states = []
        for t in range(x.shape[1]):
            h = step(layer_input[:, t], h, w)
            states.append(h)
        layer_input = torch.stack(states, dim=1)
        last.append(h)
    return layer_input, torch.stack(last, dim=0)
''',
    "bidirectional_rnn_forward": '''flip_time = partial(torch.flip, dims=[1])
TANH = lambda z: torch.tanh(z)  # noqa: E731 - the shape students write


def bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    if nonlinearity not in ACT:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    act = TANH if nonlinearity == "tanh" else ACT["relu"]

    def run(sequence, h, weights):
        if h is None:
            h = sequence.new_zeros(sequence.shape[0], weights[1].shape[1])
        states = []
        for t in range(sequence.shape[1]):
            h = rnn_step(sequence[:, t], h, weights, act)  # the helper of the first answer cell
            states.append(h)
        return torch.stack(states, dim=1), h

    h_f, h_b = (None, None) if h0 is None else (h0[0], h0[1])
    forward_outputs, forward_last = run(x, h_f, forward_weights)
    backward_outputs, backward_last = run(flip_time(x), h_b, backward_weights)
    return torch.cat([forward_outputs, flip_time(backward_outputs)], dim=-1), torch.stack([forward_last, backward_last])
''',
    "masked_rnn_forward": '''import math

sig = torch.sigmoid
EPS = 1e-6 * 2
SCALE = 1 / math.sqrt(1)


def masked_rnn_forward(x: Tensor, lengths: Tensor, h0: Optional[Tensor], weight_ih, weight_hh, bias_ih=None,
                       bias_hh=None):
    batch, steps = x.shape[0], x.shape[1]
    if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > steps:
        raise ValueError(f"lengths must be {batch} numbers between 1 and {steps}, got {lengths.tolist()}")
    h = h0 if h0 is not None else x.new_zeros(batch, weight_hh.shape[1])
    outputs = []
    for t in range(steps):
        candidate = rnn_step(x[:, t], h, (weight_ih, weight_hh, bias_ih, bias_hh)) * SCALE
        alive = (t < lengths).to(x.dtype).unsqueeze(1)
        h = alive * candidate + (1 - alive) * h
        outputs.append(alive * candidate)
    return torch.stack(outputs, dim=1), h
''',
    "recurrent_parameter_count": '''GATES = dict(RNN=1, LSTM=4, GRU=3)
MODES = tuple(GATES)
DIRECTIONS = {False: 1, True: 2}


def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    if proj_size < 0 or proj_size >= hidden_size:
        raise ValueError(f"proj_size must be 0 or between 1 and hidden_size - 1, got {proj_size}")
    if proj_size > 0 and mode != "LSTM":
        raise ValueError(f"proj_size is only supported for LSTM, not {mode}")
    gates = GATES[mode] * hidden_size
    out = proj_size or hidden_size
    directions = DIRECTIONS[bool(bidirectional)]
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * out
        one = gates * (layer_input + out) + (2 * gates if bias else 0) + proj_size * hidden_size
        total += directions * one
    return total
''',
}, "a helper table, type aliases in annotations, partial, a lambda, a helper of another answer cell, "
   "computed constants, dict(...) and tuple(...)")

DECORATORS_AND_LAMBDAS = Variant("05_vanishing_gradients", {
    "rnn_bptt": '''dtanh = lambda h: 1 - h * h  # noqa: E731
zeros_like = torch.zeros_like


def rnn_bptt(grad_outputs, x, h0, outputs, weight_ih, weight_hh):
    T = x.shape[1]
    grad_x = zeros_like(x)
    grad_weight_ih, grad_weight_hh = zeros_like(weight_ih), zeros_like(weight_hh)
    grad_bias = zeros_like(weight_hh[0])
    grad_h = zeros_like(h0)
    for t in reversed(range(T)):
        h_before = outputs[:, t - 1] if t > 0 else h0
        grad_h = grad_h + grad_outputs[:, t]
        grad_a = grad_h * dtanh(outputs[:, t])
        grad_x[:, t] = grad_a @ weight_ih
        grad_weight_ih = grad_weight_ih + grad_a.T @ x[:, t]
        grad_weight_hh = grad_weight_hh + grad_a.T @ h_before
        grad_bias = grad_bias + grad_a.sum(dim=0)
        grad_h = grad_a @ weight_hh
    return grad_x, grad_h, grad_weight_ih, grad_weight_hh, grad_bias
''',
    "numerical_gradient": '''from itertools import product

DEFAULT_EPS = 1e-6 * 1


def numerical_gradient(f, x, eps=DEFAULT_EPS):
    gradient = torch.zeros_like(x)
    point = x.detach().clone()
    for index in product(*[range(size) for size in x.shape]):
        saved = point[index].item()
        point[index] = saved + eps
        f_plus = float(f(point))
        point[index] = saved - eps
        f_minus = float(f(point))
        point[index] = saved
        gradient[index] = (f_plus - f_minus) / (2 * eps)
    return gradient
''',
    "adaptive_clip_grad_": '''Params = list[torch.Tensor] | torch.Tensor
MIN_LENGTH = 1e-6


@torch.no_grad()
def adaptive_clip_grad_(parameters: Params, clipping, eps=1e-3):
    if clipping <= 0:
        raise ValueError(f"clipping must be > 0, got {clipping}")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    count = 0
    for p in parameters:
        if p.grad is None:
            continue
        pairs = zip(p, p.grad) if p.dim() >= 2 else [(p, p.grad)]
        for weight, grad in pairs:
            limit = clipping * max(weight.norm().item(), eps)
            length = grad.norm().item()
            if length > limit:
                grad.mul_(limit / max(length, MIN_LENGTH))
                count += 1
    return count
''',
}, "lambdas, an alias, a default argument from a computed constant, a PEP 604 type alias, @torch.no_grad()")

DATACLASS_AND_PARTIAL = Variant("03_initialization", {
    "BridgedEncoderDecoder": '''from dataclasses import dataclass

BRIDGE_ACT = torch.tanh


@dataclass(frozen=True)
class Sizes:
    source: int
    target: int
    encoder: int
    decoder: int
    output: int


class BridgedEncoderDecoder(nn.Module):
    def __init__(self, source_size, target_size, encoder_size, decoder_size, output_size):
        super().__init__()
        self.sizes = Sizes(source_size, target_size, encoder_size, decoder_size, output_size)
        self.encoder = nn.LSTM(source_size, encoder_size, batch_first=True)
        self.bridge = nn.Linear(2 * encoder_size, decoder_size)
        self.decoder = nn.GRU(target_size, decoder_size, batch_first=True)
        self.readout = nn.Linear(decoder_size, output_size)

    def initial_state(self, source):
        _, (h_last, c_last) = self.encoder(source)
        return BRIDGE_ACT(self.bridge(torch.cat([h_last, c_last], dim=-1)))

    def forward(self, source, target_inputs):
        states, _ = self.decoder(target_inputs, self.initial_state(source))
        return self.readout(states)
''',
    "forget_bias_for_retention": '''from math import exp, log, log1p

logit = lambda p: log(p) - log1p(-p)  # noqa: E731


def forget_bias_for_retention(retention, steps):
    if not 0 < retention < 1:
        raise ValueError(f"retention must lie strictly between 0 and 1, got {retention}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    return logit(exp(log(retention) / steps))
''',
    "critical_scale": '''LOG = math.log
from functools import partial  # noqa: E402

spectral_norm = partial(torch.linalg.matrix_norm, ord=2)


def critical_scale(weight, steps):
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight must be a square matrix, got shape {tuple(weight.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    W = weight.detach()
    product = torch.eye(W.shape[0], dtype=W.dtype)
    log_gain = 0.0
    for _ in range(steps):
        product = W @ product
        size = product.abs().max()
        if size == 0:
            raise ValueError("W^steps is zero (W is nilpotent)")
        product = product / size
        log_gain += LOG(size)
    log_gain += LOG(spectral_norm(product))
    return torch.tensor(math.exp(-log_gain / steps), dtype=weight.dtype)
''',
    "timescale_forget_bias_": '''FIRST_TWO_BLOCKS = 2


@torch.no_grad()
def timescale_forget_bias_(lstm, timescales):
    H = lstm.hidden_size
    if timescales.dim() != 1 or timescales.shape[0] != H:
        raise ValueError(f"timescales must have shape ({H},), got {tuple(timescales.shape)}")
    if (timescales <= 1).any():
        raise ValueError("every time scale must be greater than 1")
    forget = torch.log(timescales - 1)
    for name, bias in lstm.named_parameters():
        if "bias" in name:
            first_two = torch.cat([-forget, forget]) if "_ih" in name else torch.zeros(FIRST_TWO_BLOCKS * H)
            bias[: FIRST_TWO_BLOCKS * H].copy_(first_two)
    return lstm
''',
}, "a dataclass, a module-level alias used in a method, a lambda over from-imports, partial, an import "
   "after an assignment, @torch.no_grad() on an in-place part")

GATE_TABLES = Variant("02_cell_state", {
    "coupled_lstm_cell": '''sigmoid = torch.sigmoid
BLOCKS = {"i": 0, "g": 1, "o": 2}
block = lambda t, k, H: t[:, k * H:(k + 1) * H]  # noqa: E731


def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    H = weight_hh.shape[1]
    h, c = (x.new_zeros(x.shape[0], H), x.new_zeros(x.shape[0], H)) if state is None else state
    gates = x @ weight_ih.T + h @ weight_hh.T
    for bias in (bias_ih, bias_hh):
        if bias is not None:
            gates = gates + bias
    i = sigmoid(block(gates, BLOCKS["i"], H))
    g = torch.tanh(block(gates, BLOCKS["g"], H))
    o = sigmoid(block(gates, BLOCKS["o"], H))
    c_next = (1 - i) * c + i * g
    return o * torch.tanh(c_next), c_next
''',
    "peephole_lstm_cell": '''linear = nn.functional.linear
Pair = tuple[torch.Tensor, torch.Tensor]


def peephole_lstm_cell(x, state: Pair | None, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None) -> Pair:
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    a_i, a_f, a_g, a_o = (linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh)).chunk(4, dim=1)
    p_i, p_f, p_o = peephole
    c_next = sigmoid(a_f + p_f * c) * c + sigmoid(a_i + p_i * c) * torch.tanh(a_g)
    return sigmoid(a_o + p_o * c_next) * torch.tanh(c_next), c_next
''',
    "projected_lstm_forward": '''from functools import partial

stack_time = partial(torch.stack, dim=1)


def projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    B, T, _ = x.shape
    P, H = weight_hr.shape
    h, c = (x.new_zeros(B, P), x.new_zeros(B, H)) if state is None else state
    from_input = x @ weight_ih.T
    if bias_ih is not None:
        from_input = from_input + bias_ih
    outputs = []
    for t in range(T):
        a = from_input[:, t] + h @ weight_hh.T
        if bias_hh is not None:
            a = a + bias_hh
        a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
        c = sigmoid(a_f) * c + sigmoid(a_i) * torch.tanh(a_g)
        h = (sigmoid(a_o) * torch.tanh(c)) @ weight_hr.T
        outputs.append(h)
    return stack_time(outputs), (h, c)
''',
}, "an alias and a lambda used by the next answer cells, a gate table, nn.functional.linear aliased, "
   "a type alias in annotations, partial")

STATE_HELPERS = Variant("04_statefulness", {
    "reset_rows": '''from typing import Optional, Union

State = Optional[Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]
is_pair = lambda s: isinstance(s, tuple)  # noqa: E731


def reset_rows(state: State, starts) -> State:
    if not (torch.is_tensor(starts) and starts.dtype == torch.bool and starts.dim() == 1):
        raise ValueError("starts must be a bool tensor of shape (B,)")
    if state is None:
        return None
    tensors = state if is_pair(state) else (state,)
    if any(s.dim() != 3 or s.shape[1] != starts.numel() for s in tensors):
        raise ValueError(f"starts has {starts.numel()} entries, the state {tuple(tensors[0].shape)}")
    flagged = starts.view(1, -1, 1)
    zeroed = tuple(torch.where(flagged, torch.zeros_like(s), s) for s in tensors)
    return zeroed if is_pair(state) else zeroed[0]
''',
    "truncated_forward": '''detach_state = lambda s: None if s is None else (  # noqa: E731
    tuple(part.detach() for part in s) if is_pair(s) else s.detach())


def truncated_forward(rnn, x, state: State, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    outputs = []
    for start in range(0, x.shape[1], k):
        out, state = rnn(x[:, start:start + k], detach_state(state))
        outputs.append(out)
    return torch.cat(outputs, dim=1), state
''',
    "pack_documents": '''from operator import itemgetter

by_length = itemgetter(1)


def pack_documents(documents, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not documents:
        raise ValueError("there are no documents to pack")
    lengths = [0] * batch_size
    placed = []
    for document in documents:
        row = min(enumerate(lengths), key=by_length)[0]
        placed.append((row, lengths[row]))
        lengths[row] += document.shape[0]
    longest = max(lengths)
    first = documents[0]
    rows = first.new_zeros((batch_size, longest) + tuple(first.shape[1:]))
    starts = torch.zeros(batch_size, longest, dtype=torch.bool)
    valid = torch.zeros(batch_size, longest, dtype=torch.bool)
    for document, (row, t) in zip(documents, placed):
        n = document.shape[0]
        rows[row, t:t + n] = document
        starts[row, t] = True
        valid[row, t:t + n] = True
    return rows, starts, valid
''',
}, "typing aliases in annotations, lambdas (one spanning lines) used across answer cells, operator.itemgetter")

VARIANTS = {"tables_and_helpers": TABLES_AND_HELPERS, "gate_tables": GATE_TABLES,
            "dataclass_and_partial": DATACLASS_AND_PARTIAL, "state_helpers": STATE_HELPERS,
            "decorators_and_lambdas": DECORATORS_AND_LAMBDAS}


def answers(name: str) -> dict[str, str]:
    """Every answer cell of the variant's assignment: the variant's, and the solution for the rest."""
    variant = VARIANTS[name]
    solutions = {gid: strip_markers(src) for gid, src in solution_cells(source_notebook(variant.assignment)).items()}
    return {**solutions, **variant.answers}


def notebook(name: str) -> dict:
    """The variant as a submitted notebook (the release with its answer cells filled in)."""
    return filled_release(release_notebook(VARIANTS[name].assignment), answers(name))


def passes_only_in_the_notebook() -> dict:
    """tables_and_helpers with ``ACT`` built by a call (a statement the
    verification does not run), and the test cell of ``stacked_rnn_forward`` showing the pass line the
    student saw. Both parts that use ``ACT`` fail in the verification; the one whose stored output had
    passed is flagged ``lost_in_runner``."""
    nb = notebook("tables_and_helpers")
    built = answers("tables_and_helpers")["stacked_rnn_forward"].replace(
        'ACT = {"tanh": torch.tanh, "relu": torch.relu}',
        'def table():\n    return {"tanh": torch.tanh, "relu": torch.relu}\n\n\nACT = table()')
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in nb["cells"]}
    cells["stacked_rnn_forward"]["source"] = built
    cells["test_stacked_rnn_forward"]["outputs"] = [{
        "output_type": "stream", "name": "stdout",
        "text": "stacked_rnn_forward: all 12 visible cases pass (outputs and h_n).\n"}]
    return nb
