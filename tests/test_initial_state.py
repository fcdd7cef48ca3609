"""Initial states: zeros, a learned h_0, and an encoder's final state (``initial_state``)."""

import pytest
import torch
from torch import nn

from grader.reference import EncoderDecoder, LearnedInitialStateRNN, recurrent_module, zero_initial_state

MODES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def copy_of(module, module_class):
    """A fresh ``module_class`` with the same configuration and weights as ``module``."""
    twin = module_class(
        module.input_size, module.hidden_size, module.num_layers, batch_first=module.batch_first
    )
    twin.load_state_dict(module.state_dict())
    return twin


# ----------------------------------------------------------------------------- helpers of the module


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_recurrent_module(mode, num_layers):
    module = recurrent_module(mode, 3, 5, num_layers)
    assert type(module) is MODES[mode]
    assert (module.input_size, module.hidden_size, module.num_layers) == (3, 5, num_layers)
    assert module.batch_first


def test_recurrent_module_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        recurrent_module("Transformer", 3, 5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_zero_initial_state(dtype):
    state = zero_initial_state(4, 6, num_layers=2, dtype=dtype)
    assert state.shape == (2, 4, 6) and state.dtype == dtype
    assert torch.count_nonzero(state) == 0


# ----------------------------------------------------------------------------- learned h_0


@pytest.mark.parametrize("num_layers", [1, 2])
def test_learned_initial_state_starts_like_zero_state(num_layers):
    model = LearnedInitialStateRNN(3, 4, num_layers)
    reference = copy_of(model.rnn, nn.RNN)
    x = torch.randn(5, 7, 3)
    outputs, h_n = model(x)
    expected_outputs, expected_h_n = reference(x)  # nn.RNN's default h_0 = 0
    torch.testing.assert_close(outputs, expected_outputs)
    torch.testing.assert_close(h_n, expected_h_n)
    assert model.h0.shape == (num_layers, 1, 4)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_learned_initial_state_uses_its_value(num_layers):
    model = LearnedInitialStateRNN(3, 4, num_layers)
    with torch.no_grad():
        model.h0.copy_(torch.randn(num_layers, 1, 4))
    reference = copy_of(model.rnn, nn.RNN)
    x = torch.randn(5, 7, 3)
    outputs, h_n = model(x)
    expected_outputs, expected_h_n = reference(x, model.h0.detach().expand(num_layers, 5, 4).contiguous())
    torch.testing.assert_close(outputs, expected_outputs)
    torch.testing.assert_close(h_n, expected_h_n)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_learned_initial_state_gradient_is_sum_over_batch(num_layers):
    model = LearnedInitialStateRNN(3, 4, num_layers)
    with torch.no_grad():
        model.h0.copy_(torch.randn(num_layers, 1, 4))
    reference = copy_of(model.rnn, nn.RNN)
    x = torch.randn(5, 7, 3)
    loss_weights = torch.randn(5, 7, 4)

    outputs, _ = model(x)
    (outputs * loss_weights).sum().backward()

    # One independent leaf per sequence: the shared h_0 must collect the sum of their gradients.
    per_sequence_h0 = model.h0.detach().repeat(1, 5, 1).requires_grad_(True)
    reference_outputs, _ = reference(x, per_sequence_h0)
    (per_sequence_grad,) = torch.autograd.grad((reference_outputs * loss_weights).sum(), per_sequence_h0)

    torch.testing.assert_close(model.h0.grad, per_sequence_grad.sum(dim=1, keepdim=True))
    assert model.h0.grad.abs().sum() > 0


def test_learned_initial_state_is_a_trained_parameter():
    model = LearnedInitialStateRNN(2, 3)
    assert any(param is model.h0 for param in model.parameters())


# ----------------------------------------------------------------------------- encoder-decoder


def make_encoder_decoder(mode):
    return EncoderDecoder(mode, source_size=3, target_size=2, hidden_size=5, output_size=4)


def run_by_hand(model, mode, source, target_inputs, decoder_state="encoder"):
    """The model's computation redone with separate copies of its encoder, decoder and readout."""
    encoder = copy_of(model.encoder, MODES[mode])
    decoder = copy_of(model.decoder, MODES[mode])
    _, final_state = encoder(source)
    decoder_outputs, _ = decoder(target_inputs, final_state if decoder_state == "encoder" else None)
    return nn.functional.linear(decoder_outputs, model.readout.weight, model.readout.bias)


@pytest.mark.parametrize("mode", MODES)
def test_encoder_decoder_hands_over_the_final_state(mode):
    model = make_encoder_decoder(mode)
    source, target_inputs = torch.randn(3, 6, 3), torch.randn(3, 4, 2)
    outputs = model(source, target_inputs)
    assert outputs.shape == (3, 4, 4)
    torch.testing.assert_close(outputs, run_by_hand(model, mode, source, target_inputs))
    # ... and not a zero state, which would give something else.
    from_zeros = run_by_hand(model, mode, source, target_inputs, decoder_state="zeros")
    assert not torch.allclose(outputs, from_zeros, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_encode_returns_encoder_final_state(mode):
    model = make_encoder_decoder(mode)
    source = torch.randn(3, 6, 3)
    state = model.encode(source)
    encoder_outputs, _ = copy_of(model.encoder, MODES[mode])(source)
    if mode == "LSTM":
        assert isinstance(state, tuple) and len(state) == 2  # (h, c)
        state = state[0]
    assert state.shape == (1, 3, 5)
    torch.testing.assert_close(state[0], encoder_outputs[:, -1])


@pytest.mark.parametrize("mode", MODES)
def test_encoder_decoder_output_depends_on_source(mode):
    model = make_encoder_decoder(mode)
    target_inputs = torch.randn(3, 4, 2)
    first = model(torch.randn(3, 6, 3), target_inputs)
    second = model(torch.randn(3, 6, 3), target_inputs)
    assert not torch.allclose(first, second, atol=1e-4)
    # Gradient from the outputs reaches the source.
    source = torch.randn(3, 6, 3, requires_grad=True)
    (gradient,) = torch.autograd.grad(model(source, target_inputs).sum(), source)
    assert gradient.abs().sum() > 0
