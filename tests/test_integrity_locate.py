"""grader.integrity.definitions.locate on small hand-made notebooks: which cell each answer is taken from.

Pinned on the code before ``locate`` was split: the order of the three recognitions (grade id, then
cell id, then defined names), each cell taken once, markdown and metadata-carrying cells skipped.
"""

from grader.integrity.definitions import SourceAnswer, locate


def code(source="", grade_id=None, cell_id=None, cell_type="code"):
    cell = {"cell_type": cell_type, "source": source, "metadata": {}}
    if grade_id:
        cell["metadata"]["nbgrader"] = {"grade_id": grade_id, "solution": True}
    if cell_id:
        cell["id"] = cell_id
    return cell


A = SourceAnswer("a", "id-a", ["f"], 0)
B = SourceAnswer("b", "id-b", ["g"], 1)


def test_grade_id_comes_first_then_cell_id_then_names():
    cells = [code("def g(): pass"), code("def f(): pass", cell_id="id-a"), code("x = 1", grade_id="a")]
    assert locate({"cells": cells}, [A, B]) == {"a": (2, "grade_id"), "b": (0, "defined names")}


def test_a_cell_is_taken_once_and_only_code_cells_without_other_metadata_count():
    cells = [code("def f(): pass\ndef g(): pass", cell_id="id-b"), code("def g(): pass", cell_type="markdown"),
             code("def g(): pass", grade_id="other"), code("def g(): pass")]
    assert locate({"cells": cells}, [A, B]) == {"b": (0, "cell id")}  # and "a" defines f nowhere else


def test_a_cell_with_a_grade_id_is_never_taken_by_id_or_names():
    cells = [code("def f(): pass", grade_id="other", cell_id="id-a")]
    assert locate({"cells": cells}, [A]) == {}
    assert locate({}, [A]) == {}


def test_the_first_of_several_matching_cells_is_taken_and_magics_do_not_hide_names():
    cells = [code("%time\ndef f(): pass"), code("def f(): pass")]
    assert locate({"cells": cells}, [A]) == {"a": (0, "defined names")}
    twice = [code("x", grade_id="a"), code("y", grade_id="a")]
    assert locate({"cells": twice}, [A, SourceAnswer("a", None, [], 2)]) == {"a": (1, "grade_id")}
