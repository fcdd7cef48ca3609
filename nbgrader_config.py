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

Grading integrity (``grader.integrity``): ``nbgrader autograde`` runs each notebook's kernel in a
bubblewrap sandbox and decides every graded cell with the trusted verification, outside the
student's process; the notebook's own test cells decide nothing. Without bubblewrap (or not as
root) it refuses, unless ``HIDDEN_STATE_UNSANDBOXED=1`` is set, and then marks every result
unsandboxed. The chain of preprocessors is the one ``python -m grader grade`` runs
(``grader/grading/chain.py``), with its guarded ``Execute``: a fresh sandboxed kernel per notebook,
the per-cell timeout below, 120 s per notebook, memory and output limits; a kernel that dies costs
only the cells after it. See "Grading integrity" and "One chain for both commands" in README.md.

Student content in HTML (``grader.grading.inert``): formgrader and ``nbgrader generate_feedback``
render notebooks with nbconvert's ``HTMLExporter``, whose templates copy HTML outputs, markdown and
raw cells into the page as they are; ``InertNotebook`` cleans them first (markdown cells as source,
since those templates render markdown without cleaning). ``python -m grader grade`` writes its own
feedback and does not use these two settings. See "Pages for people" in README.md.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "hidden-state"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Seconds a single cell may run during autograding; the slowest test cell needs a few.
c.Execute.timeout = 120

# The trusted verification after Execute, and a sandboxed kernel: the grading chain that `python -m
# grader grade` runs too (grader/grading/chain.py).
from grader.grading.chain import configure  # noqa: E402

configure(c)

c.HTMLExporter.preprocessors = ["grader.grading.inert.InertNotebook"]
c.InertNotebook.clean_markdown_source = True
