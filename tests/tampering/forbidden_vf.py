"""rnn_forward computed by torch._VF.rnn_tanh, the op behind nn.RNN."""

from ._notebooks import answer

CODE = '''from torch import _VF


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    if h0 is None:
        h0 = x.new_zeros(x.shape[0], weight_hh.shape[1])
    weights = [w for w in (weight_ih, weight_hh, bias_ih, bias_hh) if w is not None]
    op = _VF.rnn_tanh if nonlinearity == "tanh" else _VF.rnn_relu
    outputs, h_n = op(x, h0[None], weights, bias_ih is not None, 1, 0.0, False, False, True)
    return outputs, h_n[0]
'''


def build(solution, release):
    return answer(solution, "rnn_forward", CODE)
