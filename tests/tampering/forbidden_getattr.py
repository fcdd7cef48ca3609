"""peephole_lstm_cell calling torch's lstm_cell op, fetched with getattr and a name built at run time."""

from ._notebooks import answer

CODE = '''def peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    op = getattr(torch, "ls" + "tm_cell")
    return op(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
'''


def build(solution, release):
    return answer(solution, "peephole_lstm_cell", CODE)
