"""critical_scale missing and its test cell deleted."""

from ._notebooks import meta, missing


def build(solution, release):
    nb = missing(solution, release, "critical_scale")
    nb["cells"] = [c for c in nb["cells"] if meta(c).get("grade_id") != "test_critical_scale"]
    return nb
