"""grader.sandbox.forkserver: the one fork server of the kernel and runner templates, and its client."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from grader.sandbox.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[1]

# A server whose child does what its request says: exit with a code, or sleep (to be killed).
SERVER = """
import os, sys, time
from grader.sandbox import forkserver

def child(request):
    print("not on the protocol")  # stdout is the server's stderr in a child too
    if "sleep" in request:
        time.sleep(request["sleep"])
    sys.exit(request.get("code", 0))

def preload():
    print("a preloaded module that prints")
    if os.environ.get("START_A_THREAD"):
        import threading
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()

sys.exit(forkserver.serve(child, preload))
"""


def _server(**env) -> ForkServer:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return ForkServer([sys.executable, "-c", SERVER], environment, name="test server")


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_children_are_forked_reported_and_killed():
    server = _server()
    try:
        assert server.wait_ready(30) and server.alive
        pid = server.spawn({"code": 3})
        assert _wait(lambda: server.status(pid) is not None) and server.status(pid) == 3
        ended = threading.Event()
        seen = []
        sleeper = server.spawn({"sleep": 60}, on_exit=lambda status: (seen.append(status), ended.set()))
        assert _wait(lambda: os.getsid(sleeper) == sleeper)  # a session of its own
        server.kill(sleeper)
        assert ended.wait(10) and seen == [-signal.SIGKILL]
        server.process.stdin.write(b"not json\n")
        server.process.stdin.flush()
        assert server.replies.get(timeout=10) == {"error": "malformed request"}
        server.kill(os.getpid())  # not a child of the server's: ignored
        assert server.status(server.spawn({})) in (None, 0)
    finally:
        server.close()
    assert server.process.returncode == 0


def test_the_end_of_its_input_ends_the_server_and_its_children():
    server = _server()
    assert server.wait_ready(30)
    ended = threading.Event()
    server.spawn({"sleep": 60}, on_exit=lambda status: ended.set())
    started = time.monotonic()
    server.close()
    assert server.process.returncode == 0 and time.monotonic() - started < 5
    assert ended.wait(10)


def test_a_server_whose_preload_starts_a_thread_is_not_ready():
    server = _server(START_A_THREAD="1")
    assert not server.wait_ready(30)
    assert "threads after the imports" in server.problem and not server.alive
    try:
        server.spawn({})
        raise AssertionError("a closed server forked")
    except RuntimeError as exc:
        assert "test server" in str(exc)


def test_exit_statuses_are_described_once():
    from grader.sandbox.exits import describe_status, signal_name

    assert signal_name(-signal.SIGKILL) == "SIGKILL" and signal_name(-99) == "signal 99"
    assert describe_status(3) == "it exited with code 3"
    assert describe_status(-signal.SIGXCPU) == "it used up its CPU time"
    assert describe_status(-signal.SIGKILL) == "it was killed (out of time or memory)"
    assert describe_status(-signal.SIGSEGV) == "it was killed by SIGSEGV"


def test_how_a_process_ended_is_said_one_way():
    from grader.sandbox.exits import how_it_ended

    assert how_it_ended(-signal.SIGKILL, "the kernel") == "the kernel was killed by SIGKILL"
    assert how_it_ended(3, "it") == "it exited with code 3"
    assert how_it_ended(None, "the kernel") == "the kernel stopped responding"
    assert how_it_ended(-999, "it") == "it was killed by signal 999"
