"""Grading a class: one command from a folder (or zip) of submissions to grades, feedback and a report.

``python -m grader grade SUBMISSIONS --out DIR`` (see :mod:`grader.grading.cli` and the README).

Processes: the command is the *coordinator*; it starts ``--workers`` long-lived *workers* (forked
from a fork server that imported nbgrader once), each grading one submission at a time; each worker
has a *kernel template* that imported torch and forks a fresh kernel for every notebook (or starts a
new Python per kernel with ``--fresh-kernels``). Only the coordinator writes the real gradebook.

Modules, one job each:

* :mod:`.cli`: the command line; :mod:`.coordinator`: one run, from discovery to the results.
* :mod:`.submissions`: discovery of ``<student>/<assignment>/`` folders (a row for every student);
  :mod:`.unzip`: safe, bounded extraction of a class's zip; :mod:`.names`: junk names, student ids
  from folder names, look-alike ids.
* :mod:`.course`: the assignments of ``solutions/``, prepared in the workspace with nbgrader's
  ``GenerateAssignment`` (the gradebook's record of cells, points and hidden tests).
* :mod:`.intake`: which file of a submission folder is graded as which notebook;
  :mod:`.notebook_reader`: reading one submitted notebook defensively (size and shape, JSON, old
  formats, well-formed cells); :mod:`.repair`: repairing what can be repaired (stripped or copied
  metadata, edited or deleted locked cells), with a note for each.
* :mod:`.workspace`: the output folder, its lock, safe folder names and the resume state.
* :mod:`.pool` (coordinator side) and :mod:`.worker` (process side): the workers.
* :mod:`.chain`: the one nbgrader autograding chain, for ``python -m grader grade`` and plain
  ``nbgrader autograde`` (``nbgrader_config.py``); :mod:`.execute`: its ``Execute``, guarded (time,
  memory and output limits; a dying kernel costs only the parts after it); :mod:`.outputs`: the
  outputs the grader writes itself (the one error-output builder).
* :mod:`.kernels`: how a kernel process is launched and a supply of fresh kernels;
  :mod:`.kernel_source`: the kernels of both pipelines (the sandbox inside the limits; a worker's
  supply, or one kernel per notebook under plain ``nbgrader autograde``); :mod:`.zygote`, the
  kernel template (a fork server of :mod:`grader.sandbox.forkserver`).
* :mod:`.gradebook`: all writes to the real nbgrader gradebook, from the coordinator only.
* :mod:`.feedback`: nbgrader's ``GenerateFeedback`` with hidden tests and tracebacks removed;
  :mod:`.inert`: student content made inert in every page (sanitizer, Content-Security-Policy).
* :mod:`.results`: statuses, per-submission results and ``grades.csv`` (formula-safe through
  :mod:`.csvsafe`); :mod:`.report`:
  ``report.html``; :mod:`.progress`: the progress bar; :mod:`.settings`: the limits.

How the rest plugs in:

* the sandbox (:mod:`grader.sandbox`, bubblewrap; the resource-limit wrapper :mod:`grader.sandbox.limits`): a :class:`.kernels.KernelLauncher`
  (``wrap`` the command that starts a kernel, or the kernel template; ``environment`` to shape its
  variables), passed as ``RunOptions.launcher``; the resource limits are applied inside it;
* the trusted verification (:mod:`grader.integrity`): ``RunOptions.verifiers``, nbgrader
  preprocessors placed in ``c.Autograde.autograde_preprocessors`` after the execution and before
  ``SaveAutoGrades``, so what they decide is what the gradebook records; the worker reads its
  verdicts (kept in the autograded notebooks' metadata) only as ``NotebookVerdict``.

Nothing here imports nbgrader, jupyter or torch at import time except :mod:`.execute`, :mod:`.outputs`,
:mod:`.feedback`, :mod:`.inert` and :mod:`.kernels`, so the command line answers at once and ``limits.py``
starts in milliseconds.
"""
