"""Demo 3 (chapter 3): where the state starts, and how W_hh's initialization shapes what follows.

A tanh RNN with 16 units (no biases) reads 16 sequences of Gaussian noise from one of
four initial states:

* zero: ``grader.reference.zero_initial_state``;
* random: a standard normal vector per sequence;
* learned: the ``h0`` of a ``grader.reference.LearnedInitialStateRNN`` trained (once,
  when the demo is made) on chapter 3's running-balance task, which opens at 1.5;
* encoder: the final state of a ``grader.reference.EncoderDecoder``'s encoder, given the
  same W_hh, after reading a 20-step source sequence.

W_hh is the identity (``identity_init_``), orthogonal (``orthogonal_init_``) or
Gaussian (``random_recurrent_weight``), scaled to the chosen spectral radius. Shown:
the mean state norm over time, how far the run stays from the zero-start run (how long
the start is remembered), the saturation rate (``saturation_stats``) per step, and the
first sequence's states.
"""

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from grader.reference import (
    EncoderDecoder,
    LearnedInitialStateRNN,
    identity_init_,
    orthogonal_init_,
    random_recurrent_weight,
    rnn_forward,
    saturation_stats,
    spectral_radius,
    zero_initial_state,
)

from ._widget import COLORS, Control, Demo, Heatmap, Lines, Readout, single_thread

INITIAL_STATES = ("zero", "random", "learned", "encoder")
WEIGHT_INITS = ("identity", "orthogonal", "random")
SATURATION = 0.95
REMEMBERED = 0.01


@lru_cache(maxsize=8)
def learned_initial_state(hidden_size, seed=0, steps=150):
    """``(H,)``: h0 of a LearnedInitialStateRNN trained on the running-balance task of chapter 3.

    Targets are ``1.5 + 0.3 * cumsum(x)`` for Gaussian deposits x (20 steps, batch 32),
    read out linearly from every state; Adam, lr 1e-2. Cached: trained once per (H, seed).
    """
    with torch.random.fork_rng(), torch.enable_grad(), single_thread():
        torch.manual_seed(seed)
        core = LearnedInitialStateRNN(1, hidden_size)
        readout = nn.Linear(hidden_size, 1)
        parameters = [*core.parameters(), *readout.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=1e-2)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            x = torch.randn(32, 20, 1, generator=generator)
            loss = nn.functional.mse_loss(readout(core(x)[0]), 1.5 + 0.3 * x.cumsum(dim=1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return core.h0.detach()[0, 0].to(torch.float64)


@dataclass
class InitializationExplorer(Demo):
    steps: int = 50
    batch_size: int = 16
    hidden_size: int = 16
    source_steps: int = 20
    seed: int = 0

    name = "initialization-explorer"
    title = "Initial state and W_hh initialization"
    caption = ("A tanh RNN (H = 16, no biases) reads 16 noise sequences from the chosen h_0; W_hh is scaled "
               "to the chosen spectral radius.")
    controls = (
        Control("initial_state", "initial state h_0", INITIAL_STATES, "zero", kind="choice"),
        Control("weight_init", "W_hh initialization", WEIGHT_INITS, "orthogonal", kind="choice"),
        Control("radius", "spectral radius of W_hh", (0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0), 1.0),
    )
    panels = (
        Lines("norm", "mean state norm over the 16 sequences",
              (("||h_t||", COLORS["blue"]), ("||h_t − h_t(zero start)||", COLORS["orange"])),
              ylabel="norm", x0=0, include_zero=True),
        Lines("saturation", f"saturation rate (share of |h| > {SATURATION})",
              (("saturated", COLORS["vermillion"]),), ylabel="share", ylim=(0.0, 1.0), x0=0),
        Heatmap("states", "states of sequence 1 (one row per unit)", xlabel="time step t", ylabel="unit",
                cmap="diverging", vrange=(-1.0, 1.0), x0=0, y0=1),
    )

    @property
    def readouts(self):
        return (
            Readout("initial_norm", "||h_0||"),
            Readout("final_norm", "||h_T||"),
            Readout("saturation", "saturation rate", "pct:1"),
            Readout("remembered", "start remembered for", "int", "steps", cap=self.steps),
            Readout("radius", "ρ(W_hh)", "fixed:2"),
        )

    def weights(self, weight_init, radius):
        """``(W_ih (H, 1), W_hh (H, H))`` for one initialization, W_hh at spectral radius ``radius``."""
        H = self.hidden_size
        generator = torch.Generator().manual_seed(self.seed)
        weight_ih = 0.5 * torch.randn(H, 1, generator=generator, dtype=torch.float64)
        if weight_init == "identity":
            weight_hh = identity_init_(torch.empty(H, H, dtype=torch.float64), gain=radius)
        elif weight_init == "orthogonal":
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                weight_hh = orthogonal_init_(torch.empty(H, H, dtype=torch.float64), gain=radius)
        elif weight_init == "random":
            weight_hh = random_recurrent_weight(H, radius, generator=generator, dtype=torch.float64)
        else:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
        return weight_ih, weight_hh

    def inputs(self):
        generator = torch.Generator().manual_seed(self.seed + 1)
        return torch.randn(self.batch_size, self.steps, 1, generator=generator, dtype=torch.float64)

    def initial_state(self, initial_state, weight_ih, weight_hh):
        """``(B, H)`` initial states of the chosen kind."""
        B, H = self.batch_size, self.hidden_size
        if initial_state == "zero":
            return zero_initial_state(B, H, dtype=torch.float64)[0]
        if initial_state == "random":
            generator = torch.Generator().manual_seed(self.seed + 2)
            return torch.randn(B, H, generator=generator, dtype=torch.float64)
        if initial_state == "learned":
            return learned_initial_state(H, self.seed).expand(B, H).clone()
        if initial_state == "encoder":
            model = EncoderDecoder("RNN", 1, 1, H, 1).double()
            with torch.no_grad():
                model.encoder.weight_ih_l0.copy_(weight_ih)
                model.encoder.weight_hh_l0.copy_(weight_hh)
                model.encoder.bias_ih_l0.zero_()
                model.encoder.bias_hh_l0.zero_()
                generator = torch.Generator().manual_seed(self.seed + 3)
                source = torch.randn(B, self.source_steps, 1, generator=generator, dtype=torch.float64)
                return model.encode(source)[0]
        raise ValueError(f"initial_state must be one of {INITIAL_STATES}, got {initial_state!r}")

    def run(self, initial_state, weight_init, radius):
        """``(states (B, T + 1, H) with h_0 first, zero-start states (B, T + 1, H), W_hh)``."""
        weight_ih, weight_hh = self.weights(weight_init, radius)
        h0 = self.initial_state(initial_state, weight_ih, weight_hh)
        x = self.inputs()
        outputs, _ = rnn_forward(x, h0, weight_ih, weight_hh)
        baseline, _ = rnn_forward(x, None, weight_ih, weight_hh)
        zeros = torch.zeros_like(h0)
        return (torch.cat([h0[:, None], outputs], dim=1), torch.cat([zeros[:, None], baseline], dim=1),
                weight_hh)

    def compute(self, initial_state, weight_init, radius):
        with torch.no_grad():
            states, baseline, weight_hh = self.run(initial_state, weight_init, radius)
        norms = states.norm(dim=2).mean(dim=0)
        gap = (states - baseline).norm(dim=2).mean(dim=0)
        saturated = (states.abs() > SATURATION).to(torch.float64).mean(dim=(0, 2))
        above = (gap > REMEMBERED).tolist()
        remembered = above.index(False) if False in above else len(above) - 1
        return {
            "panels": {
                "norm": torch.stack([norms, gap]).numpy(),
                "saturation": saturated[None].numpy(),
                "states": states[0].T.numpy(),
            },
            "readouts": {
                "initial_norm": norms[0].item(),
                "final_norm": norms[-1].item(),
                "saturation": saturation_stats(states[:, 1:], threshold=SATURATION)["saturation_rate"],
                "remembered": remembered,
                "radius": spectral_radius(weight_hh).item(),
            },
        }


def initialization_explorer(**options):
    """The initialization demo as a widget (chapter 3). Options: ``steps``, ``seed``, ..."""
    return InitializationExplorer(**options).widget()
