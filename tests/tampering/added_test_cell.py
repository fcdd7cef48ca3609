"""A wrong truncated_forward (no detach inside), and an added copy of its test cell, metadata included, that only prints success."""

import copy

from ._notebooks import answer, cell, insert_after

CODE = '''def truncated_forward(rnn, x, state, k):
    if k < 1:
        raise ValueError("k must be at least 1")
    if state is not None:
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    return rnn(x, state)
'''


def build(solution, release):
    nb = answer(solution, "truncated_forward", CODE)
    metadata = copy.deepcopy(cell(nb, "test_truncated_forward")["metadata"])
    return insert_after(nb, "test_truncated_forward", 'print("truncated_forward: all 33 visible cases pass")\n',
                        cell_id="added-test", metadata=metadata)
