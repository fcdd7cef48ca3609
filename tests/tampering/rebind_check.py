"""No answers at all, and the notebook's check rebound to a function that accepts anything."""

from ._notebooks import answer, cell, missing, source


def build(solution, release):
    nb = missing(solution, release, "stacked_rnn_forward", "bidirectional_rnn_forward", "masked_rnn_forward",
                 "recurrent_parameter_count")
    stub = source(cell(release, "stacked_rnn_forward"))
    return answer(nb, "stacked_rnn_forward", "check = lambda *args, **kwargs: print('all cases pass')\n\n" + stub)
