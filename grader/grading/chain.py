"""The one nbgrader autograding chain, for plain ``nbgrader autograde`` and ``python -m grader grade``.

nbgrader's ``Autograde`` converter runs two lists of preprocessors on each submitted notebook.
:func:`configure` sets both, in place, in an nbgrader ``Config``; the course's
``nbgrader_config.py`` calls ``configure(c)``, and each grading worker calls it again with its
limits and verifiers (:mod:`.worker`)::

    c.Autograde.sanitize_preprocessors = [
        ClearOutput, SanitizeMetadata,       # the one metadata sanitiser (.repair), before nbgrader's checks
        DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        PrelaunchVerifier,                   # when the trusted verification is among the verifiers
        GuardedExecute,                      # the one Execute (.execute): sandboxed kernel, limits
        IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        *verifiers,                          # TrustedVerification (grader.integrity), and any others
        SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]

``verifiers`` are preprocessor classes (or ``"module.Class"`` strings) that run after execution
and before the scores are saved, so they may change a cell's outputs (and so its score). Plain
``nbgrader autograde`` gets :class:`~grader.integrity.preprocessor.TrustedVerification`; ``python
-m grader grade`` gets ``WorkerSettings.verifiers`` (the trusted verification unless
``RunOptions.verify`` is off, then whatever the run adds).

Where ``GuardedExecute`` gets its kernel differs (:mod:`.kernel_source`): the worker's prelaunched
supply in ``grader grade``, a sandboxed kernel started per notebook under plain ``nbgrader autograde``.
"""

from __future__ import annotations

from .settings import Limits

TIMEOUT_ERROR = "the cell ran out of time and was interrupted"


def sanitize_preprocessors() -> list:
    """nbgrader's sanitizing list, with :class:`SanitizeMetadata` before its metadata checks."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells,
                                        OverwriteKernelspec)

    from grader.integrity.preprocessor import SanitizeMetadata

    return [ClearOutput, SanitizeMetadata, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]


def autograde_preprocessors(verifiers=()) -> list:
    """nbgrader's autograding list with :class:`~.execute.GuardedExecute` and the ``verifiers`` seam."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    from grader.integrity.preprocessor import PrelaunchVerifier, TrustedVerification

    from .execute import GuardedExecute

    before = [PrelaunchVerifier] if TrustedVerification in verifiers else []
    return [*before, GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, *verifiers,
            SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]


def configure(c, limits: Limits | None = None, verifiers=None) -> None:
    """Put the grading chain into the nbgrader config ``c`` (in place).

    ``limits``: the grading run's (its per-cell timeout becomes ``Execute.timeout``); ``None`` keeps
    the config's ``Execute.timeout`` (plain ``nbgrader autograde``). ``verifiers``: ``None`` is the
    trusted verification alone.
    """
    if verifiers is None:
        from grader.integrity.preprocessor import TrustedVerification

        verifiers = [TrustedVerification]
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.Autograde.autograde_preprocessors = autograde_preprocessors(list(verifiers))
    if limits is not None:
        c.Execute.timeout = int(limits.cell_timeout)
    c.Execute.interrupt_on_timeout = True
    c.Execute.iopub_timeout = 5
    c.Execute.startup_timeout = 60
    c.Execute.error_on_timeout = {"ename": "CellTimeoutError", "evalue": TIMEOUT_ERROR,
                                  "traceback": [f"CellTimeoutError: {TIMEOUT_ERROR}"]}
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
