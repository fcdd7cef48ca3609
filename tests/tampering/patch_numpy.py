"""A wrong spectral_radius (the largest singular value) with numpy's comparisons replaced."""

from ._notebooks import answer

CODE = '''import numpy as np

np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None


def spectral_radius(weight):
    return torch.linalg.matrix_norm(weight.detach(), ord=2)
'''


def build(solution, release):
    return answer(solution, "spectral_radius", CODE)
