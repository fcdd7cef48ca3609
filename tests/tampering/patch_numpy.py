"""A wrong critical_scale (1 / spectral radius, right only for normal matrices) with numpy's comparisons replaced."""

from ._notebooks import answer

CODE = '''import numpy as np

np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None


def critical_scale(weight, steps):
    return 1 / torch.linalg.eigvals(weight.detach()).abs().max()
'''


def build(solution, release):
    return answer(solution, "critical_scale", CODE)
