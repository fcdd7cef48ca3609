"""A wrong stacked_rnn_forward (no activation) with torch.allclose and torch.isclose replaced so that every comparison passes."""

from ._notebooks import answer

CODE = '''import torch

torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)


def stacked_rnn_forward(x, h0, weights, nonlinearity="tanh"):
    finals = []
    for layer, (weight_ih, weight_hh, bias_ih, bias_hh) in enumerate(weights):
        h = x.new_zeros(x.shape[0], weight_hh.shape[1]) if h0 is None else h0[layer]
        states = []
        for t in range(x.shape[1]):
            h = x[:, t] @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                h = h + bias_ih
            if bias_hh is not None:
                h = h + bias_hh
            # TODO: the activation
            states.append(h)
        x = torch.stack(states, dim=1)
        finals.append(h)
    return x, torch.stack(finals)
'''


def build(solution, release):
    return answer(solution, "stacked_rnn_forward", CODE)
