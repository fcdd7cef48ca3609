"""The answers of assignment 04 (grader.answers.statefulness) against PyTorch's modules and autograd.

Every expectation is computed another way: documents run alone through the ``torch.nn`` module, one step
at a time, the gradient of truncated BPTT as a sum of per-chunk gradients, and a packing worked by hand.
"""

import pytest
import torch
from torch import nn

from grader.answers.statefulness import forward_with_resets, pack_documents, reset_rows, truncated_forward

MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def module(mode, D=2, H=3, layers=1, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return MODULES[mode](D, H, layers, batch_first=True).to(dtype)


def random_state(mode, layers, B, H, dtype=torch.float64):
    h = torch.randn(layers, B, H, dtype=dtype)
    return (h, torch.randn(layers, B, H, dtype=dtype)) if mode == "LSTM" else h


def rows_of(state, b):
    """Row ``b`` of a state, kept as a batch of one."""
    if isinstance(state, tuple):
        return tuple(s[:, b:b + 1] for s in state)
    return None if state is None else state[:, b:b + 1]


def leaves(state):
    return list(state) if isinstance(state, tuple) else [state]


# ----------------------------------------------------------------------------- reset_rows


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("pair", [False, True])
def test_reset_rows_zeroes_the_flagged_rows_keeps_the_others_and_their_gradient(dtype, pair):
    state = tuple(torch.randn(2, 4, 3, dtype=dtype, requires_grad=True) for _ in range(2 if pair else 1))
    state = state if pair else state[0]
    before = [s.detach().clone() for s in leaves(state)]
    starts = torch.tensor([True, False, False, True])
    result = reset_rows(state, starts)
    assert isinstance(result, tuple) == pair
    for got, original in zip(leaves(result), before):
        assert got.dtype == dtype and got.shape == original.shape
        assert torch.equal(got[:, starts], torch.zeros_like(original[:, starts]))
        assert torch.equal(got[:, ~starts], original[:, ~starts])
    for now, original in zip(leaves(state), before):
        assert torch.equal(now.detach(), original)  # the input is untouched
    weights = [torch.randn_like(r) for r in leaves(result)]
    grads = torch.autograd.grad(sum((r * w).sum() for r, w in zip(leaves(result), weights)), leaves(state))
    for grad, weight in zip(grads, weights):
        assert torch.equal(grad, weight * (~starts).to(dtype)[None, :, None])


def test_reset_rows_keeps_none_and_refuses_bad_masks():
    assert reset_rows(None, torch.tensor([True, False])) is None
    state = torch.randn(1, 3, 2)
    for bad in [torch.ones(3), torch.ones(3, dtype=torch.int64), torch.ones(2, dtype=torch.bool),
                torch.ones(3, 1, dtype=torch.bool), [True, False, True]]:
        with pytest.raises(ValueError):
            reset_rows(state, bad)


# ----------------------------------------------------------------------------- forward_with_resets


def documents_alone(rnn, x, state, starts):
    """Each row cut at its own starts, every document run alone (the first one from the row's state)."""
    outputs, finals = [], []
    for b in range(x.shape[0]):
        cuts = [0] + [t for t in range(1, x.shape[1]) if starts[b, t]] + [x.shape[1]]
        row_state = None if starts[b, 0] else rows_of(state, b)
        pieces = []
        for begin, end in zip(cuts, cuts[1:]):
            out, row_state = rnn(x[b:b + 1, begin:end], row_state if begin == 0 else None)
            pieces.append(out)
        outputs.append(torch.cat(pieces, dim=1))
        finals.append(row_state)
    if isinstance(finals[0], tuple):
        final = tuple(torch.cat([f[i] for f in finals], dim=1) for i in range(2))
    else:
        final = torch.cat(finals, dim=1)
    return torch.cat(outputs), final


def one_step_at_a_time(rnn, x, state, starts):
    """The module fed one step per call, the starting rows' state multiplied by zero just before."""
    outputs = []
    for t in range(x.shape[1]):
        keep = (~starts[:, t]).to(x.dtype)[None, :, None]
        if state is not None:
            state = tuple(s * keep for s in state) if isinstance(state, tuple) else state * keep
        out, state = rnn(x[:, t:t + 1], state)
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


STARTS = [
    [[False, False, True, False, False, False], [False, False, False, False, True, False],
     [True, False, False, False, False, False]],
    [[True, False, False, True, False, False], [True, False, False, True, False, True],
     [False, False, False, False, False, False]],
    [[False] * 6, [False] * 6, [False] * 6],
    [[True] * 6, [False, True, False, True, False, True], [False] * 5 + [True]],
]


@pytest.mark.parametrize("mode", sorted(MODULES))
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("pattern", range(len(STARTS)))
@pytest.mark.parametrize("given", [True, False])
def test_forward_with_resets_runs_every_document_alone(mode, layers, pattern, given):
    rnn = module(mode, layers=layers, seed=pattern)
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    state = random_state(mode, layers, 3, 3) if given else None
    starts = torch.tensor(STARTS[pattern])
    outputs, final = forward_with_resets(rnn, x, state, starts)
    alone_outputs, alone_final = documents_alone(rnn, x, state, starts)
    torch.testing.assert_close(outputs, alone_outputs, rtol=1e-12, atol=1e-12)
    for got, want in zip(leaves(final), leaves(alone_final)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(MODULES))
def test_forward_with_resets_has_the_gradients_of_the_step_by_step_pass(mode):
    rnn = module(mode, layers=2, seed=3)
    x = torch.randn(3, 6, 2, dtype=torch.float64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in leaves(random_state(mode, 2, 3, 3)))
    state = state if mode == "LSTM" else state[0]
    starts = torch.tensor(STARTS[0])
    weights = torch.randn(3, 6, 3, dtype=torch.float64)
    targets = [x, *leaves(state), *rnn.parameters()]
    ours = torch.autograd.grad((forward_with_resets(rnn, x, state, starts)[0] * weights).sum(), targets)
    theirs = torch.autograd.grad((one_step_at_a_time(rnn, x, state, starts)[0] * weights).sum(), targets)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # the gradient stops at a document's start: row 0's outputs from step 2 on ignore its steps 0 and 1
    later = torch.zeros_like(weights)
    later[0, 2:] = 1.0
    grad_x, = torch.autograd.grad((forward_with_resets(rnn, x, state, starts)[0] * later).sum(), x)
    assert torch.equal(grad_x[0, :2], torch.zeros_like(grad_x[0, :2])) and bool(grad_x[0, 2:].abs().sum() > 0)


# ----------------------------------------------------------------------------- truncated_forward


def detached(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def truncated_gradient(rnn, x, state, k, weights, final_weights):
    """The gradient of truncated BPTT by its definition: a sum over chunks, each run from its detached start."""
    targets = [x, *rnn.parameters()]
    total = [torch.zeros_like(t) for t in targets]
    for begin in range(0, x.shape[1], k):
        out, state = rnn(x[:, begin:begin + k], detached(state))
        loss = (out * weights[:, begin:begin + k]).sum()
        if begin + k >= x.shape[1]:
            loss = loss + sum((s * w).sum() for s, w in zip(leaves(state), leaves(final_weights)))
        for acc, g in zip(total, torch.autograd.grad(loss, targets, allow_unused=True)):
            if g is not None:
                acc += g
    return total


@pytest.mark.parametrize("mode", sorted(MODULES))
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("T, k", [(7, 1), (7, 2), (7, 3), (6, 3), (5, 5), (4, 9)])
def test_truncated_forward_keeps_the_full_pass_and_truncates_its_gradient(mode, layers, T, k):
    rnn = module(mode, layers=layers, seed=T * 10 + k)
    x = torch.randn(2, T, 2, dtype=torch.float64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in leaves(random_state(mode, layers, 2, 3)))
    state = state if mode == "LSTM" else state[0]
    outputs, final = truncated_forward(rnn, x, state, k)
    full_outputs, full_final = rnn(x, state)
    # float64: bit for bit for nn.RNN and nn.GRU; nn.LSTM's kernel rounds its last bit differently for some
    # chunk lengths
    exact = {"rtol": 0.0, "atol": 0.0 if mode != "LSTM" else 1e-15}
    torch.testing.assert_close(outputs, full_outputs, **exact)
    for got, want in zip(leaves(final), leaves(full_final)):
        torch.testing.assert_close(got, want, **exact)
    weights = torch.randn_like(outputs)
    final_weights = tuple(torch.randn_like(s) for s in leaves(final))
    loss = (outputs * weights).sum() + sum((s * w).sum() for s, w in zip(leaves(final), final_weights))
    targets = [x, *rnn.parameters()]
    grads = torch.autograd.grad(loss, targets + leaves(state), allow_unused=True)
    expected = truncated_gradient(rnn, x, state, k, weights, final_weights)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert all(g is None for g in grads[len(targets):])  # the incoming state is detached


def test_truncated_forward_gradient_differs_from_full_bptt_and_refuses_k_below_one():
    rnn = module("RNN", seed=1)
    x = torch.randn(1, 8, 2, dtype=torch.float64, requires_grad=True)
    last = lambda outputs: outputs[:, -1].sum()  # noqa: E731 - the last output reaches back furthest
    truncated, = torch.autograd.grad(last(truncated_forward(rnn, x, None, 3)[0]), x)
    full, = torch.autograd.grad(last(rnn(x)[0]), x)
    assert torch.equal(truncated[:, :6], torch.zeros_like(truncated[:, :6]))  # the last chunk is steps 6, 7
    assert bool(full[:, :6].abs().sum() > 0)
    for k in (0, -1):
        with pytest.raises(ValueError):
            truncated_forward(rnn, x, None, k)


def test_truncated_forward_in_float32_matches_the_full_pass_to_rounding():
    rnn = module("LSTM", dtype=torch.float32, seed=2)
    x = torch.randn(3, 20, 2)
    torch.testing.assert_close(truncated_forward(rnn, x, None, 6)[0], rnn(x)[0])


# ----------------------------------------------------------------------------- pack_documents


def test_pack_documents_worked_by_hand():
    documents = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6]), torch.tensor([7, 8, 9, 10])]
    rows, starts, valid = pack_documents(documents, 2)
    # lengths 3, 1, 2, 4 into 2 rows: 3 -> row 0; 1 -> row 1 (0 < 3); 2 -> row 1 (1 < 3); 4 -> row 0 (tie 3, 3)
    assert torch.equal(rows, torch.tensor([[1, 2, 3, 7, 8, 9, 10], [4, 5, 6, 0, 0, 0, 0]]))
    assert starts.tolist() == [[True, False, False, True, False, False, False],
                               [True, True, False, False, False, False, False]]
    assert valid.tolist() == [[True] * 7, [True] * 3 + [False] * 4]


@pytest.mark.parametrize("seed", range(8))
def test_pack_documents_properties(seed):
    generator = torch.Generator().manual_seed(seed)
    count = int(torch.randint(1, 9, (), generator=generator))
    batch_size = int(torch.randint(1, 5, (), generator=generator))
    lengths = torch.randint(1, 6, (count,), generator=generator).tolist()
    documents = [torch.randn(n, 3, generator=generator, dtype=torch.float64) + 10 * i for i, n in enumerate(lengths)]
    rows, starts, valid = pack_documents(documents, batch_size)
    assert rows.shape[:2] == starts.shape == valid.shape and rows.shape[2:] == (3,) and rows.dtype == torch.float64
    assert starts.dtype == valid.dtype == torch.bool and bool((starts <= valid).all())
    assert torch.equal(rows[~valid], torch.zeros_like(rows[~valid]))
    found = {}
    for b in range(batch_size):
        used = int(valid[b].sum())
        assert bool(valid[b, :used].all())  # real steps first, padding after
        begins = starts[b].nonzero().flatten().tolist() + [used]
        for begin, end in zip(begins, begins[1:]):
            piece = rows[b, begin:end]
            index = next(i for i, d in enumerate(documents) if d.shape == piece.shape and torch.equal(d, piece))
            found[index] = (b, begin)
    assert sorted(found) == list(range(count))
    # the greedy rule: when document i was placed, its row was the shortest, and the lowest such row
    for i in range(count):
        row, begin = found[i]
        totals = [sum(lengths[j] for j in range(i) if found[j][0] == b) for b in range(batch_size)]
        assert begin == totals[row] == min(totals) and row == totals.index(min(totals))
    assert rows.shape[1] == max(int(v.sum()) for v in valid)


def test_pack_documents_refuses_an_empty_list_and_batch_size_below_one():
    with pytest.raises(ValueError):
        pack_documents([], 2)
    for batch_size in (0, -3):
        with pytest.raises(ValueError):
            pack_documents([torch.ones(2)], batch_size)
