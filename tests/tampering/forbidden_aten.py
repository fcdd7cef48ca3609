"""lstm_forward calling the aten lstm_cell op through torch.ops, fetched with getattr."""

from ._notebooks import answer

CODE = '''def lstm_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    op = getattr(torch.ops.aten, "ls" + "tm_cell")
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    outputs = []
    for t in range(x.shape[1]):
        state = op(x[:, t], list(state), weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(state[0])
    return torch.stack(outputs, dim=1), tuple(state)
'''


def build(solution, release):
    return answer(solution, "lstm_forward", CODE)
