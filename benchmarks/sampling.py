"""Running a command while sampling the memory of its whole process tree.

Every ``interval`` seconds the sampler adds up, over the command's process and all its
descendants (kernels, workers, sandboxes), three measures of memory, and keeps the largest sum of
each:

* RSS, the resident set size: counts memory shared between processes (e.g. forked kernels sharing
  torch's pages) once per process, so it overstates what processes that fork from a warm template
  really use; it is the figure ``top`` would add up;
* PSS, the proportional set size: each shared page divided among the processes that share it, so
  the sum over a tree is its real footprint (what the machine would get back if the tree ended);
* USS, the unique set size: only the pages no other process shares (a lower bound).

PSS and USS come from ``/proc/<pid>/smaps_rollup`` (psutil's ``memory_full_info``), which needs
the right to read the processes' memory maps (root here, or the same user).
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
    """How one command went: wall seconds, peak RSS, PSS and USS sums of its process tree (bytes), exit code."""

    seconds: float
    peak_rss: int
    returncode: int
    peak_pss: int = 0
    peak_uss: int = 0


@dataclass
class TreeMemory:
    """Memory of a process tree, in bytes, summed over its processes (see the module's docstring)."""

    rss: int = 0
    pss: int = 0
    uss: int = 0

    def peak(self, other: "TreeMemory") -> "TreeMemory":
        """The larger of each measure."""
        return TreeMemory(max(self.rss, other.rss), max(self.pss, other.pss), max(self.uss, other.uss))


def tree_memory(process: psutil.Process) -> TreeMemory:
    """RSS, PSS and USS of ``process`` and its descendants (processes that vanish count 0)."""
    total = TreeMemory()
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return total
    for member in members:
        try:
            info = member.memory_full_info()
        except psutil.Error:
            continue
        total.rss += info.rss
        total.pss += getattr(info, "pss", 0)
        total.uss += info.uss
    return total


class PeakSampler(threading.Thread):
    """A thread that samples :func:`tree_memory` of one process until :meth:`stop`."""

    def __init__(self, pid: int, interval: float = INTERVAL):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = TreeMemory()
        self.samples = 0
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.is_set():
            self.peak = self.peak.peak(tree_memory(self.process))
            self.samples += 1
            self._finished.wait(self.interval)

    def stop(self) -> TreeMemory:
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
    return Measurement(seconds=seconds, peak_rss=peak.rss, returncode=returncode, peak_pss=peak.pss,
                       peak_uss=peak.uss)


def tool_env(root: Path) -> dict:
    """The environment for the commands: this interpreter's ``bin/`` first on PATH (nbgrader runs
    ``alembic`` from it) and the course ``root`` first on PYTHONPATH (its ``grader`` package)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
