"""Two answers missing, and an IPython input transformer (added after the set-up cell) that turns test cells into `pass`."""

from ._notebooks import insert_after, missing

CODE = '''def _skip_checks(lines):
    if any(line.lstrip().startswith("check(") for line in lines):
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(_skip_checks)
'''


def build(solution, release):
    nb = missing(solution, release, "forget_bias_for_retention", "timescale_forget_bias_")
    return insert_after(nb, "setup", CODE)
