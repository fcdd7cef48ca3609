"""Demo 1 (chapter 1): what the hidden state of a vanilla RNN holds over time.

A tanh RNN with no biases, ``h_t = tanh(W_ih x_t + W_hh h_{t-1})``, reads one input
pattern. Its recurrent matrix is one fixed Gaussian matrix per hidden size, rescaled to
the chosen spectral radius (``grader.reference.scale_to_spectral_radius``). Shown: the
states as a heatmap over time, the state norm ||h_t||, and the matrix of pairwise
distances ||h_s - h_t|| (``grader.reference.pairwise_distances``), whose bands show how
much the state says about *when* it is.
"""

from dataclasses import dataclass

import numpy as np
import torch

from grader.reference import pairwise_distances, rnn_forward, saturation_stats, scale_to_spectral_radius

from ._widget import COLORS, Control, Demo, Heatmap, Lines, Readout

PATTERNS = ("constant", "impulse", "sine", "noise")


@dataclass
class HiddenStateExplorer(Demo):
    steps: int = 40
    seed: int = 0

    name = "hidden-state-explorer"
    title = "Hidden state explorer"
    caption = ("A tanh RNN without biases reads the input pattern; W_hh is a fixed random matrix "
               "rescaled to the chosen spectral radius.")
    controls = (
        Control("pattern", "input x_t", PATTERNS, "sine", kind="choice"),
        Control("hidden_size", "hidden size H", (4, 8, 16, 32), 16),
        Control("radius", "spectral radius of W_hh", (0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0), 0.9),
    )
    panels = (
        Heatmap("states", "hidden state h_t (one row per unit)", xlabel="time step t", ylabel="unit",
                cmap="diverging", vrange=(-1.0, 1.0), x0=1, y0=1),
        Lines("norm", "state norm ||h_t||", (("||h_t||", COLORS["blue"]),), x0=1, include_zero=True),
        Heatmap("distances", "pairwise distance ||h_s − h_t||", xlabel="time step t", ylabel="time step s",
                cmap="sequential", symmetric=True, x0=1, y0=1),
    )
    readouts = (
        Readout("final_norm", "||h_T||"),
        Readout("max_norm", "max ||h_t||"),
        Readout("saturation", "saturated (|h| > 0.95)", "pct:1"),
        Readout("position_signal", "corr(distance, |s − t|)", "fixed:2"),
    )

    def inputs(self, pattern):
        """The input sequence ``(1, T, 1)`` of a pattern."""
        t = torch.arange(self.steps, dtype=torch.float64)
        if pattern == "constant":
            x = torch.full((self.steps,), 0.5, dtype=torch.float64)
        elif pattern == "impulse":
            x = (t == 0).to(torch.float64) * 2.0
        elif pattern == "sine":
            x = torch.sin(2 * torch.pi * t / 10)
        elif pattern == "noise":
            generator = torch.Generator().manual_seed(self.seed + 1000)
            x = torch.randn(self.steps, generator=generator, dtype=torch.float64)
        else:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
        return x.reshape(1, self.steps, 1)

    def weights(self, hidden_size, radius):
        """``(W_ih (H, 1), W_hh (H, H))``: fixed per H, W_hh rescaled to spectral radius ``radius``."""
        generator = torch.Generator().manual_seed(self.seed + hidden_size)
        weight_ih = torch.randn(hidden_size, 1, generator=generator, dtype=torch.float64)
        base = torch.randn(hidden_size, hidden_size, generator=generator, dtype=torch.float64)
        return weight_ih, scale_to_spectral_radius(base, radius)

    def states(self, pattern, hidden_size, radius):
        """The hidden states ``(T, H)``, from ``grader.reference.rnn_forward``."""
        weight_ih, weight_hh = self.weights(hidden_size, radius)
        outputs, _ = rnn_forward(self.inputs(pattern), None, weight_ih, weight_hh)
        return outputs[0]

    def compute(self, pattern, hidden_size, radius):
        states = self.states(pattern, hidden_size, radius)
        norms = states.norm(dim=1)
        distances = pairwise_distances(states)
        s, t = np.triu_indices(self.steps, k=1)
        lag = np.abs(s - t).astype(np.float64)
        upper = distances.numpy()[s, t]
        position = float(np.corrcoef(upper, lag)[0, 1]) if upper.std() > 1e-12 else 0.0
        return {
            "panels": {"states": states.T.numpy(), "norm": norms.numpy(), "distances": distances.numpy()},
            "readouts": {
                "final_norm": norms[-1].item(),
                "max_norm": norms.max().item(),
                "saturation": saturation_stats(states)["saturation_rate"],
                "position_signal": position,
            },
        }


def hidden_state_explorer(**options):
    """The hidden state explorer as a widget (chapter 1). Options: ``steps``, ``seed``."""
    return HiddenStateExplorer(**options).widget()
