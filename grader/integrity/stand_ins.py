"""Correct helpers the checks substitute for a student's own while grading another part, without the reference.

While ``rnn_forward`` is graded, the student's ``rnn_cell`` is replaced by a correct one, so that a
bug in one part costs points only there (likewise ``lstm_cell`` for ``lstm_forward`` and
``spectral_radius`` for ``scale_to_spectral_radius``). In the notebook the checks substitute
``grader.reference``'s functions; the sandboxed runner may not see ``grader.reference``, so it uses
these, written with PyTorch's own operations (``torch.rnn_tanh_cell``, ``torch.lstm_cell``,
``torch.linalg.eigvals``), which agree with the reference within the checks' tolerances.

Inside the sandbox this file is ``grader/reference/stand_ins.py``: a call into it from the
student's own code (rather than through the checks' trusted substitution) is recorded as a use of
``grader.reference``, and so is forbidden.
"""

import torch

STAND_INS = ("rnn_cell", "lstm_cell", "spectral_radius")


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if x.dim() != 2:
        raise ValueError(f"expected x of shape (B, D) for one step, got {tuple(x.shape)}")
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    op = torch.rnn_tanh_cell if nonlinearity == "tanh" else torch.rnn_relu_cell
    return op(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    if x.dim() != 2:
        raise ValueError(f"expected x of shape (B, D) for one step, got {tuple(x.shape)}")
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h_next, c_next = torch.lstm_cell(x, [state[0], state[1]], weight_ih, weight_hh, bias_ih, bias_hh)
    return h_next, c_next


def spectral_radius(weight):
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"spectral radius needs a square matrix, got shape {tuple(weight.shape)}")
    return torch.linalg.eigvals(weight.detach()).abs().max()
