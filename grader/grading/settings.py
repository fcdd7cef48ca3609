"""Grading limits (plain data, importable without nbgrader or jupyter)."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 2**30
MiB = 2**20


@dataclass
class Limits:
    """Per-notebook limits. Memory is address space (torch alone reserves about 1.4 GiB)."""

    timeout: float = 120.0
    cell_timeout: float = 60.0
    memory_bytes: int = 4 * GiB
    max_output_bytes: int = 1 * MiB
    output_interrupt_bytes: int = 16 * MiB
    file_bytes: int = 256 * MiB
    # The grader's own work on a submission (see grader.grading.bounds): CPU seconds per phase
    # (reading, autograding, feedback...; the kernel's run is another process and does not count)
    # and the address space of a grading worker.
    phase_cpu_seconds: float = 60.0
    worker_memory_bytes: int = 4 * GiB

    def describe(self) -> str:
        return (f"{self.timeout:g} s per notebook, {self.cell_timeout:g} s per cell, "
                f"{self.memory_bytes / GiB:g} GiB memory, {self.max_output_bytes / MiB:g} MiB output per cell")
