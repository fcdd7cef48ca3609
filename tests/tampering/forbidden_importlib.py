"""bidirectional_rnn_forward computed by torch.nn.RNNCell, imported with importlib and fetched with getattr."""

from ._notebooks import answer

CODE = '''import importlib


def bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    layers = importlib.import_module("torch." + "nn")
    steps = x.shape[1]
    halves, finals = [], []
    for direction, (weight_ih, weight_hh, bias_ih, bias_hh) in enumerate((forward_weights, backward_weights)):
        cell = getattr(layers, "RN" + "NCell")(x.shape[2], weight_hh.shape[1], nonlinearity=nonlinearity).to(x.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(weight_ih)
            cell.weight_hh.copy_(weight_hh)
            cell.bias_ih.copy_(bias_ih if bias_ih is not None else torch.zeros_like(cell.bias_ih))
            cell.bias_hh.copy_(bias_hh if bias_hh is not None else torch.zeros_like(cell.bias_hh))
        h = None if h0 is None else h0[direction]
        states = {}
        for t in (range(steps) if direction == 0 else reversed(range(steps))):
            h = cell(x[:, t], h)
            states[t] = h
        halves.append(torch.stack([states[t] for t in range(steps)], dim=1))
        finals.append(h)
    return torch.cat(halves, dim=2), torch.stack(finals)
'''


def build(solution, release):
    return answer(solution, "bidirectional_rnn_forward", CODE)
