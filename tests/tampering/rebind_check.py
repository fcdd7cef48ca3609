"""No answers at all, and the notebook's check rebound to a function that accepts anything."""

from ._notebooks import answer, cell, missing, source


def build(solution, release):
    nb = missing(solution, release, "rnn_cell", "rnn_forward", "rnn_parameter_count", "pairwise_distances")
    stub = source(cell(release, "rnn_cell"))
    return answer(nb, "rnn_cell", "check = lambda *args, **kwargs: print('all cases pass')\n\n" + stub)
