"""Stateful processing of streams and truncated BPTT (``grader.reference.stateful``)."""

import pytest
import torch
from torch import nn

from grader.reference import StatefulRNN, batchify_stream, chunk_sequence, tbptt_step

MODES = ["RNN", "LSTM", "GRU"]
INPUT_SIZE, HIDDEN_SIZE = 3, 5


def twin_models(mode, count=2, output_size=None):
    """``count`` fresh stateful models with identical weights."""
    first = StatefulRNN(INPUT_SIZE, HIDDEN_SIZE, output_size, mode=mode)
    twins = [StatefulRNN(INPUT_SIZE, HIDDEN_SIZE, output_size, mode=mode) for _ in range(count - 1)]
    for twin in twins:
        twin.load_state_dict(first.state_dict())
    return [first, *twins]


def state_tensors(state):
    """The carried state as a list: ``[h]``, or ``[h, c]`` for an LSTM."""
    return list(state) if isinstance(state, tuple) else [state]


def graph_size(tensor):
    """Number of autograd nodes reachable from ``tensor`` (0 for a detached tensor)."""
    seen, frontier = set(), [tensor.grad_fn]
    while frontier:
        node = frontier.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        frontier.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


# ----------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("output_size", [None, 2])
@pytest.mark.parametrize("chunk_length", [1, 4, 12, 20])
@pytest.mark.parametrize("mode", MODES)
def test_chunks_give_the_same_outputs_as_one_pass(mode, chunk_length, output_size):
    chunked_model, whole_model = twin_models(mode, output_size=output_size)
    x = torch.randn(4, 12, INPUT_SIZE)
    chunked = torch.cat([chunked_model(chunk) for chunk in chunk_sequence(x, chunk_length)], dim=1)
    whole = whole_model(x)
    assert chunked.shape == (4, 12, output_size or HIDDEN_SIZE)
    torch.testing.assert_close(chunked, whole)
    for carried, expected in zip(state_tensors(chunked_model.state), state_tensors(whole_model.state)):
        torch.testing.assert_close(carried, expected)


@pytest.mark.parametrize(
    "steps, chunk_length, expected_lengths", [(10, 3, [3, 3, 3, 1]), (6, 6, [6]), (4, 9, [4])]
)
def test_chunk_sequence_splits_along_time(steps, chunk_length, expected_lengths):
    x = torch.randn(2, steps, 3)
    chunks = chunk_sequence(x, chunk_length)
    assert [chunk.shape[1] for chunk in chunks] == expected_lengths
    assert all(chunk.shape[0] == 2 and chunk.shape[2] == 3 for chunk in chunks)
    torch.testing.assert_close(torch.cat(chunks, dim=1), x, rtol=0, atol=0)


def test_chunk_sequence_rejects_nonpositive_length():
    with pytest.raises(ValueError, match="chunk_length"):
        chunk_sequence(torch.randn(2, 5, 3), 0)


@pytest.mark.parametrize("mode", MODES)
def test_no_gradient_across_chunk_boundary(mode):
    model, fresh = twin_models(mode, output_size=2)
    first_chunk = torch.randn(3, 4, INPUT_SIZE, requires_grad=True)
    second_chunk = torch.randn(3, 4, INPUT_SIZE, requires_grad=True)
    model(first_chunk)
    second_outputs = model(second_chunk)
    first_grad, second_grad = torch.autograd.grad(
        second_outputs.sum(), [first_chunk, second_chunk], allow_unused=True
    )
    assert first_grad is None or torch.count_nonzero(first_grad) == 0
    assert torch.count_nonzero(second_grad) > 0
    # Yet the state did carry over: the second chunk's outputs depend on the first chunk.
    assert not torch.allclose(second_outputs, fresh(second_chunk), atol=1e-4)


# ----------------------------------------------------------------------------- reset


@pytest.mark.parametrize("mode", MODES)
def test_reset_state_gives_a_fresh_start(mode):
    model, fresh = twin_models(mode)
    model(torch.randn(2, 5, INPUT_SIZE))
    model.reset_state()
    assert model.state is None
    x = torch.randn(2, 5, INPUT_SIZE)
    torch.testing.assert_close(model(x), fresh(x))


@pytest.mark.parametrize("rows", [[0, 2], torch.tensor([True, False, True, False])], ids=["list", "mask"])
@pytest.mark.parametrize("mode", MODES)
def test_reset_state_of_some_rows(mode, rows):
    model, continuing, fresh = twin_models(mode, count=3)
    first_chunk, second_chunk = torch.randn(4, 5, INPUT_SIZE), torch.randn(4, 5, INPUT_SIZE)
    model(first_chunk)
    continuing(first_chunk)
    before = [s.clone() for s in state_tensors(model.state)]

    model.reset_state(rows=rows)

    reset, kept = [0, 2], [1, 3]
    for after, old in zip(state_tensors(model.state), before):
        assert after.shape == old.shape
        assert torch.count_nonzero(after[:, reset]) == 0
        torch.testing.assert_close(after[:, kept], old[:, kept])
    outputs = model(second_chunk)
    torch.testing.assert_close(outputs[reset], fresh(second_chunk[reset]))
    torch.testing.assert_close(outputs[kept], continuing(second_chunk)[kept])


def test_reset_rows_before_first_call_keeps_state_none():
    (model,) = twin_models("GRU", count=1)
    model.reset_state(rows=[0])
    assert model.state is None


# ----------------------------------------------------------------------------- batchify_stream


@pytest.mark.parametrize("feature_shape", [(), (2,)], ids=["tokens", "features"])
@pytest.mark.parametrize("length, batch_size", [(23, 4), (24, 4), (7, 7), (5, 1)])
def test_batchify_stream_rows_are_contiguous_pieces(length, batch_size, feature_shape):
    stream = torch.arange(length).reshape(length, *([1] * len(feature_shape))).expand(length, *feature_shape)
    batched = batchify_stream(stream, batch_size)
    piece = length // batch_size
    assert batched.shape == (batch_size, piece, *feature_shape)
    for b in range(batch_size):
        torch.testing.assert_close(batched[b], stream[b * piece : (b + 1) * piece])
    assert batched.max() == batch_size * piece - 1  # the tail is dropped


@pytest.mark.parametrize("chunk_length", [1, 2, 3])
def test_batchified_chunks_continue_each_row(chunk_length):
    stream = torch.arange(50)
    chunks = chunk_sequence(batchify_stream(stream, 4), chunk_length)
    for previous, following in zip(chunks, chunks[1:]):
        # In the original stream, row b of the next chunk starts right after row b of this one.
        torch.testing.assert_close(following[:, 0], previous[:, -1] + 1)


@pytest.mark.parametrize("length, batch_size", [(3, 4), (0, 2)])
def test_batchify_stream_rejects_too_short_stream(length, batch_size):
    with pytest.raises(ValueError, match="cannot fill"):
        batchify_stream(torch.arange(length), batch_size)


# ----------------------------------------------------------------------------- truncated BPTT


def echo_task_chunks(batch_size=8, chunk_length=10, num_chunks=40, delay=1):
    """A stream whose target is the input ``delay`` steps ago, cut into stateful chunks.

    At the first step of a chunk the answer lies in the previous chunk, so the model
    needs its carried state.
    """
    length = batch_size * chunk_length * num_chunks + delay
    stream = torch.randn(length, generator=torch.Generator().manual_seed(1))
    inputs = batchify_stream(stream[delay:, None], batch_size)
    targets = batchify_stream(stream[:-delay, None], batch_size)
    return list(zip(chunk_sequence(inputs, chunk_length), chunk_sequence(targets, chunk_length)))


def make_stateful_regressor(mode):
    model = StatefulRNN(1, 16, output_size=1, mode=mode)
    return model, torch.optim.Adam(model.parameters(), lr=2e-2)


@pytest.mark.parametrize("mode", MODES)
def test_tbptt_loss_decreases(mode):
    model, optimizer = make_stateful_regressor(mode)
    losses = [
        tbptt_step(model, optimizer, inputs, targets, nn.functional.mse_loss)
        for inputs, targets in echo_task_chunks()
    ]
    assert all(isinstance(loss, float) for loss in losses)
    assert sum(losses[-5:]) / 5 < 0.3 * sum(losses[:5]) / 5


@pytest.mark.parametrize("mode", MODES)
def test_tbptt_carried_state_has_no_history(mode):
    model, optimizer = make_stateful_regressor(mode)
    incoming_states = []
    model.rnn.register_forward_pre_hook(lambda module, args: incoming_states.append(args[1]))
    graph_sizes = []
    for inputs, targets in echo_task_chunks(num_chunks=30):
        tbptt_step(model, optimizer, inputs, targets, nn.functional.mse_loss)
        graph_sizes.append(graph_size(state_tensors(model.state)[0]))

    assert incoming_states[0] is None
    for state in incoming_states[1:]:
        assert all(s.grad_fn is None and not s.requires_grad for s in state_tensors(state))
    # The graph behind the carried state spans one chunk only: it does not grow with the stream.
    assert graph_sizes[0] > 0
    assert graph_sizes[-1] == graph_sizes[1]


@pytest.mark.parametrize("max_grad_norm", [1e-3, 0.05])
def test_tbptt_clips_gradient_norm(max_grad_norm):
    model, optimizer = make_stateful_regressor("LSTM")
    inputs, targets = echo_task_chunks(num_chunks=1)[0]
    tbptt_step(model, optimizer, inputs, targets, nn.functional.mse_loss, max_grad_norm=max_grad_norm)
    total_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert total_norm <= max_grad_norm * (1 + 1e-4)
