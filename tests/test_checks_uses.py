"""grader.checks.uses: one detector of forbidden uses, the same in the notebook and in the trusted verification.

The notebook's ``check()`` resolves names through the function's live namespace, the trusted side
through the submission's imports; both read the same code the same way, and neither imports a
module the student names.
"""

import importlib
import sys

import pytest

from grader.checks import forbidden, uses
from grader.integrity import static
from grader.integrity.definitions import Definitions, reduce_cell

from exercise_helpers import define

PREAMBLE = "import torch\nfrom torch import nn"


def in_the_notebook(source: str, part: str, rules) -> list[str]:
    fn = define(PREAMBLE + "\n" + source, name=part, namespace={"__name__": "__main__"})
    return uses.in_function(fn, rules)


def in_the_verification(source: str, part: str, rules) -> list[str]:
    definitions = Definitions(preamble=PREAMBLE, cells=[reduce_cell(source, "cell0")])
    return static.forbidden_uses(definitions, part, rules)


ENGINE = ("def f(x):\n    y = torch.tanh(x).sum()\n    engine = torch.autograd.Variable._execution_engine\n"
          "    return engine.run_backward((y,), (torch.ones_like(y),), False, False, (x,), True, False)[0]")
STATEFUL_BASE = ("from grader import reference\ndef f(x):\n    class Model(reference.StatefulRNN):\n"
                 "        pass\n    return Model")


@pytest.mark.parametrize("source, rules, found", [
    ("from torch import nn as q\ndef f(x):\n    return q.LSTMCell(1, 1)(x)", forbidden.FROM_SCRATCH,
     ["torch.nn.LSTMCell"]),
    ("def f(x, s, w, u):\n    return torch._VF.lstm_cell(x, s, w, u)", forbidden.FROM_SCRATCH,
     ["torch._VF.lstm_cell", "torch._VF"]),
    ("def f(x, s, w, u):\n    return torch.ops.aten.lstm_cell(x, s, w, u)", forbidden.FROM_SCRATCH,
     ["torch.ops.aten.lstm_cell"]),
    ("def f(x):\n    return getattr(torch, 'lstm_cell')(x)", forbidden.FROM_SCRATCH,
     ["lstm_cell (named in a string, e.g. for getattr)"]),
    ("def f(x):\n    from torch.nn import LSTM\n    return LSTM(1, 1)(x)", forbidden.FROM_SCRATCH, ["torch.nn.LSTM"]),
    ("from torch import lstm_cell\ndef f(x, s, w, u):\n    return lstm_cell(x, s, w, u)", forbidden.FROM_SCRATCH,
     ["torch.lstm_cell"]),
    ("def f(x):\n    return torch.autograd.grad(x.sum(), x)", forbidden.BY_HAND, ["torch.autograd.grad"]),
    ("from torch.autograd import grad as g\ndef f(x):\n    return g(x.sum(), x)", forbidden.BY_HAND,
     ["torch.autograd.grad"]),
    ("def f(x):\n    return torch.autograd.grad(x.sum(), x)", forbidden.FROM_SCRATCH, []),
    (ENGINE, forbidden.BY_HAND, ["torch's autograd engine"]),
    ("def f(x):\n    import grader.reference\n    return grader.reference.lstm_cell(x)", forbidden.REFERENCE_ONLY,
     ["grader.reference"]),
    ("def f(x):\n    import importlib\n    return importlib.import_module('grader.answers').f(x)",
     forbidden.REFERENCE_ONLY, ["grader.answers (named in the string 'grader.answers')"]),
    (STATEFUL_BASE, forbidden.REFERENCE_ONLY, ["grader.reference.StatefulRNN (as a base class)", "grader.reference"]),
    ("from grader.reference import lstm_cell as f", forbidden.REFERENCE_ONLY, ["grader.reference"]),
    ("import math\ndef f(x):\n    '''Not torch.lstm_cell, nor grader.reference.'''\n"
     "    return torch.tanh(x) / math.sqrt(2.0)", forbidden.FROM_SCRATCH, []),
    ("def f(x):\n    # a comment is not a use: grader.reference, torch._VF\n    return x", forbidden.FROM_SCRATCH, []),
])
def test_the_notebook_and_the_verification_find_the_same_uses(source, rules, found):
    assert in_the_notebook(source, "f", rules) == found
    assert in_the_verification(source, "f", rules) == found


@pytest.fixture
def module_that_records_its_import(tmp_path, monkeypatch):
    """A module on sys.path that leaves a file behind when it is imported; yields (name, that file)."""
    name = f"student_named_module_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\nLSTM = None\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def test_a_module_the_student_names_is_never_imported(module_that_records_its_import):
    name, marker = module_that_records_its_import
    source = (f"def f(x):\n    import {name}\n    from {name} import LSTM\n"
              f"    return {name}.LSTM(x)")
    assert in_the_notebook(source, "f", forbidden.FROM_SCRATCH) == []
    assert in_the_verification(source, "f", forbidden.FROM_SCRATCH) == []
    assert not marker.exists() and name not in sys.modules
    assert uses.live_object(f"{name}.LSTM") is None


def test_nor_a_submodule_a_loaded_module_would_import_lazily(tmp_path, monkeypatch):
    package = tmp_path / "lazy_package"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import importlib\n\ndef __getattr__(name):\n    return importlib.import_module('.' + name, __name__)\n",
        encoding="utf-8")
    (package / "hidden.py").write_text("import torch\nCELL = torch.lstm_cell\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazy_package  # a library the notebook has loaded

    try:
        fn = define("def f(x):\n    return lazy_package.hidden.CELL(x)", name="f",
                    namespace={"__name__": "__main__", "lazy_package": lazy_package})
        assert uses.in_function(fn, forbidden.FROM_SCRATCH) == []
        assert uses.live_object("lazy_package.hidden.CELL") is None
        assert "lazy_package.hidden" not in sys.modules
        importlib.import_module("lazy_package.hidden")  # loaded for real now: then it is resolved
        assert uses.in_function(fn, forbidden.FROM_SCRATCH) == ["lazy_package.hidden.CELL"]
    finally:
        for module in ("lazy_package.hidden", "lazy_package"):
            sys.modules.pop(module, None)


def test_every_rule_is_turned_on_by_a_flag_of_the_rules():
    for rule in uses.RULES:
        assert rule.flag is None or hasattr(forbidden.Rules(), rule.flag), rule
        assert rule.where in ("name", "string"), rule
    assert not any(rule.applies(forbidden.REFERENCE_ONLY) for rule in uses.RULES if rule.flag)
    assert all(rule.applies(forbidden.FROM_SCRATCH) for rule in uses.RULES if rule.flag in (None, "from_scratch"))


def test_the_check_refuses_a_function_that_imports_the_reference():
    fn = define("def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):\n"
                "    from grader.reference import lstm_cell\n"
                "    return lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)\n")
    from grader.checks import ForbiddenCall, check

    with pytest.raises(ForbiddenCall, match=r"uses grader\.reference\b.*scores zero"):
        check(fn)
