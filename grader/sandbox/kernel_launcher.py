"""The notebook's kernels in sandboxes: a :class:`grader.grading.kernels.KernelLauncher` for bubblewrap."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from .bubblewrap import BIN, LIB, LIMITS_SCRIPT, ResourceLimits, Sandbox, SandboxError, fresh_uid, make_private_dir, \
    python_in_sandbox
from .library import build_lib


class SandboxKernelLauncher:
    """A :class:`grader.grading.kernels.KernelLauncher` that starts the notebook's kernels in sandboxes.

    Every kernel gets the ``"kernel"`` library (a ``grader.checks`` whose ``check`` only prints a
    receipt: its test cells decide nothing, the trusted verification does) and talks to the grader
    over ZeroMQ *IPC* sockets in a folder of its own (a TCP port on the loopback of its empty
    network namespace would be unreachable). :meth:`prepare` gives the kernel manager that folder
    and the ``ipc`` transport; once the kernel's sockets exist the folder is made read-only
    (root-owned), so the kernel cannot store anything on the host. Two ways to start kernels:

    * a kernel started as a process: :meth:`wrap` puts a sandbox of its own around it;
    * a kernel *template* (``grader.grading.zygote``, which forks kernels): :meth:`wrap` puts one
      sandbox around the template, which keeps ``CAP_SYS_ADMIN``/``CAP_SETUID``/``CAP_SETGID``
      (it never runs student code), and :meth:`fork_request` asks it to give each forked kernel a
      sandbox of its own before it starts (:func:`.confine.isolate`: its own mount namespace, a
      fresh ``/tmp``, only its own socket folder, limits, a fresh user without capabilities). The
      template's PID namespace hides the host's processes, so :meth:`host_pid` maps the pids it
      reports to the host's.
    """

    def __init__(self, limits: ResourceLimits | None = None, protect=(), base: str | None = None):
        self.limits = limits or ResourceLimits(memory_bytes=None, cpu_seconds=None, file_bytes=None)
        self.protect = list(protect)
        self.base = base
        self._current: tuple[Path, int] | None = None

    def __getstate__(self):  # sent to worker processes: only the settings
        return {"limits": self.limits, "protect": self.protect, "base": self.base, "_current": None}

    def _base(self) -> Path:
        if not self.base or not os.path.isdir(self.base):
            self.base = str(make_private_dir(prefix="hidden-state-kernels-", mode=0o755))
            atexit.register(shutil.rmtree, self.base, True)
        return Path(self.base)

    def prepare(self, km) -> None:
        """Give ``km`` (a jupyter_client kernel manager, before ``start_kernel``) its socket folder."""
        uid = fresh_uid()
        folder = make_private_dir(self._base(), prefix="kernel-", mode=0o777)
        km.transport = "ipc"
        km.ip = str(folder / "ipc")
        km.cache_ports = False
        self._current = (folder, uid)
        km._hs_sandbox_folder = folder
        km._hs_sandbox_uid = uid

    def environment(self, env: dict) -> dict:
        keep = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "MPLBACKEND",
                "NBGRADER_EXECUTION", "PYDEVD_DISABLE_FILE_VALIDATION"}
        out = {key: value for key, value in env.items() if key in keep}
        out.update(Sandbox(env=out).environment())
        out["PYTHONPATH"] = LIB
        return out

    @staticmethod
    def _inside(command: list[str]) -> list[str]:
        """The command with the host's interpreter and limits script replaced by their paths inside."""
        command = list(command)
        limits_script = str(LIMITS_SCRIPT)
        for index, arg in enumerate(command):
            if arg == sys.executable or arg == os.path.realpath(sys.executable):
                command[index] = python_in_sandbox()
            elif arg == limits_script:
                command[index] = f"{BIN}/limits.py"
        return command

    def wrap(self, command: list[str]) -> list[str]:
        if "grader.grading.zygote" in command:
            return self._wrap_template(command)
        if self._current is None:
            raise SandboxError("SandboxKernelLauncher.prepare(km) was not called before the kernel started")
        folder, uid = self._current
        self._current = None
        command = self._inside(command)
        if "-f" in command:
            at = command.index("-f") + 1
            connection = folder / "connection.json"
            shutil.copyfile(command[at], connection)
            os.chmod(connection, 0o644)
            command[at] = str(connection)
        box = Sandbox(rw=[(str(folder), str(folder))], lib=build_lib("kernel"), limits=self.limits, uid=uid,
                      protect=self.protect)
        threading.Thread(target=_lock_when_bound, args=(folder,), daemon=True).start()
        return box.command(command)

    def _wrap_template(self, command: list[str]) -> list[str]:
        from .confine import HOLD, OLD_TMP

        shared = self._base()
        limits = ResourceLimits(memory_bytes=self.limits.memory_bytes, cpu_seconds=None, file_bytes=None, processes=None,
                        open_files=self.limits.open_files, tmp_bytes=self.limits.tmp_bytes)
        box = Sandbox(rw=[(str(shared), str(shared))], lib=build_lib("template"), limits=limits, uid=None,
                      protect=self.protect, caps=("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"),
                      dirs=[HOLD, OLD_TMP])
        self._current = None
        return box.command(self._inside(command))

    def fork_request(self, km, request: dict) -> dict:
        """The template's request to fork ``km``'s kernel, with the sandbox it must give it."""
        folder, uid = km._hs_sandbox_folder, km._hs_sandbox_uid
        self._current = None
        connection = folder / "connection.json"
        shutil.copyfile(request["connection_file"], connection)
        os.chmod(connection, 0o644)
        log = folder / "kernel.log"
        log.touch()
        km.log_path = log
        threading.Thread(target=_lock_when_bound, args=(folder,), daemon=True).start()
        return {**request, "connection_file": str(connection), "log": str(log), "cwd": "/tmp",
                "env": self.environment(dict(request.get("env") or {})),
                "isolate": {"uid": uid, "tmp_bytes": self.limits.tmp_bytes, "own": str(folder),
                            "shared": str(self._base()), "limits": self.limits.options()}}

    @staticmethod
    def host_pid(template_pid: int, inner_pid: int) -> int | None:
        """The host's pid of the process the template (started as ``template_pid``) calls ``inner_pid``."""
        return host_pid(template_pid, inner_pid)

    def release(self, km) -> None:
        folder = getattr(km, "_hs_sandbox_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def host_pid(outer_pid: int, inner_pid: int) -> int | None:
    """The host pid of the process numbered ``inner_pid`` inside the PID namespace that bubblewrap,
    started as ``outer_pid``, created (``None`` if there is no such process any more)."""
    try:
        namespaces = {os.readlink(f"/proc/{child}/ns/pid") for child in _children(outer_pid)}
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as handle:
                line = next((l for l in handle if l.startswith("NSpid:")), "")
            levels = line.split()[1:]
            if len(levels) >= 2 and int(levels[-1]) == inner_pid and \
                    os.readlink(f"/proc/{entry}/ns/pid") in namespaces:
                return int(entry)
        except (OSError, ValueError, StopIteration):
            continue
    return None


def _lock_when_bound(folder: Path, sockets: int = 5, timeout: float = 120.0) -> None:
    """Once the kernel has bound its sockets in ``folder``, make the folder read-only for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sum(1 for p in folder.iterdir() if p.name.startswith("ipc-")) >= sockets:
                break
        except OSError:
            return
        time.sleep(0.05)
    try:
        os.chmod(folder, 0o755)
    except OSError:
        pass
