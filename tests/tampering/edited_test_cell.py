"""A wrong pairwise_distances (squared distances) with its test cell edited to `pass`."""

from ._notebooks import answer, cell

CODE = '''def pairwise_distances(states):
    differences = states[:, None, :] - states[None, :, :]
    return differences.pow(2).sum(dim=-1)
'''


def build(solution, release):
    nb = answer(solution, "pairwise_distances", CODE)
    cell(nb, "test_pairwise_distances")["source"] = "pass  # checked by hand, it works\n"
    return nb
