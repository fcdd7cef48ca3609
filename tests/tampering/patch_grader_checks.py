"""A wrong lstm_cell (gates in the order i, f, o, g), with the checks' comparison in grader.checks.core replaced."""

from ._notebooks import answer

CODE = '''import grader.checks.core as core

core.compare_outcomes = lambda *args, **kwargs: None
core.compare_tensors = lambda *args, **kwargs: None


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    pre = x @ weight_ih.T + h @ weight_hh.T
    if bias_ih is not None:
        pre = pre + bias_ih
    if bias_hh is not None:
        pre = pre + bias_hh
    a_i, a_f, a_o, a_g = pre.chunk(4, dim=1)
    c_next = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next
'''


def build(solution, release):
    return answer(solution, "lstm_cell", CODE)
