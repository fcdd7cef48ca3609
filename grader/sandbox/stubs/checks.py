"""Grading stand-in for ``grader.checks`` inside the sandboxed kernel.

While a class is graded, the notebook's own test cells decide nothing: every part is verified by
the trusted grader, outside this process, on the definitions of your answer cells. ``check`` here
only records that the test cell ran.
"""

RECEIPT = "{name}: recorded; graded by the trusted verification (outside this notebook)"


def check(fn, seeds=None, hidden=False):
    name = getattr(fn, "__name__", None)
    if name is None:
        raise TypeError("check() expects the function or class of an exercise")
    print(RECEIPT.format(name=name))
