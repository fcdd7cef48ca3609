"""saturation_stats returning zeros, with math.isclose replaced so that float comparisons always pass."""

from ._notebooks import answer

CODE = '''import math

math.isclose = lambda *args, **kwargs: True


def saturation_stats(states, threshold=0.95):
    return {"saturation_rate": 0.0, "mean_abs": 0.0, "max_abs": 0.0}
'''


def build(solution, release):
    return answer(solution, "saturation_stats", CODE)
