"""A kernel template: one warm process per worker that forks a fresh kernel for every notebook.

Starting a kernel the usual way costs seconds of CPU: a new Python, ipykernel, and the notebook's
``import torch``. The template (a "zygote") pays that once: it imports ipykernel and the preload
modules, creates no thread, no socket and no IPython shell, and then, for each request, forks.
The child becomes the kernel: a new session, its own resource limits, working folder,
environment and log, and then ``IPKernelApp`` starts in it exactly as ``ipykernel_launcher``
would. No student code has ever run in the template, so every kernel starts from the same clean
state as a freshly started one (the imported modules excepted, which is the point).

The template is a fork server (:mod:`grader.sandbox.forkserver`: its protocol, forking, reaping,
the children's sessions and death signal); this module gives it the preload and the child
function. A request is ``{"connection_file", "cwd", "env", "log", "arguments"}``, and
``"isolate"`` when the template runs in a sandbox (see
:meth:`grader.sandbox.kernel_launcher.SandboxKernelLauncher.fork_request`). If the template cannot fork
safely (e.g. an import started a thread), the worker starts kernels the usual way.

Run as ``python -m grader.grading.zygote [--preload MODULE ...] [--as N] [--cpu S] [--fsize N]``,
itself through the worker's kernel launcher (so a sandbox wraps the template and all its kernels).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import resource
import sys

from grader.sandbox.limits import apply as apply_limits
from grader.sandbox import forkserver


def _preload(modules: list[str]) -> None:
    """ipykernel (the template is not ready without it) and ``modules`` (a kernel reports their errors itself)."""
    import ipykernel.kernelapp  # noqa: F401 - the import is the point
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a kernel will report the import error itself
            print(f"zygote: cannot preload {module}: {exc}", file=sys.stderr)


def _redirect(log: int) -> None:
    """stdin from ``/dev/null``; stdout and stderr to the kernel's log (open on ``log``)."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for fd in (log, null):
        if fd > 2:
            os.close(fd)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


def start_kernel(request: dict, limits: dict) -> None:
    """In the forked child (see :func:`grader.sandbox.forkserver.serve`): become the kernel."""
    apply_limits(limits)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # while it may (before isolate)
    if request.get("isolate"):  # in a sandbox: a sandbox of its own for this kernel, then drop privileges
        from grader.sandbox.confine import isolate

        box = request["isolate"]
        isolate(box["uid"], box["tmp_bytes"], limits=box.get("limits"), own=box["own"], shared=box["shared"])
    _redirect(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    arguments = ["-f", request["connection_file"], *request.get("arguments", [])]
    sys.argv = ["ipykernel_launcher", *arguments]
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=arguments)


def _limits(args) -> dict:
    """The resource limits of every kernel (``resource`` constant -> value) from the command line."""
    chosen = {resource.RLIMIT_AS: args.address_space, resource.RLIMIT_CPU: args.cpu,
              resource.RLIMIT_FSIZE: args.fsize}
    return {which: value for which, value in chosen.items() if value}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.grading.zygote")
    parser.add_argument("--preload", action="append", default=[])
    parser.add_argument("--as", dest="address_space", type=int)
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--fsize", type=int)
    args = parser.parse_args(argv)
    return forkserver.serve(functools.partial(start_kernel, limits=_limits(args)),
                            preload=functools.partial(_preload, args.preload))


if __name__ == "__main__":
    sys.exit(main())
