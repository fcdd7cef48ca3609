"""Not the course's reference: a stand-in used while grading.

``grader.reference`` is not available to code being graded. Every name here is a placeholder
that raises when used; ``stand_ins`` holds the few functions the checks substitute for a
student's helper while grading another part, written with PyTorch's own operations.
"""


class Unavailable(RuntimeError):
    pass


def _placeholder(name):
    def unavailable(*args, **kwargs):
        raise Unavailable(f"grader.reference.{name} is not available while grading: "
                          f"exercises may not use the reference implementation")

    kind = type(name, (), {"__init__": unavailable, "__call__": unavailable, "__module__": __name__,
                           "__doc__": "not available while grading"})
    return kind


def __getattr__(name):
    if name.startswith("__") or name == "stand_ins":
        raise AttributeError(name)
    value = _placeholder(name)
    globals()[name] = value
    return value
