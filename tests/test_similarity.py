"""grader.similarity: a graded implementation is found however it is renamed or reformatted, and honest
different code is not taken for it."""

import pytest

from grader import coursework, leaks, similarity

COUPLED = coursework.solved_sources("02_cell_state")["coupled_lstm_cell"]

# The same code as COUPLED, written by someone hiding it: other names, no docstring, comments, other layout.
RENAMED_COUPLED = '''
def my_step(inp, st, A, B, a=None, b=None):
    n = B.shape[1]
    if st is None: u = w = inp.new_zeros(inp.shape[0], n)   # zero state
    else:
        u, w = st
    z = inp @ A.T + u @ B.T
    for q in (a, b):
        if q is not None: z = z + q
    p = torch.sigmoid(z[:, :n])
    cand = torch.tanh(z[:, n:2 * n])
    out = torch.sigmoid(z[:, 2 * n:])
    new_c = (1 - p) * w + p * cand      # keep 1 - p, write p
    new_h = out * torch.tanh(new_c)
    return new_h, new_c
'''

STUB = '''
def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of the coupled input-forget gate LSTM."""
    raise NotImplementedError()
'''


def detector(*graded):
    return similarity.Detector([similarity.Graded(name, "test", code) for name, code in graded])


def test_normalization_ignores_names_docstrings_comments_and_layout():
    assert similarity.normalized(COUPLED) == similarity.normalized(RENAMED_COUPLED)
    assert similarity.normalized("def f(a):\n    return a + 1\n") != similarity.normalized("def f(a):\n    return a - 1\n")


def test_a_renamed_reformatted_copy_is_the_same_code():
    matches = detector(("coupled_lstm_cell", COUPLED)).scan("page", "import torch\n" + RENAMED_COUPLED)
    assert [(m.part, m.kind) for m in matches] == [("coupled_lstm_cell", "same code")]


def test_a_copy_with_a_line_changed_is_a_near_copy():
    edited = RENAMED_COUPLED.replace("p = torch.sigmoid(z[:, :n])", "p = z[:, :n].sigmoid()")
    matches = detector(("coupled_lstm_cell", COUPLED)).scan("page", edited)
    assert [(m.part, m.kind) for m in matches] == [("coupled_lstm_cell", "near copy")]
    assert similarity.NEAR_COPY <= matches[0].containment < 1


def test_a_copy_pasted_into_prose_is_found():
    page = "Here is my answer, which I found somewhere:\n\n" + RENAMED_COUPLED + "\nIt works!"
    assert detector(("coupled_lstm_cell", COUPLED)).scan("prose", page)


def test_the_release_stub_and_unrelated_code_are_not_copies():
    found = detector(("coupled_lstm_cell", COUPLED))
    assert found.scan("stub", STUB) == []
    peephole = coursework.solved_sources("02_cell_state")["peephole_lstm_cell"]
    assert found.scan("peephole", peephole) == []


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
    assert detector(("coupled_lstm_cell", COUPLED)).scan("odd", text) == []
