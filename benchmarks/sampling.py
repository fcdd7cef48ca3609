"""Running a command while sampling the memory of its whole process tree.

Every ``interval`` seconds the sampler adds up the resident set size (RSS) of the command's
process and all its descendants (kernels, workers, sandboxes) and keeps the largest sum. A sum
of RSS counts memory shared between processes (e.g. forked kernels sharing torch's pages) once
per process, so it overstates what processes that fork from a warm template really use; it is
the figure ``top`` would add up, and the same measure for both graders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

INTERVAL = 0.2


@dataclass
class Measurement:
    """How one command went: wall seconds, peak RSS of its process tree (bytes), exit code."""

    seconds: float
    peak_rss: int
    returncode: int


def tree_rss(process: psutil.Process) -> int:
    """The summed RSS of ``process`` and its descendants, in bytes (processes that vanish count 0)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakSampler(threading.Thread):
    """A thread that samples :func:`tree_rss` of one process until :meth:`stop`."""

    def __init__(self, pid: int, interval: float = INTERVAL):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.is_set():
            self.peak = max(self.peak, tree_rss(self.process))
            self.samples += 1
            self._finished.wait(self.interval)

    def stop(self) -> int:
        self._finished.set()
        self.join()
        return self.peak


def run_measured(command: list[str], *, cwd: Path, env: dict, log: Path, interval: float = INTERVAL) -> Measurement:
    """Run ``command`` to its end, its output appended to ``log``; time it and sample its memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=output, stderr=subprocess.STDOUT)
        sampler = PeakSampler(child.pid, interval)
        sampler.start()
        try:
            returncode = child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            peak = sampler.stop()
        seconds = time.perf_counter() - started
    return Measurement(seconds=seconds, peak_rss=peak, returncode=returncode)


def tool_env(root: Path) -> dict:
    """The environment for the commands: this interpreter's ``bin/`` first on PATH (nbgrader runs
    ``alembic`` from it) and the course ``root`` first on PYTHONPATH (its ``grader`` package)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
