"""masked_rnn_forward returning objects whose == and comparisons always answer True."""

from ._notebooks import answer

CODE = '''class Anything:
    shape = property(lambda self: self)
    dtype = property(lambda self: self)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True


def masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return Anything(), Anything()
'''


def build(solution, release):
    return answer(solution, "masked_rnn_forward", CODE)
