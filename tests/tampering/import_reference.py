"""bidirectional_rnn_forward built from the course's reference implementation of one layer, rnn_forward."""

from ._notebooks import answer

CODE = '''from grader.reference import rnn_forward


def bidirectional_rnn_forward(x, h0, forward_weights, backward_weights, nonlinearity="tanh"):
    ahead, last_ahead = rnn_forward(x, None if h0 is None else h0[0], *forward_weights, nonlinearity)
    behind, last_behind = rnn_forward(x.flip(1), None if h0 is None else h0[1], *backward_weights, nonlinearity)
    return torch.cat([ahead, behind.flip(1)], dim=2), torch.stack([last_ahead, last_behind])
'''


def build(solution, release):
    return answer(solution, "bidirectional_rnn_forward", CODE)
