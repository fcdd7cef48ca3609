"""Grading integrity: grades that code in a submission cannot fake.

In stock nbgrader the tests run in the student's own Python process, so one line of a submission
(``torch.isclose = ...``, ``check = lambda *a, **k: None``, an IPython input transformer) passes
them. Here the notebook's test cells decide nothing; every graded part is decided by a trusted
process that never runs student code:

* :mod:`.definitions`: the imports, function and class definitions of the answer cells, the only
  student code the verification runs;
* :mod:`.static`: reading that code (and the whole notebook) without running it: forbidden uses
  per part (with :mod:`grader.checks.uses`, the checks' own reading), signs of tampering
  (:mod:`.tampering`), edited or deleted cells;
* :mod:`grader.sandbox` (a package of its own): bubblewrap sandboxes (no network, no view of the
  course, the reference, the gradebook or other students; an unprivileged user; resource limits)
  for the notebook's kernel and for the runner, and the fork server of their templates;
* :mod:`.runner`: the sandboxed process that calls the student's functions on the trusted side's
  cases and hands back plain data (:mod:`grader.codec`: JSON and raw tensor bytes, never pickle);
  :mod:`.stand_ins`: the correct helpers substituted while another part is graded;
* :mod:`.verify`: the trusted side's loop over one notebook, with :mod:`.plan` (the graded parts,
  from the source notebook), :mod:`.expectations` (the cases and the reference's outcomes),
  :mod:`.runners`, :mod:`.frames` and :mod:`.job` (the sandboxed runner processes, their frames, a job),
  :mod:`.judge` (strict validation, then the checks' own judge) and :mod:`.verdict` (one verdict
  per part and per notebook);
* :mod:`.preprocessor`: the nbgrader preprocessor that makes the trusted verdict the graded
  cells' outcome (so the gradebook, feedback and formgrader keep working), a step of the one
  grading chain (:mod:`grader.grading.chain`, which ``nbgrader_config.py`` configures).

Nothing is imported here, so that the sandboxed runner and the quick tests stay light.
"""
