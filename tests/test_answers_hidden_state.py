"""The answers of assignment 01 compute exactly what PyTorch's modules compute, gradients included.

``grader.answers.hidden_state`` is what the checks compare students with, so each function is held here
to ``nn.RNN`` (stacked layers, both directions, packed sequences) or to the modules' own parameter
counts, on sizes that include 1, in float32 and float64.
"""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from grader.answers.hidden_state import (bidirectional_rnn_forward, masked_rnn_forward, recurrent_parameter_count,
                                         stacked_rnn_forward)

TOLERANCE = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def module(dtype, seed, **kwargs):
    torch.manual_seed(seed)
    return nn.RNN(batch_first=True, **kwargs).to(dtype)


def layer_weights(rnn, layer, suffix=""):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction of ``rnn``, None without biases."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return tuple(getattr(rnn, f"{name}_l{layer}{suffix}", None) for name in names)


def gradients(outputs, parameters, seed):
    """d(sum of random weights * outputs)/d(parameters), the same weights for both sides."""
    generator = torch.Generator().manual_seed(seed)
    loss = sum((out * torch.randn(out.shape, generator=generator, dtype=out.dtype)).sum() for out in outputs)
    return torch.autograd.grad(loss, parameters)


def assert_all_close(ours, theirs, dtype):
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCE[dtype])


@pytest.mark.parametrize("layers, bias, nonlinearity, given, dtype", [
    (1, True, "tanh", False, torch.float32), (2, True, "relu", True, torch.float64), (3, False, "tanh", True,
                                                                                       torch.float32),
    (4, True, "tanh", True, torch.float64), (2, False, "relu", False, torch.float64)])
def test_stacked_forward_is_nn_rnn_with_num_layers(layers, bias, nonlinearity, given, dtype):
    for index, (B, T, D, H) in enumerate([(1, 1, 1, 1), (3, 6, 4, 5), (2, 5, 3, 3)]):
        rnn = module(dtype, index, input_size=D, hidden_size=H, num_layers=layers, bias=bias,
                     nonlinearity=nonlinearity)
        x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)
        h0 = torch.randn(layers, B, H, dtype=dtype, requires_grad=True) if given else None
        weights = [layer_weights(rnn, layer) for layer in range(layers)]
        ours = stacked_rnn_forward(x, h0, weights, nonlinearity)
        theirs = rnn(x, h0)
        assert_all_close(ours, theirs, dtype)
        leaves = [x, *rnn.parameters()] + ([h0] if given else [])
        assert_all_close(gradients(ours, leaves, index), gradients(theirs, leaves, index), dtype)


def test_stacked_forward_takes_weights_in_the_order_of_all_weights():
    rnn = module(torch.float64, 0, input_size=3, hidden_size=4, num_layers=3)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    weights = [tuple(layer) for layer in rnn.all_weights]  # [[w_ih, w_hh, b_ih, b_hh], ...] per layer
    assert_all_close(stacked_rnn_forward(x, None, weights), rnn(x), torch.float64)


@pytest.mark.parametrize("bias, nonlinearity, given, dtype", [
    (True, "tanh", True, torch.float32), (False, "relu", True, torch.float64), (True, "relu", False, torch.float64),
    (False, "tanh", False, torch.float32)])
def test_bidirectional_forward_is_nn_rnn_with_both_directions(bias, nonlinearity, given, dtype):
    for index, (B, T, D, H) in enumerate([(1, 1, 1, 1), (3, 7, 2, 4), (2, 4, 5, 5)]):
        rnn = module(dtype, index, input_size=D, hidden_size=H, bias=bias, nonlinearity=nonlinearity,
                     bidirectional=True)
        x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)
        h0 = torch.randn(2, B, H, dtype=dtype, requires_grad=True) if given else None
        ours = bidirectional_rnn_forward(x, h0, layer_weights(rnn, 0), layer_weights(rnn, 0, "_reverse"), nonlinearity)
        theirs = rnn(x, h0)
        assert_all_close(ours, theirs, dtype)
        leaves = [x, *rnn.parameters()] + ([h0] if given else [])
        assert_all_close(gradients(ours, leaves, index), gradients(theirs, leaves, index), dtype)


def test_the_backward_half_of_the_outputs_is_a_forward_pass_over_the_reversed_sequence():
    rnn = module(torch.float64, 3, input_size=2, hidden_size=3, bidirectional=True)
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    outputs, h_n = bidirectional_rnn_forward(x, None, layer_weights(rnn, 0), layer_weights(rnn, 0, "_reverse"))
    backward = nn.RNN(2, 3, batch_first=True).double()
    backward.load_state_dict({k.removesuffix("_reverse"): v for k, v in rnn.state_dict().items() if "reverse" in k})
    reversed_outputs, reversed_h_n = backward(x.flip(1))
    torch.testing.assert_close(outputs[..., 3:], reversed_outputs.flip(1))
    torch.testing.assert_close(h_n[1], reversed_h_n[0])
    torch.testing.assert_close(h_n[1], outputs[:, 0, 3:])


def packed_rnn(rnn, x, lengths, h0):
    """What PyTorch gives for a padded batch: pack (any order), run, pad back to the full length."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    outputs, h_n = rnn(packed, None if h0 is None else h0[None])
    padded, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
    return padded, h_n[0]


@pytest.mark.parametrize("bias, given, dtype", [(True, True, torch.float32), (False, False, torch.float64),
                                                (True, False, torch.float64)])
def test_masked_forward_is_a_packed_sequence_through_nn_rnn(bias, given, dtype):
    for index, (D, H, lengths) in enumerate([(1, 1, [1]), (3, 4, [2, 5, 1, 5, 3]), (2, 2, [4, 4, 4]),
                                             (4, 3, [1, 6, 2])]):
        B, T = len(lengths), max(lengths) + index % 2  # sometimes no row uses the full length
        rnn = module(dtype, index, input_size=D, hidden_size=H, bias=bias)
        x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)  # padding holds values too, not zeros
        h0 = torch.randn(B, H, dtype=dtype, requires_grad=True) if given else None
        lengths = torch.tensor(lengths)
        ours = masked_rnn_forward(x, lengths, h0, *layer_weights(rnn, 0))
        theirs = packed_rnn(rnn, x, lengths, h0)
        assert_all_close(ours, theirs, dtype)
        padding = torch.arange(T)[None, :] >= lengths[:, None]
        assert bool((ours[0][padding] == 0).all())
        leaves = [x, *rnn.parameters()] + ([h0] if given else [])
        ours_grads, theirs_grads = gradients(ours, leaves, index), gradients(theirs, leaves, index)
        assert_all_close(ours_grads, theirs_grads, dtype)
        assert bool((ours_grads[0][padding] == 0).all())  # the padding never reaches the outputs


@pytest.mark.parametrize("lengths", [[0, 2], [2, 4], [-1, 1], [1], [[1, 2]]])
def test_masked_forward_refuses_lengths_out_of_range_or_of_the_wrong_shape(lengths):
    x, w_ih, w_hh = torch.randn(2, 3, 1), torch.randn(2, 1), torch.randn(2, 2)
    with pytest.raises(ValueError, match="length"):
        masked_rnn_forward(x, torch.tensor(lengths), None, w_ih, w_hh)
    with pytest.raises(ValueError, match="integer"):
        masked_rnn_forward(x, torch.tensor([1.0, 2.0]), None, w_ih, w_hh)


def torch_count(input_size, hidden_size, num_layers, bias, mode, bidirectional, proj_size):
    kwargs = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    if proj_size:
        kwargs["proj_size"] = proj_size
    layer = getattr(nn, mode)(input_size, hidden_size, **kwargs)
    return sum(p.numel() for p in layer.parameters())


GRID = [(mode, D, H, L, bias, bidirectional, P)
        for mode, (D, H), L, bias, bidirectional in itertools.product(
            ["RNN", "LSTM", "GRU"], [(1, 1), (3, 8), (10, 5)], [1, 2, 3], [True, False], [False, True])
        for P in ([0, 1, H - 1] if mode == "LSTM" and H > 2 else [0])]


@pytest.mark.parametrize("mode, D, H, L, bias, bidirectional, P", GRID)
def test_parameter_count_is_the_modules_own_count(mode, D, H, L, bias, bidirectional, P):
    count = recurrent_parameter_count(D, H, L, bias, mode, bidirectional, P)
    assert type(count) is int and count == torch_count(D, H, L, bias, mode, bidirectional, P)


def test_parameter_count_defaults_are_a_one_layer_rnn_with_biases():
    assert recurrent_parameter_count(7, 4) == sum(p.numel() for p in nn.RNN(7, 4).parameters())


@pytest.mark.parametrize("mode, H, P", [("RNN", 5, 2), ("GRU", 5, 2), ("LSTM", 4, 4), ("LSTM", 4, 6),
                                        ("LSTM", 4, -1)])
def test_parameter_count_refuses_what_pytorch_refuses(mode, H, P):
    with pytest.raises(ValueError):
        torch_count(3, H, 1, True, mode, False, P)
    with pytest.raises(ValueError, match="proj_size"):
        recurrent_parameter_count(3, H, mode=mode, proj_size=P)


@pytest.mark.parametrize("mode", ["lstm", "RNN_TANH", "Transformer"])
def test_parameter_count_refuses_unknown_modes(mode):
    with pytest.raises(ValueError, match="mode"):
        recurrent_parameter_count(3, 4, mode=mode)


def test_the_parameter_count_may_not_build_the_module():
    from grader.checks import CHECKS, ForbiddenCall, check

    namespace = {"nn": nn, "__name__": "__main__"}
    exec("def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode='RNN',\n"
         "                              bidirectional=False, proj_size=0):\n"
         "    kwargs = {'proj_size': proj_size} if proj_size else {}\n"
         "    layer = getattr(nn, mode)(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional,\n"
         "                              **kwargs)\n"
         "    return sum(p.numel() for p in layer.parameters())\n", namespace)
    with pytest.raises(ForbiddenCall, match="without building the module"):
        check(namespace["recurrent_parameter_count"])
    assert CHECKS["recurrent_parameter_count"].rules.from_scratch is False  # "LSTM" stays a plain string there
