"""A grading run's process tree lives and dies as one, and the workspace lock is held until it is gone.

The tree: the coordinator (``python -m grader grade``) → multiprocessing's fork server → the
workers → their kernel templates, kernels, sandboxes and verification runners. Linux's
parent-death signal follows a process's *parent*, and a worker's parent is the fork server, not
the coordinator; a killed coordinator used to leave its workers grading on for seconds, racing a
run started at once in the same workspace. So each worker:

* **follows the coordinator itself**: a thread waits on a ``pidfd`` of the coordinator (readable
  the instant it exits, even by ``SIGKILL``) and then ends the worker's whole tree;
* **is a child subreaper** (``PR_SET_CHILD_SUBREAPER``): a descendant whose parent dies (a
  kernel whose template was killed, a process inside a sandbox) is re-parented to the worker,
  not to init, so :func:`end_descendants` finds and kills *every* descendant before the worker
  exits, on any exit path (the coordinator's death, SIGTERM, a normal stop);
* **holds the workspace lock**: it gets a duplicate of the coordinator's locked file descriptor
  (the same open file description, so the same ``flock``), which the kernel releases only when
  the last process holding it has exited. A new run therefore cannot take the lock while any
  worker of the old run, or (because workers end their descendants, and wait for the fork
  server, first) anything they started, is alive; :meth:`grader.grading.workspace.Workspace.open` waits for that, and clears
  what is left after a grace period.

The parent-death signals of the templates and kernels (``SIGKILL``) stay as a second line.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process this user can see (zombies included)."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first, then theirs), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue += children.get(child, [])
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def end_descendants(timeout: float = 10.0) -> bool:
    """SIGKILL every descendant of this process until none is left (or ``timeout``); True if none is.

    A subreaper (see :func:`follow`) inherits the orphans of what it kills, and reaps them here, so
    repeating the sweep reaches processes whose own parent was killed in an earlier sweep.
    """
    deadline = time.monotonic() + timeout
    while True:
        _reap()
        alive = [pid for pid in descendants(os.getpid()) if not _is_zombie(pid)]
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        kill_all(alive)
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def _wait_for_exit(pid: int) -> None:
    """Return when process ``pid`` has ended (at once if it is gone already)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (OSError, AttributeError):  # no pidfd (old kernel): poll
        while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
            time.sleep(0.2)
        return
    try:
        select.select([descriptor], [], [])
    finally:
        os.close(descriptor)


def _end(pid: int, grace: float = 5.0) -> None:
    """Wait up to ``grace`` seconds for process ``pid`` to exit, then SIGKILL it and wait."""
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        kill_all([pid])
        _wait_for_exit(pid)


def follow(coordinator: int, fork_server: int | None = None) -> None:
    """Make this worker die, with everything it started, the moment process ``coordinator`` ends.

    ``fork_server`` is the process that forked this worker when it is not the coordinator
    (multiprocessing's fork server): the worker waits for it (and kills it after a grace period)
    before it exits, so the lock it holds outlives the fork server too.
    """
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the fork server's death too (it follows the coordinator)
    if fork_server in (coordinator, 1):
        fork_server = None  # forked by the coordinator itself, or already orphaned

    def watch():
        _wait_for_exit(coordinator)
        end_descendants()
        if fork_server is not None:
            _end(fork_server)  # it ends on its own at the coordinator's death; the lock outlives it
        os._exit(1)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


class InheritedFd:
    """An open file descriptor handed to a multiprocessing child as the *same* open file description
    (so a ``flock`` on it is shared); pickling it is only possible while a child is being started."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        from multiprocessing.reduction import DupFd

        return _rebuild_fd, (DupFd(self.fd),)


def _rebuild_fd(duplicate) -> InheritedFd:
    return InheritedFd(duplicate.detach())


def holders(path: Path) -> list[int]:
    """The processes (of those this user may inspect) that have ``path`` open."""
    target = os.stat(path)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        with fds:
            for fd in fds:
                try:
                    info = os.stat(fd.path)
                except OSError:
                    continue
                if (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino):
                    found.append(int(entry.name))
                    break
    return found


def alive(pid: int) -> bool:
    return pid > 0 and Path(f"/proc/{pid}").exists() and not _is_zombie(pid)
