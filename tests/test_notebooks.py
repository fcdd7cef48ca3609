"""grader.notebooks: the one reading of cells, nbgrader metadata and markers."""

import math

from grader import notebooks

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
