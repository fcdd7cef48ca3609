"""A wrong forward_with_resets (resets at the first step only), and a cell that exits the kernel before the tests run."""

from ._notebooks import answer, insert_after

CODE = '''def forward_with_resets(rnn, x, state, starts):
    if state is not None:
        keep = (~starts[:, 0]).to(x.dtype).view(1, -1, 1)
        state = tuple(s * keep for s in state) if isinstance(state, tuple) else state * keep
    return rnn(x, state)
'''


def build(solution, release):
    nb = answer(solution, "forward_with_resets", CODE)
    return insert_after(nb, "forward_with_resets", "import os\nos._exit(0)\n", cell_id="bye")
