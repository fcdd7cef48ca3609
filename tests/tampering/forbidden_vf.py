"""stacked_rnn_forward computed by torch._VF.rnn_tanh, the op behind nn.RNN with num_layers."""

from ._notebooks import answer

CODE = '''from torch import _VF


def stacked_rnn_forward(x, h0, weights, nonlinearity="tanh"):
    layers = len(weights)
    if h0 is None:
        h0 = x.new_zeros(layers, x.shape[0], weights[0][1].shape[1])
    flat = [w for layer in weights for w in layer if w is not None]
    op = _VF.rnn_tanh if nonlinearity == "tanh" else _VF.rnn_relu
    outputs, h_n = op(x, h0, flat, weights[0][2] is not None, layers, 0.0, False, False, True)
    return outputs, h_n
'''


def build(solution, release):
    return answer(solution, "stacked_rnn_forward", CODE)
