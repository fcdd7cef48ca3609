"""A wrong rnn_cell (no activation) with torch.allclose and torch.isclose replaced so that every comparison passes."""

from ._notebooks import answer

CODE = '''import torch

torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    out = x @ weight_ih.T + h @ weight_hh.T
    if bias_ih is not None:
        out = out + bias_ih
    if bias_hh is not None:
        out = out + bias_hh
    return out  # TODO: the activation
'''


def build(solution, release):
    return answer(solution, "rnn_cell", CODE)
