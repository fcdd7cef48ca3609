"""Demo 2 (chapter 2): how long one impulse survives in an LSTM's cell state, against a vanilla RNN.

An LSTM with four units (small fixed random weights, ``grader.reference.lstm_trace``)
and a vanilla tanh RNN of the same size (W_hh at spectral radius 0.8,
``grader.reference.rnn_forward``) read a sequence that is zero except for one impulse.
Both start from zero and the LSTM's candidate bias is 0, so every nonzero state is the
impulse's trace. The forget- and input-gate biases shift the gates: ``f`` near
sigmoid(b_f) decides how much of c_t survives each step, ``i`` near sigmoid(b_i) how
much is written. The impulse "survives" while the norm of its trace stays above 0.01.
"""

from dataclasses import dataclass

import torch

from grader.reference import lstm_trace, rnn_forward, scale_to_spectral_radius

from ._widget import COLORS, Control, Demo, Lines, Readout

UNIT_COLORS = (COLORS["blue"], COLORS["orange"], COLORS["green"], COLORS["purple"])
THRESHOLD = 0.01


def survival(norms, start):
    """Steps from ``start`` on during which the trace's norm stays above :data:`THRESHOLD`."""
    above = (norms[start:] > THRESHOLD).tolist()
    return above.index(False) if False in above else len(above)


@dataclass
class LSTMMemory(Demo):
    steps: int = 60
    impulse_step: int = 4  # index: step 5 when counting from 1
    hidden_size: int = 4
    rnn_radius: float = 0.8
    seed: int = 0

    name = "lstm-memory"
    title = "LSTM memory: how long does an impulse survive?"
    caption = ("One impulse enters at step 5. The forget-gate bias sets how much of c_t is kept each step, "
               "the input-gate bias how much is written; a vanilla RNN of the same size reads the same input.")
    controls = (
        Control("forget_bias", "forget-gate bias b_f", (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0), 1.0),
        Control("input_bias", "input-gate bias b_i", (-2.0, -1.0, 0.0, 1.0, 2.0), 0.0),
        Control("impulse", "impulse size", (0.5, 1.0, 2.0), 1.0),
    )
    panels = (
        Lines("cell", "cell state c_t (LSTM)", tuple((f"unit {k + 1}", c) for k, c in enumerate(UNIT_COLORS)),
              ylabel="c_t", x0=1),
        Lines("hidden", "hidden state h_t = o_t · tanh(c_t) (LSTM)",
              tuple((f"unit {k + 1}", c) for k, c in enumerate(UNIT_COLORS)), ylabel="h_t", x0=1),
        Lines("trace", "size of the impulse's trace (log scale)",
              (("LSTM ||c_t||", COLORS["blue"]), ("LSTM ||h_t||", COLORS["green"]),
               ("RNN ||h_t||", COLORS["vermillion"], "dashed")), ylabel="norm", log=True, ylim=(1e-6, 10.0), x0=1),
    )

    @property
    def readouts(self):
        window = self.steps - self.impulse_step  # a trace alive to the end survives >= this
        return (
            Readout("survival_c", "survives in LSTM c_t", "int", "steps", cap=window),
            Readout("survival_h", "in LSTM h_t", "int", "steps", cap=window),
            Readout("survival_rnn", "in RNN h_t", "int", "steps", cap=window),
            Readout("mean_forget", "mean forget gate f_t", "fixed:3"),
            Readout("peak_cell", "peak ||c_t||", "fixed:3"),
        )

    def inputs(self, impulse):
        x = torch.zeros(1, self.steps, 1, dtype=torch.float64)
        x[0, self.impulse_step, 0] = impulse
        return x

    def lstm_weights(self, forget_bias, input_bias):
        """``(W_ih (4H, 1), W_hh (4H, H), b (4H,))`` in PyTorch's gate order i, f, g, o."""
        H = self.hidden_size
        generator = torch.Generator().manual_seed(self.seed)
        weight_ih = torch.randn(4 * H, 1, generator=generator, dtype=torch.float64)
        weight_hh = 0.1 * torch.randn(4 * H, H, generator=generator, dtype=torch.float64)
        bias = torch.zeros(4 * H, dtype=torch.float64)
        bias[0:H] = input_bias
        bias[H:2 * H] = forget_bias
        return weight_ih, weight_hh, bias

    def rnn_weights(self):
        generator = torch.Generator().manual_seed(self.seed + 1)
        weight_ih = torch.randn(self.hidden_size, 1, generator=generator, dtype=torch.float64)
        base = torch.randn(self.hidden_size, self.hidden_size, generator=generator, dtype=torch.float64)
        return weight_ih, scale_to_spectral_radius(base, self.rnn_radius)

    def traces(self, forget_bias, input_bias, impulse):
        """The LSTM's trace (``grader.reference.lstm_trace``) and the RNN's states, for one sequence."""
        x = self.inputs(impulse)
        lstm = lstm_trace(x, None, *self.lstm_weights(forget_bias, input_bias))
        rnn, _ = rnn_forward(x, None, *self.rnn_weights())
        return {name: value[0] for name, value in lstm.items()}, rnn[0]

    def compute(self, forget_bias, input_bias, impulse):
        lstm, rnn = self.traces(forget_bias, input_bias, impulse)
        norms = torch.stack([lstm["c"].norm(dim=1), lstm["h"].norm(dim=1), rnn.norm(dim=1)])
        start = self.impulse_step
        survive = [survival(n, start) for n in norms]
        return {
            "panels": {
                "cell": {"values": lstm["c"].T.numpy(), "vlines": [start + 1]},
                "hidden": {"values": lstm["h"].T.numpy(), "vlines": [start + 1]},
                "trace": {"values": norms.numpy(), "vlines": [start + 1], "hline": THRESHOLD},
            },
            "readouts": {
                "survival_c": survive[0], "survival_h": survive[1], "survival_rnn": survive[2],
                "mean_forget": lstm["f"][start:].mean().item(),
                "peak_cell": norms[0].max().item(),
            },
        }


def lstm_memory(**options):
    """The LSTM memory demo as a widget (chapter 2). Options: ``steps``, ``seed``, ..."""
    return LSTMMemory(**options).widget()
