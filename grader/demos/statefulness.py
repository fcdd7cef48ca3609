"""Demo 4 (chapter 4): cutting one long stream into chunks, with and without carrying the state.

A ``grader.reference.StatefulRNN`` (a tanh RNN with 16 units and a linear readout,
float64) reads one stream of 96 steps (a noisy sine) three ways:

* in one full pass, from a zero state;
* in chunks (``chunk_sequence``), *stateful*: each chunk starts where the last ended;
* in chunks, *stateless*: ``reset_state()`` before every chunk, so each starts from zero.

Stateful chunking reproduces the full pass exactly; stateless chunking diverges right
after every chunk boundary, until the state has warmed up again.
"""

from dataclasses import dataclass

import torch

from grader.reference import StatefulRNN, chunk_sequence

from ._widget import COLORS, Control, Demo, Lines, Readout

MATCH = 1e-9  # |difference| at or below this counts as identical (float64 rounding)


@dataclass
class StatefulnessDemo(Demo):
    length: int = 96
    hidden_size: int = 16
    seed: int = 0

    name = "statefulness"
    title = "Stateful or stateless chunks of one long stream"
    caption = ("One RNN reads one 96-step stream in a single pass, or in chunks. Dashed lines mark the "
               "chunk boundaries.")
    controls = (
        Control("chunk_length", "chunk length", (4, 6, 8, 12, 16, 24, 32, 48), 16),
        Control("mode", "between chunks", ("stateless", "stateful"), "stateless", kind="choice",
                labels=("stateless: reset to zero", "stateful: carry the state")),
    )
    panels = (
        Lines("outputs", "output y_t: one full pass vs chunked",
              (("full pass", COLORS["grey"], "wide"), ("chunked", COLORS["blue"])), ylabel="y_t", x0=1),
        Lines("difference", "|chunked − full pass| (log scale)", (("|difference|", COLORS["vermillion"]),),
              ylabel="|difference|", log=True, floor=1e-16, ylim=(1e-16, 1.0), x0=1),
    )

    @property
    def readouts(self):
        return (
            Readout("max_difference", "max |difference|", "exp:1"),
            Readout("steps_differing", f"steps differing (> {MATCH:g})", "int", f"of {self.length}"),
            Readout("chunks", "chunks", "int"),
        )

    def model(self):
        """The StatefulRNN, in float64, its weights fixed by ``seed``."""
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            return StatefulRNN(input_size=1, hidden_size=self.hidden_size, output_size=1).double()

    def stream(self):
        """``(1, N, 1)``: a sine of period 24 plus Gaussian noise of s.d. 0.3."""
        generator = torch.Generator().manual_seed(self.seed + 1)
        t = torch.arange(self.length, dtype=torch.float64)
        noise = 0.3 * torch.randn(self.length, generator=generator, dtype=torch.float64)
        return (torch.sin(2 * torch.pi * t / 24) + noise).reshape(1, self.length, 1)

    def outputs(self, chunk_length, mode):
        """``(full pass (N,), chunked (N,))`` outputs of the model."""
        model, stream = self.model(), self.stream()
        with torch.no_grad():
            model.reset_state()
            full = model(stream)
            model.reset_state()
            pieces = []
            for chunk in chunk_sequence(stream, chunk_length):
                if mode == "stateless":
                    model.reset_state()
                pieces.append(model(chunk))
        return full[0, :, 0], torch.cat(pieces, dim=1)[0, :, 0]

    def compute(self, chunk_length, mode):
        full, chunked = self.outputs(chunk_length, mode)
        difference = (chunked - full).abs()
        boundaries = list(range(chunk_length, self.length, chunk_length))
        vlines = [b + 0.5 for b in boundaries]  # between step b and step b + 1 (counting from 1)
        return {
            "panels": {
                "outputs": {"values": torch.stack([full, chunked]).numpy(), "vlines": vlines},
                "difference": {"values": difference.numpy(), "vlines": vlines, "hline": MATCH},
            },
            "readouts": {
                "max_difference": difference.max().item(),
                "steps_differing": int((difference > MATCH).sum()),
                "chunks": len(boundaries) + 1,
            },
        }


def statefulness_demo(**options):
    """The statefulness demo as a widget (chapter 4). Options: ``length``, ``seed``, ..."""
    return StatefulnessDemo(**options).widget()
