"""grader.sandbox: what code inside the sandbox can and cannot do, tried for real with bubblewrap.

These run real ``bwrap`` sandboxes (a plain interpreter starts in about 0.1 s). Without bubblewrap
they skip, except under CI (``CI=true``), where ``.ci/run`` installs it and they must run.
"""

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox import availability, bubblewrap, confine
from grader.sandbox.bubblewrap import ResourceLimits as Limits, Sandbox
from grader.sandbox.kernel_launcher import SandboxKernelLauncher
from grader.sandbox.library import build_lib

ROOT = Path(__file__).resolve().parents[1]

if not availability.available():
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the sandbox tests: {availability.unavailable_reason()}", pytrace=False)
    pytest.skip(f"no sandbox here: {availability.unavailable_reason()}", allow_module_level=True)


def run(code: str, box: Sandbox | None = None, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    box = box or Sandbox(lib=build_lib("runner"), limits=Limits(cpu_seconds=30))
    box.env.update(env)
    command = box.command([bubblewrap.python_in_sandbox(), "-I", "-c",
                           f"import sys; sys.path.insert(0, {bubblewrap.LIB!r})\n" + textwrap.dedent(code)])
    environment = box.environment()
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)


def test_code_inside_runs_as_an_unprivileged_user_without_capabilities_network_or_parent_environment():
    os.environ["HIDDEN_STATE_TEST_SECRET"] = "do-not-leak"
    try:
        result = run('''
            import os, socket
            print(os.getuid(), os.getgid(), os.getgroups())
            status = open("/proc/self/status").read()
            keys = ("CapEff", "CapPrm", "NoNewPrivs")
            print([line.split()[1] for line in status.splitlines() if line.startswith(keys)])
            print(sorted(os.environ))
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=3)
                print("network: yes")
            except OSError as exc:
                print("network: no", type(exc).__name__)
            print([name for name in socket.if_nameindex()])
            print(os.getppid(), len(os.listdir("/proc")) < 10)
        ''')
    finally:
        del os.environ["HIDDEN_STATE_TEST_SECRET"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    uid, gid, groups = lines[0].split(" ", 2)
    assert int(uid) >= bubblewrap.UID_BASE and uid == gid and groups == "[]"
    assert lines[1] == "['0000000000000000', '0000000000000000', '1']"
    assert "HIDDEN_STATE_TEST_SECRET" not in lines[2] and "HOME" in lines[2]
    assert lines[3].startswith("network: no")
    assert lines[4] == "[(1, 'lo')]"


def test_the_course_the_reference_and_other_files_are_not_visible():
    result = run(f'''
        import os, importlib
        for path in {[str(ROOT), str(ROOT / "solutions"), str(ROOT / "grader" / "reference"), "/root", "/home",
                      str(Path.home()), "/etc/shadow", "/var", "/work"]!r}:
            print(path, sorted(os.listdir(path)) if os.path.isdir(path) else os.path.exists(path))
        import grader, grader.checks, grader.reference
        print(os.path.dirname(grader.__file__))
        print(sorted(os.listdir(os.path.dirname(grader.reference.__file__))))
        try:
            grader.reference.rnn_cell(1, 2)
        except Exception as exc:
            print(type(exc).__name__, exc)
        print(sorted(os.listdir("/")))
    ''')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    visible = dict(line.split(" ", 1) for line in lines[:9])
    # A folder may exist only as a parent of the Python installation or virtual environment bound in
    # (e.g. /root for a user-installed Python, the repository for a .venv inside it), holding nothing else.
    python_dirs, _ = bubblewrap.python_binds()
    for path, seen in visible.items():
        leading = sorted({d[len(path) + 1:].split("/")[0] for d in python_dirs if d.startswith(path + "/")})
        assert seen == (str(leading) if leading else "False"), (path, seen)
    assert lines[9] == f"{bubblewrap.LIB}/grader"
    assert lines[10] == "['__init__.py', '__pycache__', 'stand_ins.py']"
    assert lines[11].startswith("Unavailable grader.reference.rnn_cell is not available while grading")
    roots_of_python = {d.split("/")[1] for d in python_dirs}
    assert not {"work", "home"} & (set(ast.literal_eval(lines[12])) - roots_of_python)


def test_the_file_system_is_read_only_except_a_small_private_tmp():
    result = run('''
        import os
        for path in ("/usr/evil", "/opt/hidden-state/lib/grader/evil.py", "/etc/evil", "/evil"):
            try:
                open(path, "w").write("x")
                print(path, "written")
            except OSError as exc:
                print(path, "refused")
        open("/tmp/ok", "w").write("fine")
        try:
            with open("/tmp/big", "wb") as handle:
                for _ in range(40):
                    handle.write(b"x" * 2**20)
            print("tmp: no limit")
        except OSError as exc:
            print("tmp:", exc.strerror)
    ''', box=Sandbox(lib=build_lib("runner"), limits=Limits(cpu_seconds=30, tmp_bytes=16 * 2**20)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["/usr/evil refused", "/opt/hidden-state/lib/grader/evil.py refused",
                                          "/etc/evil refused", "/evil refused", "tmp: No space left on device"]


def test_memory_cpu_process_and_file_limits_hold():
    box = Sandbox(limits=Limits(memory_bytes=512 * 2**20, cpu_seconds=60, processes=16, file_bytes=2**20))
    result = run('''
        try:
            block = bytearray(1024 * 2**20)
            print("memory: no limit")
        except MemoryError:
            print("memory: limited")
        import os
        children = []
        try:
            for _ in range(64):
                pid = os.fork()
                if pid == 0:
                    import time
                    time.sleep(5)
                    os._exit(0)
                children.append(pid)
            print("processes: no limit")
        except OSError:
            print("processes: limited at", len(children))
        for pid in children:
            os.kill(pid, 9)
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open("/tmp/f", "wb") as handle:
                handle.write(b"x" * (2 * 2**20))
            print("file: no limit")
        except OSError as exc:
            print("file: limited")
    ''', box=box)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "memory: limited"
    assert lines[1].startswith("processes: limited at") and int(lines[1].split()[-1]) < 16
    assert lines[2] == "file: limited"
    box = Sandbox(limits=Limits(cpu_seconds=1))
    started = time.monotonic()
    result = run("while True:\n    pass\n", box=box)
    assert result.returncode == 128 + signal.SIGXCPU  # bubblewrap reports a signal as 128 + its number
    assert time.monotonic() - started < 30


def test_binds_that_would_expose_the_course_are_refused():
    for path in (ROOT, ROOT / "grader", ROOT / "grader" / "reference", Path("/")):
        with pytest.raises(bubblewrap.SandboxError, match="refusing to bind"):
            Sandbox(ro=[(str(path), "/x")]).command(["true"])
    workspace = ROOT / "tests"
    with pytest.raises(bubblewrap.SandboxError):
        Sandbox(ro=[(str(workspace), "/x")], protect=[str(workspace / "x.db")]).command(["true"])


def test_the_kernel_library_has_no_reference_and_a_check_that_only_records():
    lib = Path(build_lib("kernel"))
    assert sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*.py")) == \
        ["grader/__init__.py", "grader/checks/__init__.py"]
    runner = Path(build_lib("runner"))
    assert not (runner / "grader" / "reference" / "cells.py").exists()
    # nothing of the grading pipeline: the limits script (which confine.py loads) is the sandbox's
    assert not (runner / "grader" / "grading").exists()
    assert sorted(p.name for p in (runner / "grader" / "sandbox").glob("*.py")) == \
        ["__init__.py", "confine.py", "forkserver.py", "limits.py"]


def test_confine_parses_its_options():
    options, command = confine.parse(["--as=10", "--cpu", "5", "--ignore-sigint", "--uid=7", "--", "python", "-c", "1"])
    assert options == {"--as": 10, "--cpu": 5, "--ignore-sigint": True, "--uid": 7}
    assert command == ["python", "-c", "1"]
    for bad in (["--bogus=1", "--", "x"], ["--as"], ["--as=1"], ["--as=x", "--", "y"]):
        with pytest.raises(ValueError):
            confine.parse(bad)
    result = subprocess.run([sys.executable, "-I", "-S", str(bubblewrap.CONFINE), "--nope", "--", "true"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option" in result.stderr


@pytest.mark.slow
def test_a_sandboxed_kernel_runs_cells_can_be_interrupted_and_sees_only_the_recording_check(tmp_path):
    from jupyter_core.utils import run_sync

    from grader.grading.kernel_source import kernel_settings
    from grader.grading.kernels import KernelSupply
    from grader.grading.settings import Limits as GradingLimits

    # the kernel plain `nbgrader autograde` gets (grader.grading.kernel_source), started the same way
    supply = KernelSupply(kernel_settings(GradingLimits(), SandboxKernelLauncher(), str(ROOT), tmp_path))
    manager = supply.acquire(more=False)
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        outputs = []

        def execute(code, timeout=30):
            outputs.clear()
            reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda m: outputs.append(m))
            return reply["content"]["status"], "".join(m["content"].get("text", "") + m["content"].get("ename", "")
                                                       for m in outputs)

        status, text = execute(f"import os; print(os.getuid() >= 620000, os.path.exists({str(ROOT / 'solutions')!r}))")
        assert (status, text.strip()) == ("ok", "True False")
        status, text = execute("from grader.checks import check\ndef f(): pass\ncheck(f)")
        assert status == "ok" and "f: recorded; graded by the trusted verification" in text
        status, text = execute("import grader.reference")
        assert status == "error" and "ModuleNotFoundError" in text
        import threading

        threading.Timer(1.5, lambda: run_sync(manager.interrupt_kernel)()).start()
        started = time.monotonic()
        status, text = execute("import time\ntime.sleep(30)", timeout=60)
        assert status == "error" and "KeyboardInterrupt" in text and time.monotonic() - started < 15
        status, text = execute("print('still alive')")
        assert status == "ok" and "still alive" in text
    finally:
        client.stop_channels()
        supply.shutdown()


def test_the_stand_ins_agree_with_the_reference():
    """The sandboxed runner substitutes these for the reference (which it may not see); they must
    compute what grader.reference computes, within the checks' tolerances."""
    import torch

    from grader.integrity import stand_ins
    from grader.reference import cells, weight_init

    generator = torch.Generator().manual_seed(0)
    x, h, c = (torch.randn(3, n, generator=generator, dtype=torch.float64) for n in (4, 5, 5))
    for gates, name in ((1, "rnn_cell"), (4, "lstm_cell")):
        w_ih = torch.randn(gates * 5, 4, generator=generator, dtype=torch.float64)
        w_hh = torch.randn(gates * 5, 5, generator=generator, dtype=torch.float64)
        b_ih, b_hh = (torch.randn(gates * 5, generator=generator, dtype=torch.float64) for _ in range(2))
        state = h if name == "rnn_cell" else (h, c)
        for state_or_none in (state, None):
            ours = getattr(stand_ins, name)(x, state_or_none, w_ih, w_hh, b_ih, b_hh)
            reference = getattr(cells, name)(x, state_or_none, w_ih, w_hh, b_ih, b_hh)
            for a, b in zip(ours if isinstance(ours, tuple) else (ours,),
                            reference if isinstance(reference, tuple) else (reference,)):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    relu = stand_ins.rnn_cell(x, h, w_ih[:5], w_hh[:5], nonlinearity="relu")
    torch.testing.assert_close(relu, cells.rnn_cell(x, h, w_ih[:5], w_hh[:5], nonlinearity="relu"))
    weight = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(stand_ins.spectral_radius(weight).to(torch.float64),
                               torch.as_tensor(weight_init.spectral_radius(weight), dtype=torch.float64))
