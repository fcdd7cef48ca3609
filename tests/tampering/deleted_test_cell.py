"""scale_to_spectral_radius missing and its test cell deleted."""

from ._notebooks import meta, missing


def build(solution, release):
    nb = missing(solution, release, "scale_to_spectral_radius")
    nb["cells"] = [c for c in nb["cells"] if meta(c).get("grade_id") != "test_scale_to_spectral_radius"]
    return nb
