"""Whether a bubblewrap sandbox works on this machine, and what happens when it does not.

:func:`available`: ``bwrap`` installed and runnable as root (probed once, by running a sandboxed
interpreter). Without it, grading refuses to run unless told to run unsandboxed
(:class:`Unsandboxed`, :func:`allowed_unsandboxed`), and then every result is marked ``unsandboxed``.
"""

from __future__ import annotations

import functools
import os
import subprocess

from .bubblewrap import ResourceLimits, Sandbox, SandboxError, bwrap_path, python_in_sandbox


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """``None`` if a sandbox runs here, else why not."""
    if bwrap_path() is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    if os.geteuid() != 0:
        return "the grader must run as root to drop sandboxed code to an unprivileged user"
    try:
        box = Sandbox(limits=ResourceLimits(memory_bytes=None, cpu_seconds=10, processes=None))
        result = subprocess.run(box.command([python_in_sandbox(), "-I", "-S", "-c", "import os; print(os.getuid())"]),
                                env=box.environment(), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError, SandboxError) as exc:
        return f"bubblewrap does not run here ({type(exc).__name__}: {exc})"
    if result.returncode != 0 or result.stdout.strip() != str(box.uid):
        detail = (result.stderr or result.stdout).strip().splitlines()
        return f"bubblewrap does not run here ({detail[-1] if detail else f'exit code {result.returncode}'})"
    return None


def available() -> bool:
    """Does a bubblewrap sandbox work on this machine (bwrap installed, running as root)?"""
    return _probe() is None


def unavailable_reason() -> str:
    return _probe() or ""


ALLOW_ENV = "HIDDEN_STATE_UNSANDBOXED"


def allowed_unsandboxed() -> bool:
    """Whether ``HIDDEN_STATE_UNSANDBOXED`` allows plain ``nbgrader autograde`` to grade without a sandbox."""
    return os.environ.get(ALLOW_ENV, "") not in ("", "0", "false", "no")


class Unsandboxed(RuntimeError):
    """Raised when grading would run student code without a sandbox and that was not allowed."""

    def __init__(self, reason: str):
        super().__init__(f"no sandbox: {reason}. Install bubblewrap and run as root, or allow grading "
                         f"without a sandbox explicitly (--unsandboxed; every result is then marked unsandboxed).")

