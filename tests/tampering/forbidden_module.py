"""gru_cell computed by torch.nn.GRUCell with the given weights copied in (a from-scratch part)."""

from ._notebooks import answer

CODE = '''def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    cell = nn.GRUCell(x.shape[1], weight_hh.shape[1], bias=bias_ih is not None).to(x.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(weight_ih)
        cell.weight_hh.copy_(weight_hh)
    return cell(x, h)
'''


def build(solution, release):
    return answer(solution, "gru_cell", CODE)
