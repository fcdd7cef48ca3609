"""Bounds on the grader's own work for one submission: CPU time per phase, and the worker's memory.

The kernel's timeouts bound what *student code* costs; this bounds what the *grader* spends on a
submission's data, on the trusted side: reading and repairing the notebook, nbgrader's converter
and its preprocessors (the trusted verification among them), the feedback, the gradebook. A
notebook shaped to be expensive there (see :func:`grader.grading.notebook_reader.check_shape` for what
is refused outright) gets the status ``limit_exceeded``, and the class goes on.

* **time**: each phase may use ``Limits.phase_cpu_seconds`` of the worker's CPU time. It is
  measured with ``ITIMER_PROF`` (this process's user and system time, every thread), so time a
  kernel spends running the notebook, in another process, does not count against it: that is
  bounded by the notebook's own timeout. Past the budget, ``SIGPROF`` raises :class:`PhaseLimit`
  in the worker's main thread, a ``BaseException`` so that no ``except Exception`` on the way
  (nbgrader has several) turns it into an ordinary error.
* **memory**: the worker runs with a soft address-space limit (``Limits.worker_memory_bytes``);
  an allocation past it raises ``MemoryError``. Kernels and sandboxes set their own limits when
  they start (:mod:`grader.sandbox.limits`), and the hard limit is left alone so that they may.

Either way, the worker finishes the result and is then replaced by a fresh one (its state after
an interrupted library call is not to be trusted).
"""

from __future__ import annotations

import resource
import signal
from contextlib import contextmanager


class PhaseLimit(BaseException):
    """A phase of grading used more CPU time than it may."""

    def __init__(self, phase: str, seconds: float):
        super().__init__(f"{phase} took more than {seconds:g} s of the grader's CPU time")
        self.phase, self.seconds = phase, seconds


@contextmanager
def cpu_budget(phase: str, seconds: float | None):
    """Raise :class:`PhaseLimit` in the main thread if the body uses more than ``seconds`` of CPU.

    ``phase`` names the work for the message ("reading the notebook"). Budgets do not nest: an
    inner one replaces the outer one, and the outer one is not restored.
    """
    if not seconds:
        yield
        return

    def expired(signum, frame):
        signal.setitimer(signal.ITIMER_PROF, 0)
        raise PhaseLimit(phase, seconds)

    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def limit_memory(address_space: int | None) -> None:
    """Set this process's soft address-space limit (the hard limit stays, for children to raise)."""
    if not address_space:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        address_space = min(address_space, hard)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, hard))


def is_memory_error(exc: BaseException | None, detail: str = "") -> bool:
    """Whether ``exc`` (or its cause, or a logged traceback ``detail``) is an allocation failure."""
    while exc is not None:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return "MemoryError" in detail
