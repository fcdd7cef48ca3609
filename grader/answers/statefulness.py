"""The answers of assignment 04, statefulness: resets at document boundaries, truncation inside one call, packing.

States follow PyTorch's recurrent modules: a tensor ``(num_layers * directions, B, H)`` for ``nn.RNN`` and
``nn.GRU``, a pair ``(h, c)`` of such tensors for ``nn.LSTM``, or ``None`` for zeros. Inputs are batch-first.
"""

from __future__ import annotations

import torch

from grader.checks.core import Mistake

from . import Answer

# ----------------------------------------------------------------------------- reset_rows


def _valid_mask(starts) -> None:
    if not isinstance(starts, torch.Tensor) or starts.dtype != torch.bool or starts.dim() != 1:
        kind = f"a {starts.dtype} tensor of shape {tuple(starts.shape)}" if isinstance(starts, torch.Tensor) \
            else type(starts).__name__
        raise ValueError(f"starts must be a bool tensor of shape (B,), got {kind}")


def reset_rows(state, starts):
    """A copy of ``state`` whose batch rows flagged by ``starts`` are zero.

    Args:
        state: ``(L, B, H)``, an LSTM pair of them, or ``None`` (returned as is).
        starts: ``(B,)`` bool, True where a new document starts.

    Returns:
        The same structure and dtype; kept rows stay connected to ``state`` in the autograd graph.
    """
    _valid_mask(starts)
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(reset_rows(part, starts) for part in state)
    if state.dim() != 3 or state.shape[1] != starts.shape[0]:
        raise ValueError(f"starts has {starts.shape[0]} rows but the state has shape {tuple(state.shape)} "
                         f"(batch is dimension 1)")
    return state.masked_fill(starts[None, :, None], 0)


def _rows_inverted(state, starts):
    return reset_rows(state, ~starts) if isinstance(starts, torch.Tensor) and starts.dtype == torch.bool \
        else reset_rows(state, starts)


def _cell_state_kept(state, starts):
    if isinstance(state, tuple):
        return (reset_rows(state[0], starts), state[1])
    return reset_rows(state, starts)


def _detached(state, starts):
    result = reset_rows(state, starts)
    return _detach(result)


def _in_place(state, starts):
    _valid_mask(starts)
    if state is None:
        return None
    parts = state if isinstance(state, tuple) else (state,)
    for part in parts:
        part[:, starts] = 0
    return state


def _mask_unchecked(state, starts):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_mask_unchecked(part, starts) for part in state)
    return state * (1 - starts.to(state.dtype)).reshape(1, -1, 1)


RESET_ROWS = Answer(reset_rows, (
    Mistake("mask inverted",
            "starts is True where a new document begins: those rows are zeroed, the others keep their state.",
            _rows_inverted),
    Mistake("LSTM cell state not reset",
            "an LSTM's state is the pair (h, c): a new document starts with both at zero, so reset the rows of c too.",
            _cell_state_kept),
    Mistake("state detached",
            "return a tensor still connected to the input state (no .detach(), no torch.no_grad()): the kept rows "
            "carry a document on, and within a document the gradient must flow.", _detached),
    Mistake("state changed in place",
            "build a new tensor (e.g. masked_fill, torch.where or a product with a 0/1 mask) instead of writing "
            "zeros into the caller's state: the caller still needs it, and autograd may too.", _in_place,
            error_pattern="(?i)in-?place"),
    Mistake("mask not validated",
            "check starts before using it: a bool tensor with one entry per batch row (shape (B,)). A float, "
            "integer or wrongly sized mask must raise ValueError instead of being broadcast silently.",
            _mask_unchecked),
))

# ----------------------------------------------------------------------------- forward_with_resets


def forward_with_resets(rnn, x, state, starts):
    """Run ``rnn`` over ``x`` with each row's state zeroed just before the steps where ``starts`` is True.

    Args:
        rnn: a batch-first ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``.
        x: ``(B, T, D)``. state: the carried state in ``rnn``'s format, or ``None``.
        starts: ``(B, T)`` bool, True where a new document begins in that row.

    Returns:
        ``(outputs (B, T, H), final_state)``: each document computed as if alone from a zero state.
    """
    if starts.shape != x.shape[:2] or starts.dtype != torch.bool:
        raise ValueError(f"starts must be a bool tensor of shape {tuple(x.shape[:2])}, got {starts.dtype} "
                         f"{tuple(starts.shape)}")
    cuts = [t for t in range(1, x.shape[1]) if bool(starts[:, t].any())]
    pieces = []
    for piece, begins in zip(torch.tensor_split(x, cuts, dim=1), torch.tensor_split(starts, cuts, dim=1)):
        out, state = rnn(piece, reset_rows(state, begins[:, 0]))
        pieces.append(out)
    return torch.cat(pieces, dim=1), state


def _first_step_only(rnn, x, state, starts):
    return rnn(x, reset_rows(state, starts[:, 0]))


def _one_step_late(rnn, x, state, starts):
    late = torch.zeros_like(starts)
    late[:, 1:] = starts[:, :-1]
    return forward_with_resets(rnn, x, state, late)


def _all_rows_reset(rnn, x, state, starts):
    any_row = starts.any(dim=0, keepdim=True).expand_as(starts)
    return forward_with_resets(rnn, x, state, any_row)


def _pairs_half_reset(rnn, x, state, starts):
    """One step per call, zeroing only h of an LSTM pair before each step."""
    outputs = []
    for t in range(x.shape[1]):
        out, state = rnn(x[:, t:t + 1], _cell_state_kept(state, starts[:, t]))
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


def _carried_state_ignored(rnn, x, state, starts):
    return forward_with_resets(rnn, x, None, starts)


FORWARD_WITH_RESETS = Answer(forward_with_resets, (
    Mistake("resets only at the chunk's first step",
            "a document can begin at any step t: split the chunk at every step where some row starts, and reset "
            "those rows' state just before the piece that begins there.", _first_step_only),
    Mistake("reset one step late",
            "the state is zeroed before the row reads x[:, t] at its document's first step, so that the first "
            "output of the document comes from a zero state.", _one_step_late),
    Mistake("every row reset at a split",
            "at a split only the rows whose document starts there are zeroed; the other rows carry their state "
            "into the next piece unchanged.", _all_rows_reset),
    Mistake("LSTM cell state not reset",
            "an LSTM's state is the pair (h, c): zero the starting rows of both.", _pairs_half_reset),
    Mistake("carried state ignored",
            "the chunk starts from the state passed in (rows that do not start a document continue it); only "
            "None means zeros.", _carried_state_ignored),
))

# ----------------------------------------------------------------------------- truncated_forward


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def truncated_forward(rnn, x, state, k):
    """One pass of ``rnn`` over ``x`` whose gradient is truncated to chunks of ``k`` steps.

    Args:
        rnn: a batch-first ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``. x: ``(B, T, D)``.
        state: the incoming state in ``rnn``'s format, or ``None``; detached. k: chunk length, >= 1.

    Returns:
        ``(outputs (B, T, H), final_state)``: the values of a full pass; the state is detached at steps
        0, k, 2k, ..., and the final state is the last chunk's, connected to that chunk only.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    outputs = []
    for piece in torch.split(x, k, dim=1):
        out, state = rnn(piece, _detach(state))
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


def _never_detached(rnn, x, state, k):
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return rnn(x, _detach(state))


def _incoming_kept(rnn, x, state, k):
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    outputs = []
    for index, piece in enumerate(torch.split(x, k, dim=1)):
        out, state = rnn(piece, state if index == 0 else _detach(state))
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


def _restarted(rnn, x, state, k):
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    outputs = []
    for index, piece in enumerate(torch.split(x, k, dim=1)):
        out, state = rnn(piece, _detach(state) if index == 0 else None)
        outputs.append(out)
    return torch.cat(outputs, dim=1), state


def _final_detached(rnn, x, state, k):
    outputs, final = truncated_forward(rnn, x, state, k)
    return outputs, _detach(final)


def _chunks_too_long(rnn, x, state, k):
    return truncated_forward(rnn, x, state, k + 1 if k >= 1 else k)


TRUNCATED_FORWARD = Answer(truncated_forward, (
    Mistake("state not detached between chunks",
            "detach the state every k steps (at steps 0, k, 2k, ...): the outputs do not change, but the "
            "gradient of each output must reach back only to the start of its own chunk.", _never_detached),
    Mistake("incoming state not detached",
            "the state passed in comes from an earlier call: detach it too, so that no gradient flows into it.",
            _incoming_kept),
    Mistake("state reset at every chunk",
            "truncation cuts only the gradient: each chunk starts from the (detached) state the previous chunk "
            "ended in, not from zeros, so that the outputs equal one full pass.", _restarted),
    Mistake("final state detached",
            "return the final state as the module returns it after the last chunk (the next call detaches it): "
            "within the last chunk a loss on it has a gradient.", _final_detached),
    Mistake("chunks of k + 1 steps",
            "the chunks are x[:, 0:k], x[:, k:2k], ...: k steps each (the last one may be shorter).",
            _chunks_too_long),
))

# ----------------------------------------------------------------------------- pack_documents


def _placement(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row -> indices of its documents: each goes to the currently shortest row (ties: lowest index)."""
    totals, rows = [0] * batch_size, [[] for _ in range(batch_size)]
    for index, length in enumerate(lengths):
        row = totals.index(min(totals))
        rows[row].append(index)
        totals[row] += length
    return rows


def pack_documents(documents, batch_size):
    """Lay ``documents`` out as ``batch_size`` rows for stateful training.

    Args:
        documents: a non-empty list of tensors ``(n_i, *)``, n_i >= 1, one trailing shape and dtype.
        batch_size: B >= 1.

    Returns:
        ``(rows (B, L, *), starts (B, L) bool, valid (B, L) bool)``: each document, in order, appended to the
        currently shortest row (ties: the lowest index), rows zero-padded to the longest, L; ``starts`` True at
        every document's first step, ``valid`` True on the steps that hold a document.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(documents) == 0:
        raise ValueError("documents is empty: nothing to pack")
    first = documents[0]
    for document in documents:
        if document.shape[1:] != first.shape[1:] or document.dtype != first.dtype or document.shape[0] < 1:
            raise ValueError("every document must have at least one step and the first document's trailing "
                             f"shape {tuple(first.shape[1:])} and dtype {first.dtype}")
    placement = _placement([d.shape[0] for d in documents], batch_size)
    longest = max(sum(documents[i].shape[0] for i in row) for row in placement)
    rows, starts, valid = [], [], []
    for row in placement:
        pieces = [documents[i] for i in row]
        used = sum(p.shape[0] for p in pieces)
        pieces.append(first.new_zeros(longest - used, *first.shape[1:]))
        rows.append(torch.cat(pieces))
        flags = [flag for i in row for flag in [True] + [False] * (documents[i].shape[0] - 1)]
        starts.append(torch.tensor(flags + [False] * (longest - used), dtype=torch.bool))
        valid.append(torch.arange(longest) < used)
    return torch.stack(rows), torch.stack(starts), torch.stack(valid)


def _round_robin(documents, batch_size):
    if batch_size < 1 or len(documents) == 0:
        return pack_documents(documents, batch_size)
    return _packed_as(documents, batch_size, [list(range(b, len(documents), batch_size)) for b in range(batch_size)])


def _packed_as(documents, batch_size, placement, left_padding=False):
    """``pack_documents``'s output for a given placement (row -> document indices)."""
    longest = max(sum(documents[i].shape[0] for i in row) for row in placement)
    first = documents[0]
    rows = first.new_zeros(batch_size, longest, *first.shape[1:])
    starts = torch.zeros(batch_size, longest, dtype=torch.bool)
    valid = torch.zeros(batch_size, longest, dtype=torch.bool)
    for b, row in enumerate(placement):
        t = longest - sum(documents[i].shape[0] for i in row) if left_padding else 0
        for i in row:
            n = documents[i].shape[0]
            rows[b, t:t + n], starts[b, t], valid[b, t:t + n] = documents[i], True, True
            t += n
    return rows, starts, valid


def _ends_marked(documents, batch_size):
    rows, starts, valid = pack_documents(documents, batch_size)
    ends = torch.zeros_like(starts)
    ends[:, :-1] = starts[:, 1:] & valid[:, :-1]
    ends |= valid & ~torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], dim=1)
    return rows, ends, valid


def _padding_mask(documents, batch_size):
    rows, starts, valid = pack_documents(documents, batch_size)
    return rows, starts, ~valid


def _left_padded(documents, batch_size):
    if batch_size < 1 or len(documents) == 0:
        return pack_documents(documents, batch_size)
    placement = _placement([d.shape[0] for d in documents], batch_size)
    return _packed_as(documents, batch_size, placement, left_padding=True)


def _row_starts_only(documents, batch_size):
    rows, starts, valid = pack_documents(documents, batch_size)
    only_first = torch.zeros_like(starts)
    only_first[:, 0] = starts[:, 0]
    return rows, only_first, valid


PACK_DOCUMENTS = Answer(pack_documents, (
    Mistake("documents dealt round-robin",
            "each document goes to the row that is shortest at that moment (ties: the lowest row index), not to "
            "row i % batch_size: keep a running length per row and pick its minimum for every document.",
            _round_robin),
    Mistake("starts mark the last step",
            "starts is True at each document's first step, where the state must be reset before reading it.",
            _ends_marked),
    Mistake("valid marks the padding",
            "valid is True on the steps that hold a document and False on the padding.", _padding_mask),
    Mistake("padding at the start of the row",
            "documents are laid out from step 0 of their row; the zeros pad the end of the shorter rows.",
            _left_padded),
    Mistake("only each row's first document marked",
            "every document starts somewhere: starts is True at the first step of each one, also in the middle "
            "of a row.", _row_starts_only),
))

ANSWERS = {
    "reset_rows": RESET_ROWS,
    "forward_with_resets": FORWARD_WITH_RESETS,
    "truncated_forward": TRUNCATED_FORWARD,
    "pack_documents": PACK_DOCUMENTS,
}
