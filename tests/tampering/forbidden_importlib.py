"""rnn_cell computed by torch.nn.RNNCell, imported with importlib and fetched with getattr."""

from ._notebooks import answer

CODE = '''import importlib


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    layers = importlib.import_module("torch." + "nn")
    cell = getattr(layers, "RN" + "NCell")(x.shape[1], weight_hh.shape[1], nonlinearity=nonlinearity).to(x.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(weight_ih)
        cell.weight_hh.copy_(weight_hh)
        cell.bias_ih.copy_(bias_ih if bias_ih is not None else torch.zeros_like(cell.bias_ih))
        cell.bias_hh.copy_(bias_hh if bias_hh is not None else torch.zeros_like(cell.bias_hh))
    return cell(x, h)
'''


def build(solution, release):
    return answer(solution, "rnn_cell", CODE)
