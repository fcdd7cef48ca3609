"""numerical_gradient returning zeros, with math.isclose replaced so that float comparisons always pass."""

from ._notebooks import answer

CODE = '''import math

math.isclose = lambda *args, **kwargs: True


def numerical_gradient(f, x, eps=1e-6):
    return torch.zeros_like(x)
'''


def build(solution, release):
    return answer(solution, "numerical_gradient", CODE)
