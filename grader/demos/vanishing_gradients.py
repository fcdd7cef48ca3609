"""Demo 5 (chapter 5): how far back the gradient reaches, in a vanilla RNN and in an LSTM.

Both networks have 16 units and read 8 sequences of Gaussian noise, in float32 (torch's
fast recurrent kernels; float64 would be three to five times slower than a live update may be). The RNN's W_hh is a
Gaussian matrix rescaled to the chosen spectral radius (``random_recurrent_weight``);
the LSTM's W_hh has each of its four gate blocks rescaled to the same radius
(``scale_to_spectral_radius``) and its forget-gate bias set to the chosen value
(``forget_gate_bias_init_``; 1 is the usual choice). ``grader.reference.input_gradient_norms`` gives
||dL/dx_t|| for every input step t, with L the sum of the last outputs, and
``effective_memory_length`` counts the steps whose gradient is above 1 % of the largest.
"""

from dataclasses import dataclass

import torch

from grader.reference import (
    effective_memory_length,
    forget_gate_bias_init_,
    input_gradient_norms,
    random_recurrent_weight,
    recurrent_module,
    scale_to_spectral_radius,
)

from ._widget import COLORS, Control, Demo, Lines, Readout

FRACTION = 0.01


@dataclass
class VanishingGradients(Demo):
    hidden_size: int = 16
    batch_size: int = 8
    seed: int = 0

    name = "vanishing-gradients"
    title = "Vanishing gradients: how far back does the gradient reach?"
    caption = ("||dL/dx_t|| for every input step, L = the sum of the last outputs, for a tanh RNN and an "
               "LSTM with W_hh at the chosen spectral radius. The bars on top mark each network's effective "
               "memory: the last steps whose gradient is above 1 % of its largest.")
    controls = (
        Control("radius", "spectral radius of W_hh", (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0), 1.0),
        Control("length", "sequence length T", (10, 25, 50, 100, 200), 50),
        Control("forget_bias", "LSTM forget-gate bias", (0.0, 1.0, 3.0, 5.0), 1.0),
    )
    panels = (
        Lines("gradients", "gradient norm per input step (log scale)",
              (("vanilla RNN", COLORS["vermillion"]), ("LSTM", COLORS["blue"])),
              xlabel="input step t", ylabel="||dL/dx_t||", log=True, floor=1e-30, x0=1, wide=True),
    )

    @property
    def readouts(self):
        return (
            Readout("memory_rnn", "effective memory, RNN", "int", "steps"),
            Readout("memory_lstm", "LSTM", "int", "steps"),
            Readout("first_rnn", "RNN ||dL/dx_1||", "exp:1"),
            Readout("first_lstm", "LSTM ||dL/dx_1||", "exp:1"),
        )

    def modules(self, radius, forget_bias):
        """``(rnn, lstm)``: batch-first ``nn.RNN`` and ``nn.LSTM`` with W_hh at spectral radius ``radius``."""
        H = self.hidden_size
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            rnn = recurrent_module("RNN", 1, H)
            lstm = recurrent_module("LSTM", 1, H)
        generator = torch.Generator().manual_seed(self.seed + 1)
        with torch.no_grad():
            rnn.weight_hh_l0.copy_(random_recurrent_weight(H, radius, generator=generator))
            for block in lstm.weight_hh_l0.split(H, dim=0):
                block.copy_(scale_to_spectral_radius(block.clone(), radius))
        forget_gate_bias_init_(lstm, forget_bias)
        return rnn, lstm

    def inputs(self, length):
        generator = torch.Generator().manual_seed(self.seed + 2)
        return torch.randn(self.batch_size, length, 1, generator=generator)

    def gradient_norms(self, radius, length, forget_bias):
        """``(rnn (T,), lstm (T,))`` from ``grader.reference.input_gradient_norms``."""
        rnn, lstm = self.modules(radius, forget_bias)
        x = self.inputs(length)
        return input_gradient_norms(rnn, x), input_gradient_norms(lstm, x)

    def compute(self, radius, length, forget_bias):
        rnn, lstm = self.gradient_norms(radius, length, forget_bias)
        memory_rnn = effective_memory_length(rnn, FRACTION)
        memory_lstm = effective_memory_length(lstm, FRACTION)
        return {
            "panels": {
                "gradients": {"values": torch.stack([rnn, lstm]).numpy(),
                              "bands": [(length - memory_lstm + 0.5, length + 0.5, 1),
                                        (length - memory_rnn + 0.5, length + 0.5, 0)]},
            },
            "readouts": {
                "memory_rnn": memory_rnn, "memory_lstm": memory_lstm,
                "first_rnn": rnn[0].item(), "first_lstm": lstm[0].item(),
            },
        }


def vanishing_gradients_demo(**options):
    """The vanishing-gradients demo as a widget (chapter 5). Options: ``hidden_size``, ``seed``, ..."""
    return VanishingGradients(**options).widget()
