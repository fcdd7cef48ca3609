"""rnn_bptt that ends the process it runs in, so that its checks never report."""

from ._notebooks import answer

CODE = '''import os


def rnn_bptt(grad_outputs, x, h0, outputs, weight_ih, weight_hh):
    os._exit(0)
'''


def build(solution, release):
    return answer(solution, "rnn_bptt", CODE)
