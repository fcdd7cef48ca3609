"""grader.notebooks: the one reading of cells, nbgrader metadata and markers."""

import math

from grader import notebooks
from grader.notebook_changes import compare

TEST_CELL = ("check(f)\n"
             "    ### BEGIN HIDDEN TESTS\n"
             "    check(f, seeds=[9], hidden=True)\n"
             "    ### END HIDDEN TESTS\n"
             "print(1)")


def test_redact_hidden_replaces_each_region_by_one_indented_placeholder():
    assert notebooks.redact_hidden(TEST_CELL, "# hidden") == "check(f)\n    # hidden\nprint(1)"
    unterminated = "a\n### BEGIN HIDDEN TESTS\nsecret\nmore"
    assert notebooks.redact_hidden(unterminated, "# hidden") == "a\n# hidden"
    assert notebooks.redact_hidden("nothing hidden", "# hidden") == "nothing hidden"


def test_split_hidden_keeps_markers_out_of_both_sides():
    kept, hidden = notebooks.split_hidden(TEST_CELL)
    assert kept == ["check(f)", "print(1)"]
    assert hidden == ["    check(f, seeds=[9], hidden=True)"]


def test_strip_markers_keeps_the_code_between_them():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert notebooks.strip_markers(source) == "def f():\n    return 1"
    assert notebooks.strip_markers("x = 1  ### BEGIN SOLUTION") == "x = 1  ### BEGIN SOLUTION"  # not a marker line


def test_metadata_a_student_broke_reads_as_none():
    assert notebooks.nbgrader_meta({"metadata": {"nbgrader": "oops"}}) == {}
    assert notebooks.nbgrader_meta({"metadata": ["oops"]}) == {}
    assert notebooks.nbgrader_meta({}) == {}
    assert notebooks.grade_id({"metadata": {"nbgrader": {"grade_id": 7}}}) is None
    assert notebooks.grade_id({"metadata": {"nbgrader": {"grade_id": ""}}}) is None
    assert notebooks.grade_id({"metadata": {"nbgrader": {"grade_id": "rnn-step"}}}) == "rnn-step"
    assert notebooks.cell_source({"source": ["a\n", "b"]}) == "a\nb"
    assert notebooks.cell_source({}) == ""


def test_points_and_locks():
    assert notebooks.points({"points": "2.5"}) == 2.5
    assert notebooks.points({}) == 0
    assert math.isnan(notebooks.points({"points": "lots"}))
    assert notebooks.points({"points": "lots"}) != notebooks.points({"points": "lots"})  # never equal to anything
    assert notebooks.is_locked({"grade": True, "solution": False})  # a test cell
    assert not notebooks.is_locked({"grade": True, "solution": True})  # a graded answer
    assert notebooks.is_locked({"locked": True})


def test_cell_label_is_one_based_with_the_grade_id():
    assert notebooks.cell_label({"metadata": {"nbgrader": {"grade_id": "t1"}}}, 2) == "cell 3 (t1)"
    assert notebooks.cell_label({"metadata": {}}, 0) == "cell 1"


# ----------------------------------------------------------------------------- notebook_changes.compare

def _cell(grade_id=None, source="x = 1", cell_type="code", **flags):
    meta = {"grade_id": grade_id, **flags} if grade_id else {}
    return {"cell_type": cell_type, "source": source, "metadata": {"nbgrader": meta} if meta else {}}


REFERENCE = [
    _cell("setup", "import torch", locked=True),
    _cell("answer", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", solution=True, grade=True,
          points=2),
    _cell("test", "check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, hidden=True)\n### END HIDDEN TESTS", grade=True,
          locked=True, points=1),
]


def test_an_untouched_submission_has_no_changes():
    submitted = [_cell("setup", "import torch  ", locked=True), _cell("answer", "def f():\n    return 2",
                 solution=True, grade=True, points=2), _cell("test", "check(f)", grade=True, locked=True, points=1)]
    comparison = compare(submitted, REFERENCE)
    assert not comparison.unknown and not comparison.missing and not comparison.stripped
    assert [(c.grade_id, c.settings_changed, c.edited) for c in comparison.known] == \
        [("setup", False, False), ("answer", False, False), ("test", False, False)]


def test_each_kind_of_change_is_named():
    submitted = [_cell("answer", "def f(): return 2", solution=True, grade=True, points=20),
                 _cell("test", "pass", grade=True, locked=False, points=1),
                 _cell("test", "check(f)", grade=True, locked=True, points=1),
                 _cell("mine", "print(2)", grade=True, points=5)]
    comparison = compare(submitted, REFERENCE)
    answer, test, copy = comparison.known
    assert answer.points_changed and answer.flags == [] and not answer.edited  # answers may be edited
    assert test.flags == ["locked"] and test.edited and not test.copy
    assert copy.copy and not copy.edited
    assert comparison.copies() == {"test": 2}
    assert comparison.unknown == [(3, "mine")]
    assert comparison.missing == ["setup"] and not comparison.stripped


def test_a_changed_cell_type_and_stripped_metadata():
    assert compare([_cell("setup", "import torch", cell_type="markdown", locked=True)], REFERENCE).known[0].cell_type \
        == "markdown"
    stripped = compare([_cell(source="import torch"), _cell(source="check(f)")], REFERENCE)
    assert stripped.stripped and stripped.missing == ["setup", "answer", "test"]


def test_a_grade_id_that_is_not_a_string_is_an_added_cell():
    odd = [_cell("setup", "import torch", locked=True), _cell("answer", "def f(): pass", solution=True, grade=True,
           points=2), _cell("test", "check(f)", grade=True, locked=True, points=1)]
    odd.append({"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": ["test"], "grade": True}}})
    comparison = compare(odd, REFERENCE)
    assert comparison.unknown == [(3, ["test"])] and not comparison.missing
