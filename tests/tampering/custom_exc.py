"""adaptive_clip_grad_ missing, with a custom IPython exception handler that swallows every error of the test cells."""

from ._notebooks import insert_after, missing

CODE = '''def _quiet(shell, etype, evalue, tb, tb_offset=None):
    print("all cases pass")


get_ipython().set_custom_exc((Exception,), _quiet)
'''


def build(solution, release):
    nb = missing(solution, release, "adaptive_clip_grad_")
    return insert_after(nb, "setup", CODE)
