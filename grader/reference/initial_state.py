"""Three ways to choose the initial hidden state h_0.

The modules here wrap ``torch.nn.RNN/LSTM/GRU`` with ``batch_first=True``, so their
states follow PyTorch's module convention: ``(num_layers, B, H)``, and for an LSTM a
pair ``(h, c)`` of such tensors.
"""

import torch
from torch import nn

RECURRENT_MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def recurrent_module(mode, input_size, hidden_size, num_layers=1):
    """A batch-first ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` chosen by name."""
    if mode not in RECURRENT_MODULES:
        raise ValueError(f"mode must be one of {sorted(RECURRENT_MODULES)}, got {mode!r}")
    return RECURRENT_MODULES[mode](input_size, hidden_size, num_layers, batch_first=True)


def zero_initial_state(batch_size, hidden_size, num_layers=1, *, dtype=None, device=None):
    """h_0 = 0: the default of every PyTorch recurrent module.

    Returns:
        ``(num_layers, batch_size, hidden_size)`` zeros.
    """
    return torch.zeros(num_layers, batch_size, hidden_size, dtype=dtype, device=device)


class LearnedInitialStateRNN(nn.Module):
    """A vanilla RNN whose initial state h_0 is a trained parameter.

    One vector per layer, ``h0`` of shape ``(num_layers, 1, H)``, is shared by every
    sequence: it is expanded over the batch (and made contiguous, as ``nn.RNN`` wants),
    so its gradient is the sum of the gradients of all sequences in the batch. It starts at zero, so an
    untrained model behaves exactly like one with a zero initial state.
    """

    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers, batch_first=True)
        self.h0 = nn.Parameter(torch.zeros(num_layers, 1, hidden_size))

    def initial_state(self, batch_size):
        """``(num_layers, batch_size, H)``: the learned h_0 repeated for each sequence."""
        return self.h0.expand(-1, batch_size, -1).contiguous()

    def forward(self, x):
        """x: ``(B, T, D)``. Returns ``(outputs (B, T, H), h_n (num_layers, B, H))``."""
        return self.rnn(x, self.initial_state(x.shape[0]))


class EncoderDecoder(nn.Module):
    """Sequence-to-sequence model whose decoder starts from the encoder's final state.

    The encoder reads the whole source; its last state, a fixed-size summary of the
    source, becomes the decoder's h_0 (for an LSTM both h and c are handed over).
    A linear readout maps each decoder state to an output vector.

    Args:
        mode: ``"RNN"``, ``"LSTM"`` or ``"GRU"``, used for both halves.
        source_size: features per source step. target_size: features per decoder input step.
        hidden_size: H, shared by both halves so the state can be handed over.
        output_size: features per output step.
    """

    def __init__(self, mode, source_size, target_size, hidden_size, output_size):
        super().__init__()
        self.encoder = recurrent_module(mode, source_size, hidden_size)
        self.decoder = recurrent_module(mode, target_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)

    def encode(self, source):
        """source: ``(B, S, source_size)``. Returns the encoder's final state."""
        _, final_state = self.encoder(source)
        return final_state

    def forward(self, source, target_inputs):
        """source: ``(B, S, source_size)``, target_inputs: ``(B, T, target_size)``.

        Returns ``(B, T, output_size)``.
        """
        decoder_states, _ = self.decoder(target_inputs, self.encode(source))
        return self.readout(decoder_states)
