"""nbgrader configuration of the course (nbgrader 0.9.6).

The source notebooks, with solutions and hidden tests, are in ``solutions/<assignment>/``; the
student release, generated from them, is in ``exercises/<assignment>/``. Regenerate the release
with ``make exercises`` (it runs ``python -m grader.release`` with a throw-away gradebook); never
edit ``exercises/`` by hand.

Grading a class, from this folder: put the submissions in ``submitted/<student>/<assignment>/``,
run ``nbgrader generate_assignment <assignment> --force`` once (it records the assignment and its
hidden tests in ``gradebook.db``; ``--create`` is the default, so the assignments need no listing
here), then ``nbgrader autograde <assignment>``. The assignments are the folders of ``solutions/``:
01_hidden_state, 02_cell_state, 03_initialization, 04_statefulness, 05_vanishing_gradients.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "hidden-state"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Seconds a single cell may run during autograding; the slowest test cell needs a few.
c.Execute.timeout = 120
