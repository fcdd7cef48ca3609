"""Where :class:`~grader.grading.execute.GuardedExecute` gets its kernels, in both pipelines.

Every kernel is started the same way (:func:`kernel_settings`): the resource-limit wrapper
(:class:`.kernels.LimitedLauncher`: address space, CPU time, file size) around the sandbox's
launcher (:class:`grader.integrity.kernel_launcher.SandboxKernelLauncher`), with a minimal environment,
by a :class:`.kernels.KernelSupply`. What differs is how long the supply lives:

* ``python -m grader grade``: each worker keeps one for all its jobs (kernels prelaunched and
  forked from a warm template) and hands it to ``GuardedExecute`` with
  :func:`grader.grading.execute.activate`;
* plain ``nbgrader autograde`` (no worker): :func:`standalone_context` gives ``GuardedExecute`` a
  supply that starts one sandboxed kernel per notebook (no template, nothing prelaunched, so no
  process outlives the notebook), and the per-notebook limits of :class:`.settings.Limits` with
  the per-cell timeout of nbgrader's ``Execute.timeout``. Without a sandbox it refuses, unless
  ``HIDDEN_STATE_UNSANDBOXED=1`` (then the kernel runs under the limits only).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from grader.sandbox.bubblewrap import ResourceLimits

from .settings import Limits


def kernel_environment(course_root: str) -> dict[str, str]:
    """The variables a grading kernel gets (added to the few :data:`.kernels.KEPT_ENVIRONMENT` ones)."""
    python_path = os.pathsep.join(filter(None, [str(course_root), os.environ.get("PYTHONPATH", "")]))
    return {
        "PYTHONPATH": python_path,
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "NBGRADER_EXECUTION": "autograde",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def kernel_resources(limits: Limits) -> ResourceLimits:
    """The rlimits of a grading kernel under the per-notebook policy ``limits`` (the one conversion of a
    :class:`.settings.Limits` into a :class:`~grader.sandbox.bubblewrap.ResourceLimits`). The CPU limit is
    a backstop behind the wall-clock timeout."""
    return ResourceLimits(memory_bytes=limits.memory_bytes, cpu_seconds=int(limits.timeout * 2 + 60),
                          file_bytes=limits.file_bytes, processes=None, open_files=None)


def kernel_settings(limits: Limits, inner, course_root: str, log_dir: Path, preload=(), prelaunch: bool = False,
                    fork: bool = False):
    """How a grading kernel starts: ``inner`` (a :class:`.kernels.KernelLauncher`, the sandbox's or
    ``None``) inside the resource-limit wrapper, with :func:`kernel_environment`."""
    from .kernels import KernelSettings, LimitedLauncher

    launcher = LimitedLauncher.of(kernel_resources(limits), **({"inner": inner} if inner is not None else {}))
    return KernelSettings(launcher=launcher, preload=list(preload), env=kernel_environment(course_root),
                          log_dir=Path(log_dir), prelaunch=prelaunch, fork=fork)


def sandbox_launcher(protect=()):
    """The sandbox's kernel launcher; ``None`` (limits only) where there is no sandbox and
    ``HIDDEN_STATE_UNSANDBOXED`` allows that; else :class:`~grader.sandbox.availability.Unsandboxed`."""
    from grader.sandbox import availability, kernel_launcher

    if availability.available():
        return kernel_launcher.SandboxKernelLauncher(protect=[str(path) for path in protect])
    if availability.allowed_unsandboxed():
        return None
    raise availability.Unsandboxed(availability.unavailable_reason())


_SUPPLIES: dict[tuple, object] = {}


def _supply(limits: Limits, course_root: str):
    """The process's kernel supply for plain ``nbgrader autograde`` (one per limits and course)."""
    from .kernels import KernelSupply

    key = (limits.cell_timeout, course_root)
    if key not in _SUPPLIES:
        protect = [os.path.join(course_root, "solutions"), os.path.join(course_root, "source")] if course_root else []
        log_dir = Path(tempfile.mkdtemp(prefix="hidden-state-autograde-kernels-"))
        atexit.register(shutil.rmtree, log_dir, True)
        supply = KernelSupply(kernel_settings(limits, sandbox_launcher(protect), course_root, log_dir))
        atexit.register(supply.shutdown)
        _SUPPLIES[key] = supply
    return _SUPPLIES[key]


def standalone_limits(executor) -> Limits:
    """The limits of a notebook under plain ``nbgrader autograde``: ``Execute.timeout`` per cell."""
    defaults = Limits()
    cell_timeout = float(executor.timeout or defaults.cell_timeout)
    return Limits(cell_timeout=cell_timeout, timeout=max(defaults.timeout, cell_timeout))


def standalone_context(executor):
    """``GuardedExecute``'s context when nbgrader runs it without a grading worker (a fresh report
    per notebook; kernels from :func:`_supply`)."""
    from nbgrader.coursedir import CourseDirectory

    from .execute import JobContext

    limits = standalone_limits(executor)
    root = CourseDirectory(config=executor.config).root
    return JobContext(kernels=_supply(limits, root), limits=limits, more=False)
