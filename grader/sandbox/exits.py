"""What a process's exit status says (negative: killed by that signal, as ``Popen.returncode``)."""

from __future__ import annotations

import signal

# Signals with a meaning of their own for a sandboxed process (its limits).
SIGNAL_MEANINGS = {"SIGXCPU": "it used up its CPU time", "SIGXFSZ": "it wrote a file larger than allowed",
                   "SIGKILL": "it was killed (out of time or memory)"}


def signal_name(status: int) -> str:
    """The name of the signal a negative exit status stands for (``SIGKILL``, or ``signal 99``)."""
    try:
        return signal.Signals(-status).name
    except ValueError:
        return f"signal {-status}"


def describe_status(status: int) -> str:
    """Why a sandboxed process ended, from its exit status (its limits named for what they are)."""
    if status >= 0:
        return f"it exited with code {status}"
    name = signal_name(status)
    return SIGNAL_MEANINGS.get(name, f"it was killed by {name}")


def how_it_ended(status: int | None, subject: str) -> str:
    """``"the kernel was killed by SIGKILL"``, ``"the kernel exited with code 3"``; ``None``: it stopped
    responding (no exit status yet)."""
    if status is None:
        return f"{subject} stopped responding"
    if status < 0:
        return f"{subject} was killed by {signal_name(status)}"
    return f"{subject} exited with code {status}"
