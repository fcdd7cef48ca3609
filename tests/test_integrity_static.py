"""grader.integrity.static: forbidden uses per part and signs of tampering, read from the code alone."""

import ast
import json

import pytest

from grader.checks import CHECKS, forbidden
from grader.integrity import static
from grader.integrity.definitions import Definitions, extract, reduce_cell

from exercise_helpers import ASSIGNMENTS, PARTS, release_notebook, source_notebook

PREAMBLE = "import torch\nfrom torch import nn"


def defs(*sources: str) -> Definitions:
    cells = [reduce_cell(source, f"cell{i}") for i, source in enumerate(sources)]
    return Definitions(preamble=PREAMBLE, cells=cells)


def uses(name: str, *sources: str) -> list[str]:
    check = CHECKS[name]
    return static.forbidden_uses(defs(*sources), name, check.rules, skip=tuple(check.substitutes))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solutions_and_the_release_show_nothing(assignment):
    source = source_notebook(assignment)
    for notebook in (source, release_notebook(assignment)):
        d = extract(notebook, source)
        for part in PARTS[assignment]:
            check = CHECKS[part]
            assert static.forbidden_uses(d, part, check.rules, skip=tuple(check.substitutes)) == [], part
        findings, per_part = static.tampering(notebook, source, d, [(p, ()) for p in PARTS[assignment]])
        assert findings == [] and all(v == [] for v in per_part.values()), (findings, per_part)
    assert static.structure(source, source) == []
    assert static.structure(release_notebook(assignment), source) == []


CELL = "def coupled_lstm_cell(x, s, w, u, b=None, c=None):\n"


@pytest.mark.parametrize("code, found", [
    (CELL + "    return nn.LSTMCell(1, 1)(x, s)", "torch.nn.LSTMCell"),
    ("import torch.nn as layers\n" + CELL + "    return layers.LSTMCell(1, 1)(x, s)", "torch.nn.LSTMCell"),
    ("from torch.nn import LSTMCell as Cell\n" + CELL + "    return Cell(1, 1)(x, s)", "torch.nn.LSTMCell"),
    (CELL + "    return torch._VF.lstm_cell(x, s, w, u, b, c)", "torch._VF"),
    (CELL + "    return torch.ops.aten.lstm_cell(x, s, w, u, b, c)", "torch.ops.aten.lstm_cell"),
    (CELL + "    return torch.lstm_cell(x, s, w, u, b, c)", "torch.lstm_cell"),
    (CELL + "    return getattr(torch, 'lstm_cell')(x, s, w, u, b, c)", "lstm_cell (named in a string"),
    ("OP = 'lstm_cell'\n" + CELL + "    return getattr(torch, OP)(x, s, w, u, b, c)", "lstm_cell (named in a string"),
    ("def _helper(x, s):\n    return torch.nn.modules.rnn.LSTMCell(1, 1)(x, s)\n" + CELL + "    return _helper(x, s)",
     "torch.nn.modules.rnn.LSTMCell"),
    ("from grader.reference import lstm_cell as coupled_lstm_cell", "grader.reference"),
    ("import grader.reference as r\ndef coupled_lstm_cell(*args):\n    return r.lstm_cell(*args)", "grader.reference"),
    ("def coupled_lstm_cell(*args):\n    import importlib\n"
     "    return importlib.import_module('grader.reference').lstm_cell(*args)", "grader.reference"),
    ("from grader import reference\nclass X(reference.LearnedInitialStateRNN):\n    pass\n"
     "def coupled_lstm_cell(*args):\n    return X", "grader.reference"),
    ("from grader.answers.cell_state import coupled_lstm_cell", "grader.answers"),
    ("import grader.answers.cell_state as a\ndef coupled_lstm_cell(*args):\n    return a.coupled_lstm_cell(*args)",
     "grader.answers"),
    ("def coupled_lstm_cell(*args):\n    import importlib\n"
     "    return importlib.import_module('grader.answers.cell_state').coupled_lstm_cell(*args)", "grader.answers"),
])
def test_forbidden_uses_are_found_however_they_are_spelled(code, found):
    assert any(found in use for use in uses("coupled_lstm_cell", code)), uses("coupled_lstm_cell", code)


def test_what_is_forbidden_depends_on_the_part():
    honest_rnn = ("class BridgedEncoderDecoder(nn.Module):\n    def __init__(self):\n"
                  "        self.encoder = nn.LSTM(1, 1)\n        self.decoder = nn.GRU(1, 1)")
    assert uses("BridgedEncoderDecoder", honest_rnn) == []
    by_autograd = "(parameters, *rest):\n    return torch.autograd.grad(parameters, rest)"
    assert uses("rnn_bptt", "def rnn_bptt" + by_autograd) == ["torch.autograd.grad"]  # a by-hand part
    assert uses("adaptive_clip_grad_", "def adaptive_clip_grad_" + by_autograd) == []
    gates = "def recurrent_parameter_count(*args):\n    return {'LSTM': 4}['LSTM'] * sum(args)"
    assert uses("recurrent_parameter_count", gates) == []
    assert uses("stacked_rnn_forward", gates.replace("recurrent_parameter_count", "stacked_rnn_forward")) == \
        ["LSTM (named in a string, e.g. for getattr)"]


def test_a_substituted_helper_is_not_held_against_the_part_that_calls_it():
    cell = "def rnn_cell(*args):\n    return torch.rnn_tanh_cell(*args)"
    forward = "def stacked_rnn_forward(x, h0, weights):\n    return rnn_cell(x[:, 0], h0[0], *weights[0])"
    found = static.forbidden_uses(defs(cell, forward), "stacked_rnn_forward", forbidden.FROM_SCRATCH)
    assert found == ["torch.rnn_tanh_cell"]  # reached through the helper
    assert static.forbidden_uses(defs(cell, forward), "stacked_rnn_forward", forbidden.FROM_SCRATCH,
                                 skip=("rnn_cell",)) == []  # unless the checks substitute that helper


def findings(code: str) -> list[str]:
    tree = static.parse_cell(code)
    bindings = static.import_bindings([ast.parse(PREAMBLE), tree])
    return static.code_findings(tree, bindings, protected_names={"torch", "nn", "check"})


@pytest.mark.parametrize("code, found", [
    ("torch.allclose = lambda *a, **k: True", "replaces torch.allclose"),
    ("import numpy as np\nnp.testing.assert_allclose = print", "replaces numpy.testing.assert_allclose"),
    ("import math\nsetattr(math, 'isclose', lambda *a: True)", "replaces attributes of math"),
    ("torch.Tensor.__eq__ = lambda a, b: True", "replaces torch.Tensor.__eq__"),
    ("import grader.checks.compare as compare\ncompare.compare_outcomes = lambda *a: None",
     "replaces grader.checks.compare.compare_outcomes"),
    ("check = lambda *a, **k: None", "rebinds check"),
    ("def check(*a, **k):\n    pass", "redefines check"),
    ("get_ipython().input_transformers_cleanup.append(str)", "input_transformers_cleanup"),
    ("ip = get_ipython()\nip.ast_transformers.append(None)", "get_ipython"),
    ("get_ipython().set_custom_exc((Exception,), print)", "set_custom_exc"),
    ("import os\nos._exit(0)", "os._exit"),
    ("import sys\nsys.exit()", "sys.exit"),
    ("raise SystemExit", "SystemExit"),
    ("text = open('../../solutions/01_hidden_state/01_hidden_state.ipynb').read()", "opens a file"),
    ("path = 'grader/reference/cells.py'", "names the course's"),
    ("import sys\nsys.setprofile(None)", "sys.setprofile"),
    ("import gc\nobjects = gc.get_objects()", "gc"),
    ("def f():\n    import inspect\n    return inspect.currentframe().f_back.f_locals", "f_back"),
    ("class Same:\n    def __eq__(self, other):\n        return True", "__eq__"),
    ("class T(torch.Tensor):\n    pass", "a subclass of torch.Tensor"),
    ("exec('print(1)')", "exec"),
])
def test_signs_of_tampering(code, found):
    assert any(found in text for text in findings(code)), findings(code)


def test_honest_code_is_not_suspicious():
    honest = '''import math
import torch
from torch import nn

EPS = 1e-6


class Model(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.rnn = nn.RNN(d, h, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def act(name):
    return getattr(torch, name)


def f(x, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"bad {nonlinearity!r}")
    return act(nonlinearity)(x) / math.sqrt(2.0) + EPS
'''
    assert findings(honest) == []


def test_many_literal_numbers_in_a_part_look_hard_coded():
    table = {(i,): [float(i) / 7] * 3 for i in range(12)}
    code = f"TABLE = {table!r}\ndef masked_rnn_forward(x, lengths, h0, *weights):\n    return TABLE"
    d = defs(code)
    _, per_part = static.tampering({"cells": []}, {"cells": []}, d, [("masked_rnn_forward", ())])
    assert any("literal numbers" in text for text in per_part["masked_rnn_forward"])


def test_structure_edits_deletions_copies_and_stripped_metadata():
    source = source_notebook("01_hidden_state")
    nb = json.loads(json.dumps(source))
    test = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_stacked_rnn_forward")
    test["source"] = "pass"
    test["metadata"]["nbgrader"]["points"] = 20
    nb["cells"] = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_bidirectional_rnn_forward"]
    nb["cells"].append(json.loads(json.dumps(test)))
    texts = [f.text() for f in static.structure(nb, source)]
    assert any("was edited" in t for t in texts)
    assert any("points were changed" in t for t in texts)
    assert any("test cell test_bidirectional_rnn_forward: was deleted" in t for t in texts)
    assert any("appears in 2 cells" in t for t in texts)
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    assert [f.text() for f in static.structure(nb, source)] == \
        ["notebook: the nbgrader metadata of every cell was removed"]
