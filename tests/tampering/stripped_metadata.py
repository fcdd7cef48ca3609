"""Every cell's nbgrader metadata removed, and a wrong temporal_activation_regularization (a sum, not a mean)."""

from ._notebooks import answer

CODE = '''def temporal_activation_regularization(states, beta):
    if states.shape[1] < 2:
        raise ValueError("need T >= 2")
    return beta * (states[:, 1:] - states[:, :-1]).pow(2).sum()
'''


def build(solution, release):
    nb = answer(solution, "temporal_activation_regularization", CODE)
    for c in nb["cells"]:
        c.get("metadata", {}).pop("nbgrader", None)
    return nb
