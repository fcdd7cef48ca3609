"""The sandboxed runner processes, and how the trusted side talks to them.

A runner (:mod:`.runner`, inside a sandbox) runs one job: the trusted side writes the plan and each
part's cases in the job's folder (:meth:`RunnerProcess.write_job`), says ``go``, and reads what the
runner sends back as events on a queue (:mod:`.frames`: ``("frame", header, payloads)``,
``("corrupt", why)``, ``("overflow", why)`` and, last, ``("eof", None)``); :mod:`.job` makes sense
of them. Everything a runner sends is untrusted.

* :class:`RunnerProcess`: one sandboxed interpreter per job, started (importing torch) ahead of time;
* :class:`RunnerTemplate`: one warm sandboxed process that forks a runner per job;
* :class:`ForkedRunner`: such a forked runner, with the same events as a :class:`RunnerProcess`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.sandbox import bubblewrap, confine
from grader.sandbox.exits import describe_status
from grader.sandbox.forkserver import ForkServer
from grader.sandbox.library import build_lib

from .frames import read_frames

if TYPE_CHECKING:
    from .verify import VerifySettings

BOOT = "import sys; sys.path.insert(0, {lib!r}); from grader.integrity.runner import main; main()"
TEMPLATE_BOOT = ("import sys; sys.path.insert(0, {lib!r}); from grader.integrity.runner import template_main; "
                 "sys.exit(template_main())")
RUNNER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
              "MPLBACKEND": "Agg"}


class RunnerProcess:
    """One runner, started (and importing torch) before it is given a job."""

    def __init__(self, settings: VerifySettings, base: Path):
        self.settings = settings
        self.job = bubblewrap.make_private_dir(base, prefix="job-", mode=0o755)
        self.events: queue.Queue = queue.Queue()
        self.stderr = b""
        read_fd, write_fd = os.pipe()
        command, environment = self._command(write_fd)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, pass_fds=(write_fd,), env=environment,
                                            start_new_session=True, cwd=str(self.job))
        finally:
            os.close(write_fd)
        self._channel = os.fdopen(read_fd, "rb", buffering=0)
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _command(self, write_fd: int) -> tuple[list, dict]:
        """The command line and environment of a runner sending its frames on ``write_fd``: in a
        sandbox, or (where allowed) only confined by :mod:`grader.sandbox.confine`'s limits."""
        settings = self.settings
        lib = build_lib("runner")
        env = dict(RUNNER_ENV)
        if settings.sandboxed:
            box = bubblewrap.Sandbox(ro=[(str(self.job), "/job")], lib=lib, limits=settings.limits, env=env,
                                  protect=settings.protect)
            command = box.command([bubblewrap.python_in_sandbox(), "-I", "-c", BOOT.format(lib=bubblewrap.LIB), "/job",
                                   str(write_fd)])
            return command, box.environment()
        options = [o for o in settings.limits.confine_options() if not o.startswith("--nproc")]
        command = [sys.executable, "-I", "-S", str(bubblewrap.CONFINE), *options, "--",
                   sys.executable, "-I", "-c", BOOT.format(lib=lib), str(self.job), str(write_fd)]
        return command, {**bubblewrap.Sandbox(env=env).environment(), "HOME": str(self.job)}

    def _read_frames(self) -> None:
        read_frames(self._channel, self.settings.max_output_bytes, self.events)

    def _read_stderr(self) -> None:
        try:
            while True:
                chunk = self.process.stderr.read(4096)
                if not chunk:
                    break
                self.stderr = (self.stderr + chunk)[-16384:]
        except (OSError, ValueError):
            pass

    def next_event(self, timeout: float):
        try:
            return self.events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def wait_ready(self, timeout: float) -> str | None:
        """``None`` once the runner is ready, else why it is not."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(deadline - time.monotonic())
            if event is None:
                self.kill()
                return f"the sandboxed runner did not start within {timeout:g} s"
            if event[0] == "frame" and event[1].get("kind") == "ready":
                return None
            if event[0] in ("eof", "corrupt", "overflow"):
                self.kill()
                detail = self.stderr.decode("utf-8", "replace").strip().splitlines()
                return "the sandboxed runner failed to start" + (f": {detail[-1][:300]}" if detail else "")

    def write_job(self, plan: dict, bundles: dict, keep=()) -> None:
        """Put the plan and each part's cases in the job folder, readable by the sandboxed user."""
        for name, (json_bytes, npz_bytes) in bundles.items():
            (self.job / f"{name}.npz").write_bytes(npz_bytes)
            (self.job / f"{name}.json").write_bytes(json_bytes)
        (self.job / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        for path in self.job.iterdir():
            if path.name not in keep:
                os.chmod(path, 0o644)

    def start(self, plan: dict, bundles: dict) -> None:
        self.write_job(plan, bundles)
        try:
            self.process.stdin.write(b"go\n")
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def exit_description(self) -> str:
        try:
            status = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            status = self.process.wait()
        if status is None:
            return "it stopped responding"
        if self.settings.sandboxed and status > 128:  # bubblewrap reports death by signal N as 128 + N
            status = 128 - status
        return describe_status(status)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.kill()
        except OSError:
            pass

    def close(self) -> None:
        self.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stderr, self._channel):
            try:
                stream.close()
            except (OSError, AttributeError, ValueError):
                pass
        shutil.rmtree(self.job, ignore_errors=True)


class RunnerTemplate:
    """One sandboxed process per verifier that has imported torch and the checks, and forks one runner per job.

    Each child makes a sandbox of its own before any student code runs (:func:`.confine.isolate`:
    its own mount namespace, a fresh private ``/tmp``, only its own job folder, limits, a fresh
    unprivileged user), so jobs cannot see one another; the template itself never runs student
    code. It saves every notebook the runner's start-up (a new interpreter importing torch).
    """

    def __init__(self, settings: VerifySettings, base: Path):
        self.settings = settings
        self.jobs = base / "jobs"
        self.jobs.mkdir(mode=0o755, exist_ok=True)
        os.chmod(self.jobs, 0o755)
        lib = build_lib("runner")
        limits = bubblewrap.ResourceLimits(memory_bytes=settings.limits.memory_bytes, cpu_seconds=None, file_bytes=None,
                                processes=None, open_files=settings.limits.open_files,
                                tmp_bytes=settings.limits.tmp_bytes)
        box = bubblewrap.Sandbox(ro=[(str(self.jobs), "/jobs")], lib=lib, limits=limits, env=dict(RUNNER_ENV),
                              protect=settings.protect, uid=None, dirs=["/job", confine.OLD_TMP],
                              caps=("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"))
        command = box.command([bubblewrap.python_in_sandbox(), "-I", "-c", TEMPLATE_BOOT.format(lib=bubblewrap.LIB),
                               "/jobs"])
        self.server = ForkServer(command, box.environment(), name="runner template")

    def wait_ready(self, timeout: float) -> bool:
        return self.server.wait_ready(timeout)

    @property
    def problem(self) -> str:
        return self.server.problem

    @property
    def alive(self) -> bool:
        return self.server.alive

    def spawn(self, child: "ForkedRunner", request: dict) -> int:
        return self.server.spawn(request, on_exit=child.ended)

    def kill(self, pid: int) -> None:
        self.server.kill(pid)

    def close(self) -> None:
        self.server.close(grace=2.0)


class ForkedRunner(RunnerProcess):
    """A runner forked by a :class:`RunnerTemplate`: the same events as a :class:`RunnerProcess`, from a FIFO."""

    def __init__(self, settings: VerifySettings, template: RunnerTemplate):
        self.settings = settings
        self.template = template
        self.job = bubblewrap.make_private_dir(template.jobs, prefix="job-", mode=0o755)
        self.events = queue.Queue()
        self.stderr = b""
        self.pid: int | None = None
        self.status: int | None | str = "running"
        self._ended = threading.Event()
        channel = self.job / "channel"
        os.mkfifo(channel, 0o622)
        os.chmod(channel, 0o622)
        self._read_fd = os.open(channel, os.O_RDONLY | os.O_NONBLOCK)
        self._keep_open = os.open(channel, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before the child has written
        os.set_blocking(self._read_fd, True)
        self._channel = os.fdopen(self._read_fd, "rb", buffering=0)
        self.process = None

    def wait_ready(self, timeout: float) -> str | None:
        return None

    def start(self, plan: dict, bundles: dict) -> None:
        self.write_job(plan, bundles, keep=("channel",))
        threading.Thread(target=self._read_frames, daemon=True).start()
        request = {"job": self.job.name, "uid": bubblewrap.fresh_uid(), "tmp_bytes": self.settings.limits.tmp_bytes,
                   "limits": self.settings.limits.options()}
        try:
            self.pid = self.template.spawn(self, request)
        except (RuntimeError, OSError, ValueError) as exc:
            self.stderr = str(exc).encode()
            self.ended(None)

    def ended(self, status) -> None:
        """Called when the child has ended (``None``: the template died, or it never started)."""
        self.status = status
        self._ended.set()
        try:
            os.close(self._keep_open)  # the reader now sees the end of the data
        except OSError:
            pass

    def exit_description(self) -> str:
        if not self._ended.wait(10):
            self.kill()
            self._ended.wait(10)
        status = self.status
        if status is None or status == "running":
            return "its sandbox ended"
        if status in (70, 71):  # see grader.integrity.runner._child
            return "its sandbox could not be set up"
        return describe_status(status)

    def kill(self) -> None:
        if self.pid is not None and not self._ended.is_set():
            self.template.kill(self.pid)

    def close(self) -> None:
        self.kill()
        self._ended.wait(10)
        try:
            self._channel.close()
        except OSError:
            pass
        if not self._ended.is_set():
            self.ended(None)
        shutil.rmtree(self.job, ignore_errors=True)
