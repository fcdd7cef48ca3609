"""A kernel template: one warm process per worker that forks a fresh kernel for every notebook.

Starting a kernel the usual way costs seconds of CPU: a new Python, ipykernel, and the notebook's
``import torch``. The template (a "zygote") pays that once: it imports ipykernel and the preload
modules, creates no thread, no socket and no IPython shell, and then, for each request, forks.
The child becomes the kernel: a new session, its own resource limits, working folder,
environment and log, and then ``IPKernelApp`` starts in it exactly as ``ipykernel_launcher``
would. No student code has ever run in the template, so every kernel starts from the same clean
state as a freshly started one (the imported modules excepted, which is the point).

Protocol, one JSON object per line: the worker writes requests to the template's stdin
(``{"connection_file", "cwd", "env", "log", "arguments"}``, and ``"isolate"`` when the template
runs in a sandbox: see :meth:`grader.integrity.sandbox.SandboxKernelLauncher.fork_request`); the template answers on stdout with
``{"pid": N}`` (or ``{"error": ...}``), and reports every child that ends as
``{"exited": N, "status": S}`` (S negative for a signal, like ``Popen.returncode``). It says
``{"ready": true}`` once warm, or ``{"ready": false, "reason": ...}`` if it cannot fork safely
(e.g. an import started a thread), in which case the worker starts kernels the usual way.

Run as ``python -m grader.grading.zygote [--preload MODULE ...] [--as N] [--cpu S] [--fsize N]``,
itself through the worker's kernel launcher (so a sandbox wraps the template and all its kernels).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import resource
import signal
import sys

from grader.grading.limits import apply as apply_limits

PR_SET_PDEATHSIG = 1


def _write(fd: int, message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _set_parent_death_signal(signum: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _child(request: dict, limits: dict, template_pid: int, protocol_fds: tuple[int, int]) -> None:
    """In the forked child: become the kernel. Never returns."""
    try:
        os.setsid()
        _set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != template_pid:
            os._exit(1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        apply_limits(limits)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        if request.get("isolate"):  # in a sandbox: a sandbox of its own for this kernel, then drop privileges
            from grader.integrity.confine import isolate

            box = request["isolate"]
            isolate(box["uid"], box["tmp_bytes"], limits=box.get("limits"), own=box["own"], shared=box["shared"])
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in (log, null, *protocol_fds):
            if fd > 2:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        arguments = ["-f", request["connection_file"], *request.get("arguments", [])]
        sys.argv = ["ipykernel_launcher", *arguments]
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=arguments)
        os._exit(0)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException:  # noqa: BLE001 - report to the log and end the child, never return to the loop
        import traceback

        traceback.print_exc()
        os._exit(1)


def main(argv=None) -> int:  # noqa: C901
    parser = argparse.ArgumentParser(prog="python -m grader.grading.zygote")
    parser.add_argument("--preload", action="append", default=[])
    parser.add_argument("--as", dest="address_space", type=int)
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--fsize", type=int)
    args = parser.parse_args(argv)
    limits = {}
    if args.address_space:
        limits[resource.RLIMIT_AS] = args.address_space
    if args.cpu:
        limits[resource.RLIMIT_CPU] = args.cpu
    if args.fsize:
        limits[resource.RLIMIT_FSIZE] = args.fsize

    requests_fd, replies_fd = os.dup(0), os.dup(1)  # the protocol; 0 and 1 go to /dev/null and stderr
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    _set_parent_death_signal(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ipykernel.kernelapp  # noqa: F401 - the import is the point
        for module in args.preload:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - a kernel will report the import error itself
                print(f"zygote: cannot preload {module}: {exc}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001
        _write(replies_fd, {"ready": False, "reason": f"import failed: {exc}"})
        return 1
    if _threads() != 1:
        _write(replies_fd, {"ready": False, "reason": f"{_threads()} threads after the imports; forking is unsafe"})
        return 1

    template_pid = os.getpid()

    def reap(signum, frame):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _write(replies_fd, {"exited": pid, "status": code})

    signal.signal(signal.SIGCHLD, reap)
    _write(replies_fd, {"ready": True, "pid": template_pid})
    requests = os.fdopen(requests_fd, "r", encoding="utf-8")
    while True:
        line = requests.readline()
        if not line:
            return 0
        try:
            request = json.loads(line)
        except ValueError:
            _write(replies_fd, {"error": "malformed request"})
            continue
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                _child(request, limits, template_pid, (requests_fd, replies_fd))
            _write(replies_fd, {"pid": pid})
        except OSError as exc:
            _write(replies_fd, {"error": f"fork failed: {exc}"})
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


if __name__ == "__main__":
    sys.exit(main())
