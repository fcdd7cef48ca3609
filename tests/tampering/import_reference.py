"""The answer to rnn_forward imported from the course's reference implementation."""

from ._notebooks import answer


def build(solution, release):
    return answer(solution, "rnn_forward", "from grader.reference import rnn_forward\n")
