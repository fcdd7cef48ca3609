"""A wrong coupled_lstm_cell (the coupling the wrong way round), with the checks' comparisons in grader.checks replaced."""

from ._notebooks import answer

CODE = '''import grader.checks.cell_state as cell_checks
import grader.checks.compare as compare

compare.compare_outcomes = lambda *args, **kwargs: None
compare.compare_tensors = lambda *args, **kwargs: None
cell_checks.NamedOutputsCheck.compare = lambda *args, **kwargs: None


def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    pre = x @ weight_ih.T + h @ weight_hh.T
    if bias_ih is not None:
        pre = pre + bias_ih
    if bias_hh is not None:
        pre = pre + bias_hh
    a_i, a_g, a_o = pre.chunk(3, dim=1)
    i = torch.sigmoid(a_i)
    c_next = i * c + (1 - i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next
'''


def build(solution, release):
    return answer(solution, "coupled_lstm_cell", CODE)
