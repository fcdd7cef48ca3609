"""The one ``Execute`` of the grading chain: nbgrader's, guarded, with a pluggable kernel source.

:class:`GuardedExecute` is nbgrader's ``Execute`` with:

* a fresh kernel per notebook from a kernel source (:class:`~grader.grading.kernels.KernelSupply`):
  in ``python -m grader grade`` the worker's (prelaunched, forked from a warm template), set with
  :func:`activate`; under plain ``nbgrader autograde`` one started per notebook
  (:func:`grader.grading.kernel_source.standalone_context`). Either way the kernel runs in the
  sandbox, under resource limits;
* a per-cell timeout (the cell is interrupted and grading goes on) and a wall-clock limit for the
  whole notebook (cells after it are not run; a watchdog kills the kernel if it does not stop);
* an output cap while the kernel runs: past ``max_output_bytes`` a cell's output is dropped,
  past ``output_interrupt_bytes`` the cell is interrupted, so a print loop cannot exhaust memory;
* a dying kernel ends execution, not grading: the cell it died in gets an error and the cells
  after it are marked as not run (an error, so their tests score zero, never full marks); the
  trusted verification, later in the chain (:mod:`.chain`), still decides every graded cell.

Each of these adds a :class:`~grader.grading.results.Note` to the notebook's report (and a
warning to nbgrader's log).
"""

from __future__ import annotations

import re
import signal
import threading
from dataclasses import dataclass, field
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.client import NotebookClient
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute

from grader.notebooks import cell_label
from grader.sandbox.exits import how_it_ended

from .results import Note
from .outputs import error_output, stdout_output
from .settings import GiB, Limits, MiB

MEMORY_PATTERN = re.compile(r"MemoryError|can't allocate memory|Cannot allocate memory|std::bad_alloc|"
                            r"out of memory", re.IGNORECASE)


class ExecutionReport:
    """What happened while one notebook ran: notes for its status and reason."""

    def __init__(self):
        self.notes: list[Note] = []

    def add(self, kind: str, text: str) -> None:
        if not any(note.kind == kind and note.text == text for note in self.notes):
            self.notes.append(Note(kind, text))


@dataclass
class JobContext:
    """What :class:`GuardedExecute` needs for the notebook being graded (set by the worker)."""

    kernels: object  # grader.grading.kernels.KernelSupply
    limits: Limits
    reports: dict[str, ExecutionReport] = field(default_factory=dict)
    more: bool = True  # another notebook follows this one in the worker (so prelaunch its kernel)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, over the job's notebooks

    def add_time(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def report(self, notebook: str) -> ExecutionReport:
        return self.reports.setdefault(notebook, ExecutionReport())


_ACTIVE: JobContext | None = None


def activate(context: JobContext | None) -> None:
    global _ACTIVE
    _ACTIVE = context


def active(executor) -> JobContext:
    """The grading worker's context, or (plain ``nbgrader autograde``, no worker) a context of its own."""
    if _ACTIVE is not None:
        return _ACTIVE
    from .kernel_source import standalone_context

    return standalone_context(executor)


# ----------------------------------------------------------------------------- helpers


def _phase(cell: NotebookNode) -> str:
    """``student_code`` for answer and test cells, ``imports`` for the notebook's own set-up cells."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return "student_code" if meta.get("solution") or meta.get("grade") or not meta else "imports"


def _message_size(content: dict) -> int:
    size = 0
    for key in ("text", "evalue"):
        value = content.get(key)
        if isinstance(value, str):
            size += len(value)
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    for line in content.get("traceback") or ():
        size += len(line)
    return size


def describe_exit(status: int | None) -> str:
    return how_it_ended(status, "the kernel")


# ----------------------------------------------------------------------------- the preprocessor


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with a fresh limited kernel, timeouts, an output cap and death handling."""

    KILL_GRACE = 10.0  # seconds past the notebook's time limit before the watchdog kills the kernel

    def preprocess(self, nb, resources=None, km=None):
        job = self._hs_job = active(self)
        notebook = (resources or {}).get("nbgrader", {}).get("notebook", "notebook")
        self._hs_report = job.report(notebook)
        self._hs_limits = limits = job.limits
        self._hs_deadline = monotonic() + limits.timeout
        self._hs_output_bytes: dict[int, int] = {}
        self._hs_interrupted: set[int] = set()
        self.timeout_func = self._hs_cell_timeout
        self.interrupt_on_timeout = True
        failure = self._hs_attempt(nb, resources)
        if failure is not None:  # a kernel that does not start gets a second chance
            failure = self._hs_attempt(nb, resources)
        if failure is not None:
            text = f"the kernel did not start ({type(failure).__name__}: {failure})"
            self._hs_report.add("grader_error", text)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [error_output("NotRun", f"not run: {text}")]
        for note in self._hs_report.notes:
            self.log.warning("%s: %s: %s", notebook, note.kind, note.text)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _hs_attempt(self, nb, resources) -> Exception | None:
        """Run ``nb`` in a fresh kernel; the exception if that kernel did not start, else ``None``."""
        job = self._hs_job
        kernel_wait = monotonic()
        km = job.kernels.acquire(more=job.more)
        self._hs_killed_by_watchdog = False
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        watchdog = threading.Timer(max(0.0, self._hs_deadline - monotonic()) + self.KILL_GRACE,
                                   self._hs_watchdog, args=(km,))
        watchdog.daemon = True
        watchdog.start()
        started = False
        try:
            with self.setup_kernel():
                self._hs_prepare_kernel(resources)
                job.add_time("kernel_start", monotonic() - kernel_wait)
                started = True  # from here on, student code runs: no second attempt
                self._hs_run_cells(nb, resources, km)
        except (RuntimeError, TimeoutError, DeadKernelError, CellTimeoutError) as exc:
            if started:
                raise
            return exc
        finally:
            watchdog.cancel()
            self._hs_stop_client()
            job.kernels.release(km)
        return None

    # --------------------------------------------------------------- pieces

    def _hs_cell_timeout(self, cell) -> int:
        remaining = self._hs_deadline - monotonic()
        return max(1, int(min(self._hs_limits.cell_timeout, remaining) + 0.999))

    def _hs_watchdog(self, km) -> None:
        self._hs_killed_by_watchdog = True
        km.kill_group()

    def _hs_stop_client(self) -> None:
        kc, self.kc = self.kc, None
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001 - closing sockets of a dead kernel
                pass

    def _hs_prepare_kernel(self, resources) -> None:
        """kernel_info (as nbconvert does), then move the prelaunched kernel to the notebook's folder."""
        info = self.wait_for_reply(self.kc.kernel_info())
        if info and "language_info" in info.get("content", {}):
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        path = (resources or {}).get("metadata", {}).get("path")
        if path:
            msg_id = self.kc.execute(f"__import__('os').chdir({str(path)!r})", silent=True, store_history=False)
            self.wait_for_reply(msg_id)

    def _hs_run_cells(self, nb, resources, km) -> None:
        report, limits = self._hs_report, self._hs_limits
        stopped = None
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if stopped is None and monotonic() >= self._hs_deadline:
                stopped = f"the notebook reached its time limit of {limits.timeout:g} s"
                report.add("timeout", f"{stopped}; later cells were not run")
            if stopped is not None:
                cell.outputs = [error_output("NotRun", f"not run: {stopped}")]
                continue
            cell_started = monotonic()
            try:
                self.preprocess_cell(cell, resources, index)
            except DeadKernelError:
                stopped = self._hs_death(km, cell, index)
                cell.outputs = list(cell.get("outputs", [])) + [error_output("KernelDied", stopped)]
            except CellTimeoutError:
                stopped = f"{cell_label(cell, index)} did not stop when interrupted"
                report.add("timeout", f"{stopped}; the kernel was stopped and later cells were not run")
                km.kill_group()
                cell.outputs = list(cell.get("outputs", [])) + [error_output("CellTimeoutError", stopped)]
            self._hs_job.add_time(_phase(cell), monotonic() - cell_started)
            self._hs_check_memory(cell, index)

    def _hs_death(self, km, cell, index) -> str:
        report, limits = self._hs_report, self._hs_limits
        label = cell_label(cell, index)
        if self._hs_killed_by_watchdog:
            text = f"the notebook ran longer than {limits.timeout:g} s; the kernel was stopped in {label}"
            report.add("timeout", text + " and later cells were not run")
            return text
        status = None
        for _ in range(50):  # the process may take a moment to be reaped
            status = km.exit_status()
            if status is not None:
                break
            threading.Event().wait(0.05)
        log = self._hs_job.kernels.log_tail(km)
        if status == -signal.SIGXCPU:
            text, kind = f"the kernel used up its CPU time in {label}", "timeout"
        elif status == -signal.SIGXFSZ:
            text, kind = f"the kernel wrote more than {limits.file_bytes // MiB} MiB in {label}", "output_limit"
        elif MEMORY_PATTERN.search(log):
            text, kind = f"the kernel ran out of memory in {label} and died", "memory"
        else:
            text, kind = f"{describe_exit(status)} in {label}", "kernel_died"
        report.add(kind, text + "; later cells were not run")
        return text

    def _hs_check_memory(self, cell, index) -> None:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and MEMORY_PATTERN.search(
                    f"{output.get('ename', '')}: {output.get('evalue', '')}"):
                self._hs_report.add("memory", f"{cell_label(cell, index)} hit the memory limit "
                                              f"({self._hs_limits.memory_bytes / GiB:g} GiB)")
                return

    # --------------------------------------------------------------- nbclient hooks

    async def _async_handle_timeout(self, timeout, cell=None):
        index = next((i for i, c in enumerate(self.nb.cells) if c is cell), None)
        label = cell_label(cell, index) if cell is not None and index is not None else "a cell"
        if self._hs_deadline - monotonic() <= 1:
            text = f"{label} was interrupted at the notebook's time limit of {self._hs_limits.timeout:g} s"
        else:
            text = f"{label} ran longer than {timeout} s and was interrupted"
        self._hs_report.add("timeout", text)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        limits = self._hs_limits
        if msg.get("msg_type") == "error":  # never dropped: an error is what makes a test score zero
            return super().output(outs, msg, display_id, cell_index)
        size = self._hs_output_bytes.get(cell_index, 0) + _message_size(msg.get("content", {}))
        self._hs_output_bytes[cell_index] = size
        if size <= limits.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        cell = self.nb.cells[cell_index]
        label = cell_label(cell, cell_index)
        if size - _message_size(msg.get("content", {})) <= limits.max_output_bytes:
            outs.append(stdout_output(f"\n... output cut: more than {limits.max_output_bytes // MiB} MiB ...\n"))
            self._hs_report.add("output_limit", f"{label} printed more than "
                                                f"{limits.max_output_bytes // MiB} MiB; the rest was cut")
        if size > limits.output_interrupt_bytes and cell_index not in self._hs_interrupted:
            self._hs_interrupted.add(cell_index)
            self._hs_report.add("output_limit", f"{label} kept printing past "
                                                f"{limits.output_interrupt_bytes // MiB} MiB and was interrupted")
            try:
                self.km.provisioner.process.send_signal(signal.SIGINT)
            except Exception:  # noqa: BLE001 - the kernel may be gone already
                pass
        return None
