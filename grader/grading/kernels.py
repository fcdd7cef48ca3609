"""Kernels for grading: how one is launched (the sandbox seam) and a per-worker supply of fresh ones.

Every notebook is executed in a kernel of its own, started for it and killed after it: student
code never sees another submission's interpreter. Two things keep that cheap:

* **preloading**: the kernel imports the heavy modules (``torch``, the course's checks) while it
  starts, through ``IPKernelApp.exec_lines`` that bind no name in the user namespace; the
  notebook's own ``import torch`` then costs nothing, and no student code has run before it;
* **prelaunching**: a worker starts the kernel for its *next* notebook while it grades the
  current one, so kernel start-up overlaps with grading.

The seam for a sandbox is :class:`KernelLauncher`: it turns the kernel command jupyter_client
builds (``python -m ipykernel_launcher -f CONNECTION_FILE ...``) into the command actually run.
:class:`LimitedLauncher` prefixes the resource-limit wrapper (:mod:`grader.sandbox.limits`); a
bubblewrap launcher would return ``["bwrap", ..., "--", *limited_command]``. The grader talks to
the kernel only through the connection file's ZeroMQ sockets and signals its process group.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import Any as AnyTrait

from grader.sandbox.bubblewrap import LIMITS_SCRIPT, ResourceLimits
from grader.sandbox.forkserver import ForkServer

from . import lifeline



class KernelLauncher:
    """How a kernel process is started. The default runs the command as jupyter_client built it.

    A sandbox overrides the three hooks: ``prepare(km)`` with the kernel manager of every kernel
    before it starts (e.g. to choose the ``ipc`` transport and where its sockets go),
    ``environment(env)`` for the variables a kernel gets, and ``wrap(command)`` for the command of
    every process started: a kernel started as a new process, or a kernel template (whose forked
    kernels then live inside whatever ``wrap`` put around it).
    """

    def prepare(self, km) -> None:
        return None

    def wrap(self, command: list[str]) -> list[str]:
        return list(command)

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return env

    def fork_request(self, km, request: dict) -> dict:
        """The request a kernel template gets to fork ``km``'s kernel (a sandbox adds its isolation)."""
        return request

    def host_pid(self, template_pid: int, pid: int) -> int | None:
        """This machine's id of the process the template reports as ``pid`` (they differ in a PID namespace)."""
        return pid

    def release(self, km) -> None:
        """Clean up after ``km``'s kernel has ended (e.g. its socket folder)."""
        return None


@dataclass
class LimitedLauncher(KernelLauncher):
    """Start the kernel through :mod:`grader.sandbox.limits` with memory, CPU and file-size limits."""

    memory_bytes: int | None = None
    cpu_seconds: int | None = None
    file_bytes: int | None = None
    inner: KernelLauncher = field(default_factory=KernelLauncher)

    @classmethod
    def of(cls, resources: ResourceLimits, **kw) -> "LimitedLauncher":
        return cls(memory_bytes=resources.memory_bytes, cpu_seconds=resources.cpu_seconds,
                   file_bytes=resources.file_bytes, **kw)

    def resources(self) -> ResourceLimits:
        return ResourceLimits(memory_bytes=self.memory_bytes, cpu_seconds=self.cpu_seconds, file_bytes=self.file_bytes,
                              processes=None, open_files=None)

    def wrap(self, command: list[str]) -> list[str]:
        options = self.resources().confine_options()
        return self.inner.wrap([sys.executable, "-I", "-S", str(LIMITS_SCRIPT), *options, "--", *command])

    def prepare(self, km) -> None:
        self.inner.prepare(km)

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return self.inner.environment(env)

    def fork_request(self, km, request: dict) -> dict:
        return self.inner.fork_request(km, request)

    def host_pid(self, template_pid: int, pid: int) -> int | None:
        return self.inner.host_pid(template_pid, pid)

    def release(self, km) -> None:
        self.inner.release(km)


class GradingKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager, with the launch command passed through a :class:`KernelLauncher`,
    or the kernel forked from a :class:`Zygote` (then ``zygote`` is set)."""

    launcher = AnyTrait(None, allow_none=True)
    zygote = AnyTrait(None, allow_none=True)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        return self.launcher.wrap(command) if self.launcher is not None else command

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.zygote is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        env = dict(kw.get("env") or {})
        env["JPY_PARENT_PID"] = str(self.zygote.pid)  # ipykernel exits if the template dies
        request = {"connection_file": self.connection_file, "cwd": str(kw.get("cwd") or os.getcwd()),
                   "env": env, "log": str(self.log_path or os.devnull), "arguments": list(self.kernel_arguments)}
        launcher = self.launcher if self.launcher is not None else KernelLauncher()
        inner_pid = self.zygote.spawn(launcher.fork_request(self, request))
        pid = launcher.host_pid(self.zygote.pid, inner_pid)
        if pid is None:
            raise RuntimeError(f"the kernel the template forked (pid {inner_pid} inside) is gone already")
        provisioner = self.provisioner
        provisioner.process = ZygoteChild(pid, self.zygote, inner_pid)
        provisioner.pid = provisioner.pgid = pid  # the child leads its own session
        self._reconcile_connection_info(provisioner.connection_info)

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return process.pid if process is not None else None

    def exit_status(self) -> int | None:
        """The kernel's exit status if it has ended (negative: killed by that signal), else None."""
        process = getattr(getattr(self, "provisioner", None), "process", None)
        return None if process is None else process.poll()

    def kill_group(self) -> None:
        """SIGKILL the kernel and everything it started in its process group (it leads its own session)."""
        pid = self.pid
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class ZygoteUnavailable(RuntimeError):
    """The kernel template could not start (or cannot fork safely); kernels are started the usual way."""


class Zygote(ForkServer):
    """The worker's end of a kernel template process (:mod:`grader.grading.zygote`), started and warm."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, start_timeout: float = 180.0):
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            super().__init__(command, env, name="kernel template", stderr=log, cwd=str(self.log_path.parent))
        if not self.wait_ready(start_timeout):
            raise ZygoteUnavailable(f"the kernel template did not start: {self.problem}")


class ZygoteChild:
    """What jupyter_client's provisioner needs of a ``Popen`` object, for a kernel forked by a :class:`Zygote`."""

    def __init__(self, pid: int, zygote: Zygote, template_pid: int | None = None):
        self.pid = pid  # this machine's process id
        self.template_pid = pid if template_pid is None else template_pid  # the id the template knows it by
        self.zygote = zygote
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.status(self.template_pid)
            if self.returncode is None and not self.zygote.alive and not lifeline.alive(self.pid):
                self.returncode = -signal.SIGKILL  # its template died, and it with it
                try:  # a worker is a subreaper (see lifeline): the orphan's zombie is ours to reap
                    os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


# The kernel's environment: these variables of the grader's own, plus KernelSettings.env; the
# rest (tokens, credentials, ...) stays out of reach of student code.
KEPT_ENVIRONMENT = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
                    "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "PYTHONPATH"}


def preload_lines(modules: list[str]) -> list[str]:
    """``exec_lines`` importing ``modules`` without leaving a name in the user namespace."""
    return [f"import {module} as _hs_preloaded; del _hs_preloaded" for module in modules]


@dataclass
class KernelSettings:
    """How kernels are started: launcher, preloaded modules, environment, where their stdout goes."""

    launcher: KernelLauncher = field(default_factory=KernelLauncher)
    kernel_name: str = "python3"
    preload: list[str] = field(default_factory=list)
    # Imported by a kernel template only: too slow to import in every fresh kernel, free once forked.
    # (torch._dynamo: the first torch.optim optimizer of a notebook imports it, 1.5 s of CPU.)
    template_preload: list[str] = field(default_factory=lambda: ["torch._dynamo"])
    env: dict[str, str] = field(default_factory=dict)  # added to os.environ for the kernel
    log_dir: Path | None = None
    prelaunch: bool = True
    fork: bool = True  # fork kernels from a warm template (falls back to starting them if it cannot)


class KernelSupply:
    """Fresh kernels, one per notebook; the next one is started while the current one is in use."""

    def __init__(self, settings: KernelSettings):
        self.settings = settings
        self._next: GradingKernelManager | None = None
        self._count = 0
        self.live: set[GradingKernelManager] = set()
        self.zygote: Zygote | None = None
        self.zygote_problem: str | None = None
        self.log_dir = Path(settings.log_dir) if settings.log_dir is not None else Path.cwd()

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key in KEPT_ENVIRONMENT or key.startswith("LC_")}
        env.update(self.settings.env)
        return self.settings.launcher.environment(env)

    def _template(self) -> Zygote | None:
        """The kernel template, started on first use (None if forking is off or impossible)."""
        if not self.settings.fork or self.zygote_problem is not None:
            return None
        if self.zygote is not None and self.zygote.alive:
            return self.zygote
        launcher = self.settings.launcher
        command = [sys.executable, "-m", "grader.grading.zygote"]
        command += [f"--preload={module}" for module in [*self.settings.preload, *self.settings.template_preload]]
        if isinstance(launcher, LimitedLauncher) and launcher.cpu_seconds:
            command.append(f"--cpu={int(launcher.cpu_seconds)}")  # for each kernel, not the template
            launcher = dataclasses.replace(launcher, cpu_seconds=None)
        try:
            self.zygote = Zygote(launcher.wrap(command), self._environment(), self.log_dir / f"template-{os.getpid()}.log")
        except (ZygoteUnavailable, OSError) as exc:
            self.zygote, self.zygote_problem = None, str(exc)
        return self.zygote

    def _launch(self) -> GradingKernelManager:
        settings = self.settings
        self._count += 1
        km = GradingKernelManager(kernel_name=settings.kernel_name)
        km.launcher = settings.launcher
        km.zygote = self._template()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        km.connection_file = str(self.log_dir / f"kernel-{os.getpid()}-{self._count}.json")
        km.log_path = self.log_dir / f"kernel-{os.getpid()}-{self._count}.log"
        arguments = ["--HistoryManager.hist_file=:memory:"]
        if km.zygote is None:  # a forked kernel has them imported already
            arguments += [f"--IPKernelApp.exec_lines={line}" for line in preload_lines(settings.preload)]
        km.kernel_arguments = arguments
        settings.launcher.prepare(km)
        with open(km.log_path, "wb") as output:
            run_sync(km.start_kernel)(extra_arguments=arguments, env=self._environment(), stdout=output,
                                      stderr=output, cwd=str(self.log_dir))
        self.live.add(km)
        return km

    def acquire(self, more: bool = True) -> GradingKernelManager:
        """A kernel no code has run in yet (started now, or prelaunched while the last notebook ran).

        ``more``: whether another notebook is expected after this one (then its kernel is started now).
        """
        km, self._next = self._next, None
        if km is None or km.exit_status() is not None:
            if km is not None:
                self.release(km)
            km = self._launch()
        if self.settings.prelaunch and more:
            self._next = self._launch()
        return km

    def release(self, km: GradingKernelManager) -> None:
        """Kill a used kernel (and its process group) and remove its connection file."""
        km.kill_group()
        try:
            process = km.provisioner.process if km.provisioner is not None else None
            if process is not None:
                process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort: the process is SIGKILLed already
            pass
        try:
            km.cleanup_connection_file()
        except Exception:  # noqa: BLE001
            pass
        self.settings.launcher.release(km)
        self.live.discard(km)

    def log_tail(self, km: GradingKernelManager, size: int = 4000) -> str:
        """The end of a kernel's own stdout/stderr (for telling why it died)."""
        path = getattr(km, "log_path", None)
        if not path:
            return ""
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - size))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def shutdown(self) -> None:
        """Kill every kernel this supply started that is still around (the prelaunched one too), and the template."""
        for km in list(self.live):
            self.release(km)
        self._next = None
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
