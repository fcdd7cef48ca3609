"""grader.similarity: a graded implementation is found however it is renamed or reformatted, and honest
different code is not taken for it."""

import pytest

from grader import coursework, leaks, similarity

GRU = coursework.solved_sources("02_cell_state")["gru_cell"]

# The same code as GRU, written by someone hiding it: other names, no docstring, comments, other layout.
RENAMED_GRU = '''
def my_step(inp, state, A, B, a=None, b=None):
    # one step
    if state is None: state = inp.new_zeros(inp.shape[0], B.shape[1])
    u = inp @ A.T
    if a is not None:
        u = u + a      # input bias
    v = state @ B.T
    if b is not None:
        v = v + b
    u1, u2, u3 = u.chunk(3, dim=1)
    v1, v2, v3 = v.chunk(3, dim=1)
    g1 = torch.sigmoid(u1 + v1)
    g2 = torch.sigmoid(u2 + v2)
    cand = torch.tanh(u3 + g1 * v3)
    return (1 - g2) * cand + g2 * state
'''

STUB = '''
def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of a GRU."""
    raise NotImplementedError()
'''


def detector(*graded):
    return similarity.Detector([similarity.Graded(name, "test", code) for name, code in graded])


def test_normalization_ignores_names_docstrings_comments_and_layout():
    assert similarity.normalized(GRU) == similarity.normalized(RENAMED_GRU)
    assert similarity.normalized("def f(a):\n    return a + 1\n") != similarity.normalized("def f(a):\n    return a - 1\n")


def test_a_renamed_reformatted_copy_is_the_same_code():
    matches = detector(("gru_cell", GRU)).scan("page", "import torch\n" + RENAMED_GRU)
    assert [(m.part, m.kind) for m in matches] == [("gru_cell", "same code")]


def test_a_copy_with_a_line_changed_is_a_near_copy():
    edited = RENAMED_GRU.replace("g1 = torch.sigmoid(u1 + v1)", "g1 = (u1 + v1).sigmoid()")
    matches = detector(("gru_cell", GRU)).scan("page", edited)
    assert [(m.part, m.kind) for m in matches] == [("gru_cell", "near copy")]
    assert similarity.NEAR_COPY <= matches[0].containment < 1


def test_a_copy_pasted_into_prose_is_found():
    page = "Here is my answer, which I found somewhere:\n\n" + RENAMED_GRU + "\nIt works!"
    assert detector(("gru_cell", GRU)).scan("prose", page)


def test_the_release_stub_and_unrelated_code_are_not_copies():
    found = detector(("gru_cell", GRU))
    assert found.scan("stub", STUB) == []
    lstm = coursework.solved_sources("02_cell_state")["lstm_cell"]
    assert found.scan("lstm", lstm) == []


def test_code_too_short_to_fingerprint_is_compared_exactly_only():
    short = "def f(x):\n    return x.prod(dim=1)\n"
    found = detector(("f", short))
    assert found.scan("same", "def g(y):\n    return y.prod(dim=1)\n")[0].kind == "same code"
    assert found.scan("longer", "def g(y):\n    z = y.prod(dim=1)\n    return z + 1\n") == []


def test_honest_implementations_of_different_parts_stay_below_the_threshold():
    """The false-positive margin: no graded part's code contains another part's as a near copy."""
    graded = leaks.graded_implementations()
    found = similarity.Detector(graded)
    worst = max((value, item.part, other) for item in graded
                for other, value in found.containment(item.code).items() if other != item.part)
    assert worst[0] < similarity.NEAR_COPY, worst


def test_unparsable_text_is_still_compared():
    tokens = similarity.tokens("def broken(:\n    return x @ w.T  # not Python")
    assert "N" in tokens and ".T" not in tokens and "T" in tokens and "#" not in "".join(tokens)


@pytest.mark.parametrize("text", ["", "   ", "%matplotlib inline", "<div>html</div>"])
def test_odd_blocks_do_not_break_the_scan(text):
    assert detector(("gru_cell", GRU)).scan("odd", text) == []
