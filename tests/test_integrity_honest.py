"""No honest answer lost in the verification: what passes check() in the notebook scores full in grading.

The honest variants (tests/hostile/honest.py) are checked both ways: in-process, as the notebook
runs them (every cell in order, then check()), and through the real sandboxed runner. Their
statements the verification must drop (tampering, calls, loops) stay dropped; a syntax error
costs only the statement it is in; a part that fails for want of a name the verification did
not run says so, in words the student can act on.
"""

from __future__ import annotations

import ast
import json
import math

import pytest
import torch

from grader.checks import CHECKS, forbidden, run_check
from grader.checks.core import VISIBLE_SEEDS
from grader.integrity import static
from grader.sandbox import availability
from grader.integrity.definitions import Definitions, extract, reduce_cell, scope_of
from grader.integrity.judge import passed_in_notebook
from grader.integrity.plan import plan_parts

from exercise_helpers import define, source_notebook
from hostile.honest import VARIANTS, answers, notebook, passes_only_in_the_notebook
from tampering._notebooks import cell, insert_after

needs_sandbox = pytest.mark.skipif(not availability.available(), reason="no sandbox here")


def _parts(assignment: str) -> list[str]:
    return [plan.name for plan in plan_parts(source_notebook(assignment))]


# ----------------------------------------------------------------------------- quick


@pytest.mark.parametrize("name", VARIANTS)
def test_the_honest_variants_pass_check_the_notebooks_way(name):
    """They are honest: run cell after cell in one namespace, as the kernel does, every part passes."""
    variant = VARIANTS[name]
    namespace = {"torch": torch, "nn": torch.nn, "math": math, "__name__": "__main__"}
    for source in answers(name).values():
        define(source, namespace=namespace)
    for part in _parts(variant.assignment):
        assert run_check(CHECKS[part], namespace[part], seeds=VISIBLE_SEEDS, quiet=True) > 0


@pytest.mark.parametrize("name", VARIANTS)
def test_the_verification_keeps_every_statement_of_the_honest_variants(name):
    variant = VARIANTS[name]
    defs = extract(notebook(name), source_notebook(variant.assignment))
    for answer in defs.cells:
        assert answer.error is None and answer.ignored == [] and answer.broken == [], answer
    assert KEPT[name] <= defs.defined()


KEPT = {"tables_and_helpers": {"ACT", "Tensor", "Weights", "rnn_step", "flip_time", "TANH", "SCALE", "MODES"},
        "decorators_and_lambdas": {"dtanh", "zeros_like", "DEFAULT_EPS", "Params", "product"},
        "dataclass_and_partial": {"Sizes", "BRIDGE_ACT", "logit", "LOG", "spectral_norm", "FIRST_TWO_BLOCKS"},
        "gate_tables": {"sigmoid", "BLOCKS", "block", "linear", "Pair", "stack_time"},
        "state_helpers": {"State", "is_pair", "detach_state", "by_length"}}


DROPPED = [
    ("torch.allclose = lambda *a, **k: True", "attribute"),
    ("torch.Tensor.__eq__ = lambda a, b: True", "attribute"),
    ("check = lambda *a, **k: None", "rebinds check"),
    ("torch = None", "rebinds torch"),
    ("nn = torch.nn", "rebinds nn"),
    ("X = print('at import')", "calls print"),
    ("X = open('/etc/passwd').read()", "calls the result"),
    ("X = open('/etc/passwd')", "calls open"),
    ("X = __import__('os')", "calls __import__"),
    ("X = torch.__dict__", "reads .__dict__"),
    ("X = torch.manual_seed(1)", "calls torch.manual_seed"),
    ("X = helper()", "a function of the answer cells"),
    ("X = sorted([3, 1], key=helper)", "key="),
    ("X = list(map(helper, [1]))", "calls map"),
    ("X = dict(f=lambda: 0)", "passes a lambda"),
    ("X = type('T', (torch.Tensor,), {})", "calls type"),
    ("X = [torch.set_grad_enabled(False) for _ in range(1)]", "calls torch.set_grad_enabled"),
    ("X = (Y := 3)", "NamedExpr"),
    ("X: print('annotation') = 1", "calls print"),
    ("for i in range(10**9):\n    pass", "not a definition"),
    ("while True:\n    pass", "not a definition"),
    ("if True:\n    torch.equal = None", "not a definition"),
    ("get_ipython().input_transformers_cleanup.append(str)", "not a definition"),
    ("import math as torch_math\nY = torch_math.sqrt(2)\nimport numpy as torch_math", "calls torch_math.sqrt"),
]


@pytest.mark.parametrize("statement, reason", DROPPED, ids=[d[0][:40] for d in DROPPED])
def test_statements_that_could_tamper_are_still_dropped(statement, reason):
    source = f"def helper():\n    return 1\n\n{statement}\n\ndef stacked_rnn_forward(x):\n    return x\n"
    preamble = "import math\nimport torch\nfrom torch import nn"
    scope = scope_of(preamble, [ast.parse(source).body])
    answer = reduce_cell(source, "stacked_rnn_forward", scope)
    assert answer.names[0] == "helper" and "stacked_rnn_forward" in answer.names
    assert any(reason in text for text in answer.ignored), answer.ignored
    assert "X" not in answer.names and "Y" not in answer.names


def test_a_syntax_error_skips_only_its_own_statement():
    source = answers("tables_and_helpers")["stacked_rnn_forward"]
    broken = source.replace("    step = partial(rnn_step", "    step = partial(rnn_step,,")
    defs = extract(_with_answer("tables_and_helpers", stacked_rnn_forward=broken),
                   source_notebook("01_hidden_state"))
    first = defs.cells[0]
    assert first.error is None and "rnn_step" in first.names and "ACT" in first.names
    assert "stacked_rnn_forward" not in first.names
    assert len(first.broken) == 1 and first.broken[0].names[0] == "stacked_rnn_forward"
    assert "SyntaxError" in first.broken[0].message and "line" in first.broken[0].message
    assert "does not parse" in defs.why_missing("stacked_rnn_forward")
    assert defs.why_missing("rnn_step") is None  # it is defined


def test_display_and_other_harmless_code_is_not_suspicious():
    source = source_notebook("01_hidden_state")
    nb = json.loads(json.dumps(source))
    insert_after(nb, "stacked_rnn_forward", "from IPython.display import display, Markdown, clear_output\n"
                                            "import IPython\n"
                                            "display(Markdown('**my notes**'))\nclear_output(wait=True)\n"
                                            "IPython.display.display(3)\n"
                                            "print('this matches the reference; feedback welcome')\n"
                                            "import sys\nprint('a note', file=sys.stderr)\nsys.stdout.flush()\n\n"
                                            "class Batches:\n    def __len__(self):\n        return 3\n")
    answer = cell(nb, "masked_rnn_forward")
    answer["source"] = "".join(answer["source"]).replace(
        "    ### BEGIN SOLUTION", "    ### BEGIN SOLUTION\n    check = lengths.numel()  # a local called check")
    findings, _ = static.tampering(nb, source, extract(nb, source))
    assert findings == [], findings
    insert_after(nb, "stacked_rnn_forward", "from IPython import get_ipython\nip = get_ipython()\n"
                                            "import sys\nsys.stdout = None\n"
                                            "def f():\n    global check\n    check = print\n", "cell-2")
    findings = [f.what for f in static.tampering(nb, source, extract(nb, source))[0]]
    for still in ("get_ipython", "replaces sys.stdout", "rebinds check"):
        assert any(still in what for what in findings), (still, findings)


def _with_answer(name: str, **changed: str) -> dict:
    nb = notebook(name)
    for grade_id, code in changed.items():
        cell(nb, grade_id)["source"] = code
    return nb


# ----------------------------------------------------------------------------- slow: the real runner


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("name", VARIANTS)
def test_honest_variants_score_full_in_the_trusted_verification(verifier, name):
    variant = VARIANTS[name]
    verdict = verifier.verify(notebook(name), source_notebook(variant.assignment))
    failed = {p.name: p.message for p in verdict.parts.values() if not p.passed}
    assert failed == {}
    assert verdict.all_suspicious() == [] and verdict.ignored == []


@pytest.mark.slow
@needs_sandbox
def test_a_syntax_error_in_one_part_costs_only_that_part(verifier):
    source = answers("tables_and_helpers")["stacked_rnn_forward"]
    in_the_part = source.replace("    step = partial(rnn_step", "    step = partial(rnn_step,,")
    verdict = verifier.verify(_with_answer("tables_and_helpers", stacked_rnn_forward=in_the_part),
                              source_notebook("01_hidden_state"))
    parts = {p.name: p for p in verdict.parts.values()}
    assert not parts["stacked_rnn_forward"].passed
    assert "does not parse" in parts["stacked_rnn_forward"].message
    assert "SyntaxError" in parts["stacked_rnn_forward"].message
    assert all(parts[name].passed for name in ("bidirectional_rnn_forward", "masked_rnn_forward",
                                               "recurrent_parameter_count")), verdict
    in_the_helper = source.replace("    pre = x_t @ weight_ih.T", "    pre = x_t @@ weight_ih.T")
    verdict = verifier.verify(_with_answer("tables_and_helpers", stacked_rnn_forward=in_the_helper),
                              source_notebook("01_hidden_state"))
    parts = {p.name: p for p in verdict.parts.values()}
    assert parts["recurrent_parameter_count"].passed
    message = parts["bidirectional_rnn_forward"].message
    assert not parts["bidirectional_rnn_forward"].passed
    assert "rnn_step is defined at line 9 of answer cell 'stacked_rnn_forward', which does not parse" in message


@pytest.mark.slow
@needs_sandbox
def test_a_name_the_verification_did_not_run_is_explained_and_flagged(verifier):
    nb = passes_only_in_the_notebook()
    moved = answers("tables_and_helpers")["recurrent_parameter_count"].split("\n\n\n")
    cell(nb, "recurrent_parameter_count")["source"] = moved[1]
    insert_after(nb, "masked_rnn_forward", moved[0], "student-constants")
    verdict = verifier.verify(nb, source_notebook("01_hidden_state"), raw_nb=nb)
    parts = {p.name: p for p in verdict.parts.values()}
    first = parts["stacked_rnn_forward"]
    assert not first.passed and first.lost_in_runner
    assert "It passed in your notebook" in first.message
    assert "your answer uses ACT, defined in answer cell 'stacked_rnn_forward' by a statement the grader does " \
           "not run (line 10: ACT = table(); it calls table, a function of the answer cells)" in first.message
    assert "define it inside the function that uses it" in first.message
    count = parts["recurrent_parameter_count"]
    assert not count.passed and not count.lost_in_runner
    assert "MODES" in count.message and "which is not an answer cell" in count.message
    assert "your answer uses ACT" in parts["bidirectional_rnn_forward"].message  # it uses ACT too
    assert parts["masked_rnn_forward"].passed  # it does not


def test_a_forbidden_op_kept_in_an_assignment_is_still_found_in_its_code():
    """Keeping aliases and tables must not hide what they name from the static reading."""
    code = ("import torch\nstep, _ = torch.lstm_cell, 0\nTABLE = {'tanh': torch.rnn_tanh_cell}\n"
            "def stacked_rnn_forward(x):\n    return step(x) + TABLE['tanh'](x)\n")
    defs = Definitions(preamble="import torch", cells=[reduce_cell(code, "stacked_rnn_forward")])
    assert defs.cells[0].ignored == []
    assert sorted(static.forbidden_uses(defs, "stacked_rnn_forward", forbidden.FROM_SCRATCH)) == \
        ["torch.lstm_cell", "torch.rnn_tanh_cell"]


def test_whether_the_submitted_test_cell_passed_is_read_from_malformed_notebooks_too():
    def test_cell(outputs):
        return {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "g"}}, "outputs": outputs}

    passed = {"output_type": "stream", "name": "stdout", "text": ["f: all 3 visible ", "cases pass (x).\n"]}
    assert passed_in_notebook({"cells": [1, {"metadata": "x"}, test_cell([passed])]}, "g")
    assert not passed_in_notebook({"cells": [test_cell([passed, {"output_type": "error"}])]}, "g")
    assert not passed_in_notebook({"cells": [test_cell([{"output_type": "stream", "text": "1 failed"}])]}, "g")
    for malformed in (None, [], {"cells": 3}, {"cells": [test_cell("x")]}, {"cells": [test_cell([[1]])]}):
        assert not passed_in_notebook(malformed, "g")
