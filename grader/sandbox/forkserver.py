"""One fork server: a warm process that forks a child per request and runs a given child function in it.

Starting a sandboxed Python that imports torch costs seconds of CPU. A fork server pays that once:
:func:`serve` runs the caller's ``preload`` (imports, done before any student code), checks that
forking is safe (one thread), and then forks one child per request; the child becomes the leader of
a session of its own, dies with the server (``PR_SET_PDEATHSIG``), gets the default signal
handlers back, has none of the server's descriptors, and runs ``child(request)``, which never
returns into the server. Its two users pass their child function: the kernel template
(:mod:`grader.grading.zygote`: start an ipykernel) and the verification runner template
(:mod:`grader.integrity.runner`: run one job).

Protocol, one JSON object per line. Requests on the server's stdin: any object forks a child for
it (answer ``{"pid": N}``, or ``{"error": ...}``), ``{"kill": N}`` SIGKILLs the process group of
child ``N``; end of input kills every child and ends the server. Replies on its stdout: first
``{"ready": true, "pid": N}`` once warm, or ``{"ready": false, "reason": ...}`` if the preload
failed or started a thread; then, besides the answers, ``{"exited": N, "status": S}`` for every
child that ends (S negative for a signal, like ``Popen.returncode``), always after its ``pid``.
The server's own stdin and stdout become ``/dev/null`` and its stderr, so nothing a preloaded
module prints can corrupt the protocol.

:class:`ForkServer` is the trusted side's end: it starts the server's command, reads its replies
on a thread (filing exit reports, and telling whoever asked when a child ends), forks, kills and
closes. This module imports only the standard library: it is copied into the sandbox's package.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from typing import Callable

PR_SET_PDEATHSIG = 1
CHILD_DEFAULT_SIGNALS = (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)


# ----------------------------------------------------------------------------- the server


def write_line(fd: int, message: dict) -> None:
    """``message`` as one JSON line on ``fd``, written whole."""
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def set_parent_death_signal(signum: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _take_protocol() -> tuple[int, int]:
    """The requests and replies descriptors (copies of stdin and stdout); stdin becomes ``/dev/null``
    and stdout the server's stderr."""
    requests_fd, replies_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests_fd, replies_fd


def _warm_up(preload: Callable[[], None] | None) -> str | None:
    """Run ``preload``; ``None`` if the server can fork safely now, else why not."""
    try:
        if preload is not None:
            preload()
    except Exception as exc:  # noqa: BLE001 - reported to the client, which then starts processes the usual way
        return f"import failed: {exc}"
    threads = thread_count()
    if threads != 1:
        return f"{threads} threads after the imports; forking is unsafe"
    return None


def serve(child: Callable[[dict], None], preload: Callable[[], None] | None = None) -> int:
    """Be a fork server on stdin/stdout (see the module's docstring) until stdin ends; the exit code."""
    requests_fd, replies_fd = _take_protocol()
    set_parent_death_signal(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    problem = _warm_up(preload)
    if problem is not None:
        write_line(replies_fd, {"ready": False, "reason": problem})
        return 1
    return _Server(requests_fd, replies_fd, child).run()


class _Server:
    """The server's loop: requests from ``requests_fd``, replies to ``replies_fd``, children reaped as they end."""

    def __init__(self, requests_fd: int, replies_fd: int, child: Callable[[dict], None]):
        self.requests_fd, self.replies_fd, self.child = requests_fd, replies_fd, child
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.buffer = b""
        self.wake_read, self.wake_write = os.pipe()  # SIGCHLD wakes the loop through this pipe
        os.set_blocking(self.wake_write, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def run(self) -> int:
        write_line(self.replies_fd, {"ready": True, "pid": self.pid})
        while True:
            readable, _, _ = select.select([self.requests_fd, self.wake_read], [], [])
            if self.wake_read in readable:
                os.read(self.wake_read, 4096)
                self.reap()
            if self.requests_fd in readable and not self.read_requests():
                self.kill_children()
                return 0

    def reap(self) -> None:
        """Report every child that has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            write_line(self.replies_fd, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def read_requests(self) -> bool:
        """Handle the whole lines that have arrived; ``False`` at the end of the requests."""
        chunk = os.read(self.requests_fd, 65536)
        if not chunk:
            return False
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.handle(line)
        return True

    def handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            write_line(self.replies_fd, {"error": "malformed request"})
        elif "kill" in request:
            self.kill(request["kill"])
        else:
            self.fork(request)

    def kill(self, pid) -> None:
        """SIGKILL the session of child ``pid`` (only a child of this server's)."""
        if pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def kill_children(self) -> None:
        for pid in list(self.children):
            self.kill(pid)

    def fork(self, request: dict) -> None:
        try:
            pid = os.fork()
        except OSError as exc:
            write_line(self.replies_fd, {"error": f"fork failed: {exc}"})
            return
        if pid == 0:
            self.become_child(request)
        self.children.add(pid)
        write_line(self.replies_fd, {"pid": pid})  # before any report of its end: reaping is done in this loop

    def become_child(self, request: dict) -> None:
        """In the forked child: a session of its own, tied to the server, then ``child(request)``. Never returns."""
        try:
            os.setsid()
            set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != self.pid:  # the server died before the death signal was set
                os._exit(1)
            signal.set_wakeup_fd(-1)
            for signum in CHILD_DEFAULT_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
            for fd in (self.requests_fd, self.replies_fd, self.wake_read, self.wake_write):
                os.close(fd)
            self.child(request)
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException:  # noqa: BLE001 - report it and end the child, never return into the loop
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)


# ----------------------------------------------------------------------------- the client


class ForkServer:
    """The trusted side's end of a fork server process started as ``command``.

    ``name`` says what it is in error messages. :meth:`wait_ready` waits for its first reply;
    :meth:`spawn` forks a child and returns its pid (as the server knows it), :meth:`status` is the
    exit status of a child that has ended, and ``on_exit`` (given to :meth:`spawn`) is called with it
    when it ends, or with ``None`` if the server ends first.
    """

    def __init__(self, command: list[str], env: dict, name: str = "fork server", stderr=subprocess.DEVNULL,
                 cwd: str | None = None):
        self.name = name
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                        env=env, cwd=cwd, start_new_session=True)
        self.pid = self.process.pid
        self.replies: queue.Queue = queue.Queue()
        self.exited: dict[int, int] = {}
        self.ready: bool | None = None
        self.problem = ""
        self._watchers: dict[int, Callable] = {}
        self._ended = False                   # its replies have ended
        self._lock = threading.Lock()         # exited, _watchers, _ended
        self._spawn_lock = threading.Lock()   # one request and its answer at a time
        self._write_lock = threading.Lock()   # whole lines on the server's stdin
        threading.Thread(target=self._read, name=f"{name} replies", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "exited" in message:
                self._file_exit(int(message["exited"]), int(message["status"]))
            else:
                self.replies.put(message)
        self.replies.put({"eof": True})
        with self._lock:
            self._ended = True
            watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher(None)

    def _file_exit(self, pid: int, status: int) -> None:
        with self._lock:
            self.exited[pid] = status
            watcher = self._watchers.pop(pid, None)
        if watcher is not None:
            watcher(status)

    def wait_ready(self, timeout: float) -> bool:
        """Whether the server is ready (waiting up to ``timeout`` s for its first reply); if it is not,
        :attr:`problem` says why and the server is closed."""
        if self.ready is None:
            try:
                message = self.replies.get(timeout=timeout)
            except queue.Empty:
                message = {"ready": False, "reason": f"not ready within {timeout:g} s"}
            self.ready = bool(message.get("ready"))
            if not self.ready:
                self.close()
                self.problem = message.get("reason") or f"it ended (exit code {self.process.returncode})"
        return self.ready

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.ready is not False

    def _send(self, message: dict) -> None:
        with self._write_lock:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()

    def spawn(self, request: dict, on_exit: Callable | None = None, timeout: float = 30.0) -> int:
        """Fork a child for ``request``; its pid. Raises ``RuntimeError`` if the server cannot."""
        with self._spawn_lock:
            try:
                self._send(request)
            except (OSError, ValueError) as exc:
                raise RuntimeError(f"the {self.name} is gone ({exc})") from None
            try:
                message = self.replies.get(timeout=timeout)
            except queue.Empty:
                message = {}
        if "pid" not in message:
            raise RuntimeError(f"the {self.name} could not fork ({message.get('error', 'no answer')})")
        pid = int(message["pid"])
        if on_exit is not None:
            self._watch(pid, on_exit)
        return pid

    def _watch(self, pid: int, on_exit: Callable) -> None:
        with self._lock:
            ended = pid in self.exited or self._ended
            if not ended:
                self._watchers[pid] = on_exit
        if ended:
            on_exit(self.exited.get(pid))

    def status(self, pid: int) -> int | None:
        """The exit status of child ``pid`` if it has ended (negative: killed by that signal), else ``None``."""
        return self.exited.get(pid)

    def kill(self, pid: int) -> None:
        """SIGKILL child ``pid`` and its session (by the server: it may live in another PID namespace)."""
        try:
            self._send({"kill": pid})
        except (OSError, ValueError):
            pass

    def close(self, grace: float = 5.0) -> None:
        """End the server: its input closed (it kills its children and exits), then SIGKILL after ``grace`` s."""
        try:
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
