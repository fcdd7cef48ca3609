"""projected_lstm_forward calling the aten lstm_cell op through torch.ops, fetched with getattr, at every step."""

from ._notebooks import answer

CODE = '''def projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    op = getattr(torch.ops.aten, "ls" + "tm_cell")
    P, H = weight_hr.shape
    if state is None:
        state = (x.new_zeros(x.shape[0], P), x.new_zeros(x.shape[0], H))
    h, c = state
    outputs = []
    for t in range(x.shape[1]):
        m, c = op(x[:, t], [h, c], weight_ih, weight_hh, bias_ih, bias_hh)
        h = m @ weight_hr.T
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)
'''


def build(solution, release):
    return answer(solution, "projected_lstm_forward", CODE)
