"""Every cell's nbgrader metadata removed, and a wrong masked TAR (the padded steps counted)."""

from ._notebooks import answer

CODE = '''def masked_temporal_activation_regularization(states, lengths, beta):
    if lengths.dtype != torch.int64 or lengths.shape != states.shape[:1]:
        raise ValueError("lengths must be int64 of shape (B,)")
    if (lengths < 1).any() or (lengths > states.shape[1]).any():
        raise ValueError("lengths must lie in 1..T")
    return beta * (states[:, 1:] - states[:, :-1]).pow(2).mean()
'''


def build(solution, release):
    nb = answer(solution, "masked_temporal_activation_regularization", CODE)
    for c in nb["cells"]:
        c.get("metadata", {}).pop("nbgrader", None)
    return nb
