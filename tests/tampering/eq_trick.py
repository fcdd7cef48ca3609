"""pairwise_distances returning an object whose == and comparisons always answer True."""

from ._notebooks import answer

CODE = '''class Anything:
    shape = property(lambda self: self)
    dtype = property(lambda self: self)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True


def pairwise_distances(states):
    return Anything()
'''


def build(solution, release):
    return answer(solution, "pairwise_distances", CODE)
