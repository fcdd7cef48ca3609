"""grader.integrity.definitions: only the imports and definitions of the answer cells are run."""

import ast
import json

import pytest

from grader.integrity import definitions
from grader.integrity.definitions import extract, reduce_cell

from exercise_helpers import ASSIGNMENTS, PARTS, ROOT, nbgrader_meta, release_notebook, source_notebook


def test_only_imports_definitions_and_literal_constants_are_kept():
    source = '''import torch
from torch import nn as layers
torch.allclose = lambda *a, **k: True
GATES = {"RNN": 1, "LSTM": 4}
LIMIT: int = 3
print("hello")
for i in range(3):
    pass
get_ipython().input_transformers_cleanup.append(lambda lines: lines)
SCALE = torch.manual_seed(3)
grader_checks = __import__("grader.checks")


@staticmethod
def rnn_cell(x):
    torch.isclose = None  # inside a function: runs only when it is called
    return x


class Model(layers.Module):
    torch.equal = None  # a class body runs when the class is defined, in the sandbox only
'''
    cell = reduce_cell(source, "rnn_cell")
    assert cell.error is None
    kept = [type(node).__name__ for node in ast.parse(cell.code).body]
    assert kept == ["Import", "ImportFrom", "Assign", "AnnAssign", "FunctionDef", "ClassDef"]
    assert cell.names == ["torch", "layers", "GATES", "LIMIT", "rnn_cell", "Model"]
    ignored = "\n".join(cell.ignored)
    for text in ("torch.allclose", "print(", "for i in", "get_ipython()", "SCALE = torch.manual_seed", "__import__"):
        assert text in ignored
    assert "line 3:" in ignored


def test_magics_are_dropped_and_cell_magics_run_nothing():
    cell = reduce_cell("%load_ext autoreload\n!rm -rf /\ndef f():\n    %time x = 1\n    return 2\n", "f")
    assert cell.error is None and cell.names == ["f"]
    assert len(cell.ignored) == 3 and all("magic" in text for text in cell.ignored)
    cell = reduce_cell("%%capture\ndef f():\n    return 1\n", "f")
    assert cell.code == "" and "cell magic" in cell.error
    cell = reduce_cell("def f(:\n    pass\n", "f")
    assert cell.code == "" and cell.error.startswith("SyntaxError")


def test_the_preamble_is_the_set_up_imports_without_grader():
    preamble = definitions.preamble(source_notebook("05_vanishing_gradients"))
    assert preamble == "import math\nimport torch\nfrom torch import nn"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solutions_are_found_whole_and_nothing_is_ignored(assignment):
    defs = extract(source_notebook(assignment), source_notebook(assignment))
    assert [cell.grade_id for cell in defs.cells] == list(PARTS[assignment])
    for cell in defs.cells:
        assert cell.found_by == "grade_id" and cell.error is None and cell.ignored == []
        assert cell.grade_id in cell.names
    release = extract(release_notebook(assignment), source_notebook(assignment))
    assert all(cell.error is None and "NotImplementedError" in cell.code for cell in release.cells)


def test_answer_cells_are_recognised_without_metadata_by_id_then_by_name():
    source = source_notebook("01_hidden_state")
    stripped = json.loads(json.dumps(source))
    for cell in stripped["cells"]:
        cell["metadata"].pop("nbgrader", None)
    defs = extract(stripped, source)
    assert {cell.grade_id: cell.found_by for cell in defs.cells} == \
        {part: "cell id" for part in PARTS["01_hidden_state"]}
    for cell in stripped["cells"]:
        cell["id"] = "renamed-" + cell["id"]
    stripped["cells"].reverse()  # and moved around
    defs = extract(stripped, source)
    assert {cell.grade_id: cell.found_by for cell in defs.cells} == \
        {part: "defined names" for part in PARTS["01_hidden_state"]}
    assert all(cell.error is None for cell in defs.cells)
    deleted = json.loads(json.dumps(source))
    deleted["cells"] = [c for c in deleted["cells"] if nbgrader_meta(c).get("grade_id") != "bidirectional_rnn_forward"]
    defs = extract(deleted, source)
    missing = next(cell for cell in defs.cells if cell.grade_id == "bidirectional_rnn_forward")
    assert missing.code == "" and "was not found" in missing.error


def test_a_cell_claiming_an_answer_grade_id_is_taken_once():
    source = source_notebook("01_hidden_state")
    nb = json.loads(json.dumps(source))
    first = next(c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") == "stacked_rnn_forward")
    copy = json.loads(json.dumps(first))
    copy["id"] = "copy"
    copy["source"] = "def stacked_rnn_forward(*args):\n    return 0\n"
    nb["cells"].append(copy)
    defs = extract(nb, source)
    assert len(defs.defining("stacked_rnn_forward")) == 1
    assert "return 0" not in defs.code
    assert (ROOT / "solutions").is_dir()
