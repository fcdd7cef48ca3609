"""The trusted verification: the decision whether each graded part passes, made without running student code.

For one submitted notebook, :meth:`Verifier.verify`

1. reads the graded parts from the *source* notebook (``solutions/``): each test cell's grade id
   and the ``check(name, seeds=..., hidden=...)`` calls in it (:func:`plan_parts`), never from the
   submission, whose test cells a student could have edited;
2. extracts the answer cells' definitions (:mod:`.definitions`) and reads them
   (:mod:`.static`): forbidden uses per part, signs of tampering;
3. generates every part's cases with ``grader.checks``' ``cases`` and computes the reference's
   outcomes, here, in the trusted process (both cached: they are the same for every student);
4. hands the cases to a sandboxed runner (:mod:`.runner`; one process per notebook, started ahead
   of time, restarted after a part that kills it or runs out of time), which calls the student's
   functions and sends back plain data;
5. validates what came back (:mod:`grader.codec`: exact ``torch.Tensor`` objects of the expected
   dtype and shape, no pickle, size limits), and decides each part with the checks' own
   ``compare`` and ``diagnose``, exactly as ``check()`` does in the notebook: same order, same
   messages. Forbidden calls the runner recorded while the student's code ran only ever count
   *against* the student.

The result is a :class:`NotebookVerdict`: per part, pass or fail with the message, and the reasons
the submission looks suspicious.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import codec
from . import confine, definitions as definitions_module, sandbox, static
from .runner import MAGIC, MODULE

# ----------------------------------------------------------------------------- the parts, from the source


class VerificationError(RuntimeError):
    """The trusted verification cannot grade this notebook (a problem of the course, not of the submission)."""


@dataclass
class PartPlan:
    """One graded test cell of the source notebook: what it checks and how."""

    grade_id: str
    name: str
    points: float
    calls: list  # [(seeds, hidden)], in the cell's order; seeds None means the visible seeds
    position: int


def _check_call(node) -> tuple[str, tuple | None, bool]:
    """``(name, seeds, hidden)`` of a statement ``check(name[, seeds=[...]][, hidden=bool])``."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "check"):
        raise ValueError("not a check(...) call")
    call = node.value
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
        raise ValueError("check() must be called with one name")
    seeds, hidden = None, False
    for keyword in call.keywords:
        value = ast.literal_eval(keyword.value)
        if keyword.arg == "seeds":
            if not isinstance(value, (list, tuple)) or not all(type(s) is int for s in value):
                raise ValueError("seeds must be a list of ints")
            seeds = tuple(value)
        elif keyword.arg == "hidden":
            if type(value) is not bool:
                raise ValueError("hidden must be True or False")
            hidden = value
        else:
            raise ValueError(f"unknown argument {keyword.arg}")
    return call.args[0].id, seeds, hidden


def plan_parts(source_nb) -> list[PartPlan]:
    """The graded parts of a source notebook; raises :class:`VerificationError` for a test cell it cannot verify."""
    from grader.checks import CHECKS
    from grader.checks.core import VISIBLE_SEEDS

    plans = []
    for position, cell in enumerate(source_nb.get("cells", [])):
        meta = definitions_module.nbgrader_meta(cell)
        if not (meta.get("grade") and not meta.get("solution") and meta.get("grade_id")):
            continue
        grade_id = meta["grade_id"]
        if cell.get("cell_type") != "code":
            raise VerificationError(f"graded cell {grade_id!r} is not a code cell")
        source = "\n".join(line for line in definitions_module.cell_source(cell).split("\n")
                           if "### BEGIN HIDDEN TESTS" not in line and "### END HIDDEN TESTS" not in line)
        try:
            tree = ast.parse(source)
            calls = [_check_call(node) for node in tree.body]
        except (SyntaxError, ValueError) as exc:
            raise VerificationError(f"test cell {grade_id!r} is not made of check(...) calls only ({exc}): "
                                    f"the trusted verification cannot grade it") from None
        names = {name for name, _, _ in calls}
        if len(names) != 1:
            raise VerificationError(f"test cell {grade_id!r} must check exactly one exercise, checks {sorted(names)}")
        name = names.pop()
        if name not in CHECKS:
            raise VerificationError(f"test cell {grade_id!r} checks {name!r}, for which there is no check")
        plans.append(PartPlan(grade_id=grade_id, name=name, points=float(meta.get("points", 0) or 0),
                              calls=[(VISIBLE_SEEDS if seeds is None else seeds, hidden) for _, seeds, hidden in calls],
                              position=position))
    return plans


# ----------------------------------------------------------------------------- verdicts


@dataclass
class PartVerdict:
    grade_id: str
    name: str
    passed: bool
    kind: str            # "pass", "fail", "forbidden", "not_run"
    message: str         # the failure message (as check() words it), or the pass summary
    ename: str = ""      # the exception name a failing check() would raise
    suspicious: list = field(default_factory=list)
    cases: int = 0
    advice: list = field(default_factory=list)   # why a name the part needs is missing here (see _advice)
    lost_in_runner: bool = False  # it passed in the submitted notebook and failed only in the verification

    def output_text(self) -> str:
        return self.message


@dataclass
class NotebookVerdict:
    parts: dict                       # grade id -> PartVerdict
    suspicious: list                  # notebook-level reasons
    ignored: list                     # statements of the answer cells the verification did not run
    sandboxed: bool
    seconds: float = 0.0              # the whole verification of this notebook
    runner_seconds: float = 0.0       # time the sandboxed runner(s) took, after start-up
    startup_wait: float = 0.0         # time spent waiting for a runner to be ready
    runners: int = 0                  # sandboxed processes used (more than 1 after a crash or a timeout)

    def all_suspicious(self) -> list[str]:
        reasons = list(self.suspicious)
        for verdict in self.parts.values():
            reasons += [f"{verdict.name}: {reason}" for reason in verdict.suspicious]
        return reasons

    def to_json(self) -> dict:
        data = asdict(self)
        data["parts"] = {key: asdict(value) for key, value in self.parts.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "NotebookVerdict":
        data = dict(data)
        data["parts"] = {key: PartVerdict(**value) for key, value in data["parts"].items()}
        return cls(**data)


# ----------------------------------------------------------------------------- settings


@dataclass
class VerifySettings:
    """How verification runs. ``sandboxed=False`` runs the runner without a sandbox (only when allowed)."""

    sandboxed: bool = True
    timeout: float = 240.0              # all runners of one notebook, wall clock
    part_timeout: float = 60.0          # one part's cases
    definitions_timeout: float = 60.0   # executing the answer cells' definitions
    startup_timeout: float = 120.0      # a runner importing torch
    limits: sandbox.Limits = field(default_factory=lambda: sandbox.Limits(cpu_seconds=600))
    prelaunch: bool = True
    fork: bool = True                   # fork runners from a warm sandboxed template (see RunnerTemplate)
    protect: list = field(default_factory=list)   # more host paths no sandbox may see
    max_output_bytes: int = 512 * sandbox.MiB     # what one runner may send back


# ----------------------------------------------------------------------------- the trusted reference outcomes


class _mkldnn_off:
    """As grader.checks.running.run_check: the plain CPU kernels for these tiny shapes (same numbers, faster)."""

    def __enter__(self):
        import torch

        self.was = torch._C._get_mkldnn_enabled()
        torch._C._set_mkldnn_enabled(False)

    def __exit__(self, *exc):
        import torch

        torch._C._set_mkldnn_enabled(self.was)


class Expectations:
    """Cases and the reference's outcomes per (check, seed, hidden), and the cases' bundles per part; cached."""

    def __init__(self):
        self._seeds: dict = {}
        self._bundles: dict = {}
        self._lock = threading.Lock()

    def seed(self, check, seed: int, hidden: bool):
        key = (check.name, seed, hidden)
        with self._lock:
            if key not in self._seeds:
                cases = check.cases(seed, hidden)
                with _mkldnn_off():
                    expected = [check.expected(case) for case in cases]
                self._seeds[key] = (cases, expected)
            return self._seeds[key]

    def flat(self, check, plan: PartPlan) -> list:
        return [case for seeds, hidden in plan.calls for seed in seeds for case in self.seed(check, seed, hidden)[0]]

    def bundle(self, check, plan: PartPlan) -> tuple[bytes, bytes]:
        key = (check.name, tuple((tuple(seeds), hidden) for seeds, hidden in plan.calls))
        if key not in self._bundles:
            from grader.checks.core import case_tree

            self._bundles[key] = codec.dumps([case_tree(c) for c in self.flat(check, plan)])
        return self._bundles[key]


# ----------------------------------------------------------------------------- one sandboxed runner process

BOOT = "import sys; sys.path.insert(0, {lib!r}); from grader.integrity.runner import main; main()"
TEMPLATE_BOOT = ("import sys; sys.path.insert(0, {lib!r}); from grader.integrity.runner import template_main; "
                 "sys.exit(template_main())")
RUNNER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
              "MPLBACKEND": "Agg"}


def describe_status(status: int) -> str:
    """Why a runner ended, from its exit status (negative: killed by that signal)."""
    if status >= 0:
        return f"it exited with code {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return {"SIGXCPU": "it used up its CPU time", "SIGXFSZ": "it wrote a file larger than allowed",
            "SIGKILL": "it was killed (out of time or memory)"}.get(name, f"it was killed by {name}")


class RunnerProcess:
    """One runner, started (and importing torch) before it is given a job."""

    def __init__(self, settings: VerifySettings, base: Path):
        self.settings = settings
        self.job = sandbox.make_private_dir(base, prefix="job-", mode=0o755)
        self.events: queue.Queue = queue.Queue()
        self.stderr = b""
        self.received = 0
        self.started = time.monotonic()
        read_fd, write_fd = os.pipe()
        lib = sandbox.build_lib("runner")
        env = dict(RUNNER_ENV)
        if settings.sandboxed:
            box = sandbox.Sandbox(ro=[(str(self.job), "/job")], lib=lib, limits=settings.limits, env=env,
                                  protect=settings.protect)
            command = box.command([sandbox.python_in_sandbox(), "-I", "-c", BOOT.format(lib=sandbox.LIB), "/job",
                                   str(write_fd)])
            environment = box.environment()
        else:
            options = [o for o in settings.limits.confine_options() if not o.startswith("--nproc")]
            command = [sys.executable, "-I", "-S", str(sandbox.CONFINE), *options, "--",
                       sys.executable, "-I", "-c", BOOT.format(lib=lib), str(self.job), str(write_fd)]
            environment = {**sandbox.Sandbox(env=env).environment(), "HOME": str(self.job)}
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, pass_fds=(write_fd,), env=environment,
                                            start_new_session=True, cwd=str(self.job))
        finally:
            os.close(write_fd)
        self._channel = os.fdopen(read_fd, "rb", buffering=0)
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- reading what the runner sends (untrusted)
    def _read_exact(self, count: int) -> bytes | None:
        chunks, remaining = [], count
        while remaining:
            chunk = self._channel.read(min(remaining, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _read_frames(self) -> None:  # noqa: C901
        limit = self.settings.max_output_bytes
        try:
            while True:
                head = self._read_exact(8)
                if head is None:
                    break
                if head[:4] != MAGIC:
                    self.events.put(("corrupt", "the runner's output is not in the expected format"))
                    break
                size = struct.unpack(">I", head[4:])[0]
                if size > 1 << 20:
                    self.events.put(("corrupt", "a frame header is too large"))
                    break
                raw = self._read_exact(size)
                if raw is None:
                    break
                try:
                    header = json.loads(raw.decode("utf-8"))
                    payload_sizes = [int(header.get("json", 0)), int(header.get("npz", 0))] \
                        if header.get("kind") == "result" else []
                except (ValueError, AttributeError, TypeError):
                    self.events.put(("corrupt", "a frame header is not valid JSON"))
                    break
                if not isinstance(header, dict) or any(s < 0 for s in payload_sizes):
                    self.events.put(("corrupt", "a malformed frame header"))
                    break
                self.received += 8 + size + sum(payload_sizes)
                if self.received > limit:
                    self.events.put(("overflow", f"the runner sent more than {limit // sandbox.MiB} MiB"))
                    break
                payloads = []
                for s in payload_sizes:
                    data = self._read_exact(s)
                    if data is None:
                        break
                    payloads.append(data)
                if len(payloads) != len(payload_sizes):
                    break
                self.events.put(("frame", header, payloads))
        except (OSError, ValueError):
            pass
        finally:
            self.events.put(("eof", None))

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
        lib = sandbox.build_lib("runner")
        limits = sandbox.Limits(memory_bytes=settings.limits.memory_bytes, cpu_seconds=None, file_bytes=None,
                                processes=None, open_files=settings.limits.open_files,
                                tmp_bytes=settings.limits.tmp_bytes)
        box = sandbox.Sandbox(ro=[(str(self.jobs), "/jobs")], lib=lib, limits=limits, env=dict(RUNNER_ENV),
                              protect=settings.protect, uid=None, dirs=["/job", confine.OLD_TMP],
                              caps=("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"))
        command = box.command([sandbox.python_in_sandbox(), "-I", "-c", TEMPLATE_BOOT.format(lib=sandbox.LIB),
                               "/jobs"])
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=box.environment(), start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        self.children: dict[int, "ForkedRunner"] = {}
        self.exited: dict[int, int] = {}
        self.ready: bool | None = None
        self.problem = ""
        self._lock = threading.Lock()         # the registry of children
        self._spawn_lock = threading.Lock()   # one request and its answer at a time
        self._write_lock = threading.Lock()   # whole lines on the template's stdin
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "exited" in message:
                pid, status = int(message["exited"]), int(message["status"])
                with self._lock:
                    child = self.children.pop(pid, None)
                    if child is None:  # it ended before it was registered
                        self.exited[pid] = status
                if child is not None:
                    child.ended(status)
            else:
                self.replies.put(message)
        self.replies.put({"eof": True})
        with self._lock:
            children, self.children = list(self.children.values()), {}
        for child in children:
            child.ended(None)

    def wait_ready(self, timeout: float) -> bool:
        if self.ready is None:
            try:
                message = self.replies.get(timeout=timeout)
            except queue.Empty:
                message = {"ready": False, "reason": f"not ready within {timeout:g} s"}
            self.ready = bool(message.get("ready"))
            self.problem = message.get("reason") or ("it ended" if message.get("eof") else "")
            if not self.ready:
                self.close()
        return self.ready

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.ready is not False

    def _send(self, message: dict) -> None:
        with self._write_lock:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()

    def spawn(self, child: "ForkedRunner", request: dict) -> int:
        with self._spawn_lock:
            self._send(request)
            try:
                message = self.replies.get(timeout=30)
            except queue.Empty:
                message = {}
        if "pid" not in message:
            raise RuntimeError(f"the runner template could not fork ({message.get('error', 'no answer')})")
        pid = int(message["pid"])
        with self._lock:
            status = self.exited.pop(pid, "running")
            if status == "running":
                self.children[pid] = child
        if status != "running":
            child.ended(status)
        return pid

    def kill(self, pid: int) -> None:
        try:
            self._send({"kill": pid})
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class ForkedRunner(RunnerProcess):
    """A runner forked by a :class:`RunnerTemplate`: the same events as a :class:`RunnerProcess`, from a FIFO."""

    def __init__(self, settings: VerifySettings, template: RunnerTemplate):
        self.settings = settings
        self.template = template
        self.job = sandbox.make_private_dir(template.jobs, prefix="job-", mode=0o755)
        self.events = queue.Queue()
        self.stderr = b""
        self.received = 0
        self.started = time.monotonic()
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
        limits = {}
        for option in self.settings.limits.confine_options():
            name, _, value = option.partition("=")
            limits[name] = int(value)
        request = {"job": self.job.name, "uid": sandbox.fresh_uid(), "tmp_bytes": self.settings.limits.tmp_bytes,
                   "limits": limits}
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


@dataclass
class RunResult:
    """What one runner produced: per-cell reports, results per part key, and why it stopped early."""

    cells: list | None = None
    cell_tampering: list = field(default_factory=list)
    results: dict = field(default_factory=dict)   # part key -> decoded result dict, or an error text
    stopped_in: str | None = None                 # the part running when the runner stopped early
    stop_reason: str | None = None                # why it stopped early (None: it finished)
    suspicious_stop: bool = False
    seconds: float = 0.0


# ----------------------------------------------------------------------------- the verifier


class Verifier:
    """The trusted side, kept for the life of a grading process (the caches and the next runner live here)."""

    def __init__(self, settings: VerifySettings | None = None):
        self.settings = settings or VerifySettings()
        if self.settings.sandboxed and not sandbox.available():
            raise sandbox.Unsandboxed(sandbox.unavailable_reason())
        self.expectations = Expectations()
        self.base = sandbox.make_private_dir(prefix="hidden-state-verify-", mode=0o711)
        self._next: RunnerProcess | None = None
        self._lock = threading.Lock()
        self.template: RunnerTemplate | None = None
        self.template_problem: str | None = None

    # -- runners
    def _template(self) -> RunnerTemplate | None:
        """The runner template (started on first use); ``None`` if forking is off or impossible here."""
        if not (self.settings.sandboxed and self.settings.fork) or self.template_problem is not None:
            return None
        if self.template is None or not self.template.alive:
            if self.template is not None:
                self.template.close()
            self.template = RunnerTemplate(self.settings, self.base)
        return self.template

    def _launch(self) -> RunnerProcess:
        template = self._template()
        if template is not None:
            if template.wait_ready(self.settings.startup_timeout):
                return ForkedRunner(self.settings, template)
            self.template_problem = template.problem or "the runner template did not start"
        return RunnerProcess(self.settings, self.base)

    def prelaunch(self) -> None:
        """Get the next runner going now: the template (once), or a runner importing torch while the kernel runs."""
        with self._lock:
            if self.settings.sandboxed and self.settings.fork and self.template_problem is None:
                if self.template is None or not self.template.alive:
                    self._template()
                return
            if self._next is None:
                self._next = self._launch()

    def _acquire(self) -> tuple[RunnerProcess, str | None, float]:
        started = time.monotonic()
        with self._lock:
            runner, self._next = self._next, None
        if runner is None or runner.process.poll() is not None:
            if runner is not None:
                runner.close()
            runner = self._launch()
        problem = runner.wait_ready(self.settings.startup_timeout)
        if self.settings.prelaunch:
            self.prelaunch()
        return runner, problem, time.monotonic() - started

    def close(self) -> None:
        with self._lock:
            runner, self._next = self._next, None
        if runner is not None:
            runner.close()
        if self.template is not None:
            self.template.close()
            self.template = None
        shutil.rmtree(self.base, ignore_errors=True)

    # -- one runner, some parts
    def _run(self, runner: RunnerProcess, plan: dict, bundles: dict, deadline: float) -> RunResult:  # noqa: C901
        settings = self.settings
        result = RunResult()
        started = time.monotonic()
        runner.start(plan, bundles)
        current = None
        phase_deadline = started + settings.definitions_timeout
        while True:
            now = time.monotonic()
            event = runner.next_event(min(phase_deadline, deadline) - now)
            if event is None:  # out of time
                runner.kill()
                if current is not None:
                    result.stopped_in = current
                    result.stop_reason = f"it ran longer than {settings.part_timeout:g} s" \
                        if phase_deadline <= deadline else "the notebook's verification ran out of time"
                elif result.cells is None:
                    result.stop_reason = f"executing the answer cells' definitions took longer than " \
                                         f"{settings.definitions_timeout:g} s"
                else:
                    result.stop_reason = "the runner stopped responding"
                break
            kind = event[0]
            if kind == "frame":
                header, payloads = event[1], event[2]
                what = header.get("kind")
                if what == "cells" and result.cells is None:
                    cells = header.get("cells")
                    result.cells = cells if isinstance(cells, list) else []
                    notes = header.get("tampering") if isinstance(header.get("tampering"), list) else []
                    result.cell_tampering = [note[:300] for note in notes if isinstance(note, str)][:20]
                    phase_deadline = time.monotonic() + settings.part_timeout
                elif what == "start" and isinstance(header.get("part"), str):
                    current = header["part"]
                    phase_deadline = time.monotonic() + settings.part_timeout
                elif what == "result" and header.get("part") == current and current is not None:
                    try:
                        result.results[current] = codec.loads(payloads[0], payloads[1])
                    except codec.BundleError as exc:
                        result.results[current] = f"the runner's data for this part is malformed ({exc})"
                    current = None
                    phase_deadline = time.monotonic() + settings.part_timeout
                elif what == "end":
                    break
                continue
            # the runner's output ended (it exited), was corrupt, or too large
            if kind in ("corrupt", "overflow"):
                runner.kill()
                result.stop_reason = event[1]
                result.suspicious_stop = True
            else:
                result.stop_reason = runner.exit_description()
                result.suspicious_stop = not result.stop_reason.startswith(("it was killed (out of time",
                                                                             "its sandbox"))
            result.stopped_in = current
            break
        result.seconds = time.monotonic() - started
        runner.close()
        return result

    # -- a notebook
    def verify(self, submission_nb, source_nb, raw_nb=None) -> NotebookVerdict:  # noqa: C901
        """The trusted verdict on ``submission_nb`` (after execution, or not executed at all).

        ``raw_nb``: the notebook as the student submitted it, before any repair, for the structural
        comparison with the source (edited, deleted or added graded cells); default ``submission_nb``.
        """
        from grader.checks import CHECKS

        started = time.monotonic()
        settings = self.settings
        plans = plan_parts(source_nb)
        defs = definitions_module.extract(submission_nb, source_nb)
        checks = {plan.grade_id: CHECKS[plan.name] for plan in plans}
        suspicious = [f.text() for f in static.structure(raw_nb if raw_nb is not None else submission_nb, source_nb)]
        parts_code = [(plan.name, tuple(checks[plan.grade_id].substitutes)) for plan in plans]
        findings, per_part = static.tampering(raw_nb if raw_nb is not None else submission_nb, source_nb, defs,
                                              parts_code)
        suspicious += [f.text() for f in findings]
        ignored = [f"{cell.grade_id}: {text}" for cell in defs.cells for text in cell.ignored]

        verdicts: dict[str, PartVerdict] = {}
        to_run = []
        for plan in plans:
            check = checks[plan.grade_id]
            uses = static.forbidden_uses(defs, plan.name, check.rules, skip=tuple(check.substitutes))
            part_suspicious = list(per_part.get(plan.name, []))
            if uses:
                from grader.checks import forbidden

                verdicts[plan.grade_id] = PartVerdict(
                    plan.grade_id, plan.name, False, "forbidden", forbidden.message(plan.name, uses, check.rules),
                    ename="ForbiddenCall", suspicious=part_suspicious + [f"uses {', '.join(uses)}"])
            else:
                to_run.append(plan)
                verdicts[plan.grade_id] = PartVerdict(plan.grade_id, plan.name, False, "not_run", "",
                                                      suspicious=part_suspicious)

        cell_plan = [{"grade_id": cell.grade_id, "code": cell.code} for cell in defs.cells if cell.code]
        deadline = started + settings.timeout
        runs: list[RunResult] = []
        startup_wait = 0.0
        remaining = list(to_run)
        failures: dict[str, tuple[str, bool]] = {}
        while remaining:
            if time.monotonic() >= deadline:
                for plan in remaining:
                    failures[plan.grade_id] = ("the notebook's verification ran out of time before this part", False)
                break
            runner, problem, waited = self._acquire()
            startup_wait += waited
            if problem:
                runner.close()
                raise VerificationError(problem)
            bundles = {f"cases-{i}": self.expectations.bundle(checks[p.grade_id], p) for i, p in enumerate(remaining)}
            plan = {"preamble": defs.preamble, "cells": cell_plan,
                    "parts": [{"key": p.grade_id, "name": p.name, "check": p.name, "cases": f"cases-{i}"}
                              for i, p in enumerate(remaining)]}
            run = self._run(runner, plan, bundles, deadline)
            runs.append(run)
            if run.cells is None:  # the definitions themselves never finished
                reason = run.stop_reason or "the runner stopped"
                for p in remaining:
                    failures[p.grade_id] = (f"executing the answer cells' definitions stopped the verification: "
                                            f"{reason}", run.suspicious_stop)
                if run.suspicious_stop:
                    suspicious.append(f"executing the answer cells' definitions ended the verification process "
                                      f"({reason})")
                break
            if run.stopped_in is not None:
                failures[run.stopped_in] = (run.stop_reason or "the runner stopped", run.suspicious_stop)
            handled = set(run.results) | ({run.stopped_in} if run.stopped_in else set())
            rest = [p for p in remaining if p.grade_id not in handled]
            if run.stop_reason is None:  # it finished: every part must have been reported
                for p in rest:
                    failures[p.grade_id] = ("the runner did not report this part", True)
                break
            if run.stopped_in is None:  # it stopped outside any part (e.g. its output was corrupted)
                for p in rest:
                    failures[p.grade_id] = (run.stop_reason, run.suspicious_stop)
                break
            remaining = rest  # a fresh runner for the parts after the one that stopped it

        results: dict = {}
        cell_reports: list = []
        runtime_tampering: list[str] = []
        for run in runs:
            results.update(run.results)
            if run.cells:
                cell_reports = run.cells
            runtime_tampering += [t for t in run.cell_tampering if t not in runtime_tampering]
        suspicious += [f"while defining the answers: {t}" for t in runtime_tampering]

        for plan in to_run:
            verdict = verdicts[plan.grade_id]
            check = checks[plan.grade_id]
            if plan.grade_id in failures:
                reason, is_suspicious = failures[plan.grade_id]
                verdict.kind, verdict.ename = "fail", "CheckFailure"
                verdict.message = f"{plan.name} could not be verified: the process running it stopped ({reason})."
                if is_suspicious:
                    verdict.suspicious.append(f"the verification process ended while running it ({reason})")
                continue
            raw = results.get(plan.grade_id)
            self._judge(verdict, check, plan, raw, defs, cell_reports)
            self._explain(verdict, defs, raw_nb if raw_nb is not None else submission_nb)

        elapsed = time.monotonic() - started
        return NotebookVerdict(parts=verdicts, suspicious=_unique(suspicious), ignored=ignored,
                               sandboxed=settings.sandboxed, seconds=round(elapsed, 3),
                               runner_seconds=round(sum(r.seconds for r in runs), 3),
                               startup_wait=round(startup_wait, 3), runners=len(runs))

    @staticmethod
    def _explain(verdict: PartVerdict, defs, submitted_nb) -> None:
        """Say, in a failing part's message, what the student can do when the verification lacked a
        name their notebook had; flag the part when their own test cell had passed."""
        if verdict.passed:
            return
        verdict.lost_in_runner = _passed_in_notebook(submitted_nb, verdict.grade_id)
        extra = [why.rstrip(".") + "." for why in verdict.advice if why not in verdict.message]
        if verdict.lost_in_runner:
            extra.insert(0, "It passed in your notebook, but the grader runs only the answer cells' imports, "
                            "definitions and plain assignments" + (":" if extra else " (see above)."))
        if extra:
            verdict.message += "\n" + " ".join(extra)

    # -- deciding one part
    def _judge(self, verdict: PartVerdict, check, plan: PartPlan, raw, defs, cell_reports) -> None:  # noqa: C901
        from grader.checks import forbidden
        from grader.checks import core
        from grader.checks.running import diagnose, format_failure

        verdict.ename = "CheckFailure"
        verdict.kind = "fail"
        if isinstance(raw, str) or not isinstance(raw, dict) or raw.get("status") not in ("ran", "undefined",
                                                                                          "runner_error"):
            verdict.message = f"{plan.name} could not be verified: {raw if isinstance(raw, str) else 'malformed data'}."
            verdict.suspicious.append(f"the runner sent malformed data ({str(raw)[:200]})")
            return
        for note in raw.get("tampering", []) if isinstance(raw.get("tampering"), list) else []:
            if isinstance(note, str):
                verdict.suspicious.append(note[:300])
        if raw["status"] == "runner_error":
            verdict.message = f"{plan.name} could not be verified: {str(raw.get('detail', ''))[:300]}"
            verdict.suspicious.append("the runner failed while running it")
            return
        if raw["status"] == "undefined":
            verdict.ename = "NameError"
            verdict.message = _undefined_message(plan.name, defs, cell_reports)
            verdict.advice = [why for why in [defs.why_missing(plan.name)] if why] or \
                _advice(defs, [r.get("error") for r in cell_reports or [] if isinstance(r, dict)])
            return
        outcomes_raw = raw.get("outcomes")
        flat = self.expectations.flat(check, plan)
        if not isinstance(outcomes_raw, list) or len(outcomes_raw) != len(flat):
            verdict.message = f"{plan.name} could not be verified: the runner sent the wrong number of outcomes."
            verdict.suspicious.append("the runner sent the wrong number of outcomes")
            return
        outcomes = []
        for item in outcomes_raw:
            outcome = core.to_outcome(item)
            if outcome is None:
                verdict.message = f"{plan.name} could not be verified: the runner sent a malformed outcome."
                verdict.suspicious.append("the runner sent a malformed outcome")
                return
            outcomes.append(outcome)
        seen = [what for outcome in outcomes for what in outcome.forbidden]
        if seen:
            uses = list(dict.fromkeys(seen))
            verdict.kind, verdict.ename = "forbidden", "ForbiddenCall"
            verdict.message = forbidden.message(plan.name, uses, check.rules)
            verdict.suspicious.append(f"called {', '.join(uses)} while running")
            return
        for outcome in outcomes:
            for name in counterfeit(outcome.value):
                reason = f"returned an object of its own class {name} (a counterfeit value)"
                if reason not in verdict.suspicious:
                    verdict.suspicious.append(reason)
        lines, index, total = [], 0, 0
        for seeds, hidden in plan.calls:
            passed = 0
            for seed in seeds:
                cases, expected = self.expectations.seed(check, seed, hidden)
                failures, first = [], None
                for case_index, case in enumerate(cases):
                    got = outcomes[index]
                    index += 1
                    try:
                        problem = check.compare(case, got, expected[case_index])
                    except Exception as exc:  # noqa: BLE001 - data from the sandbox that compare cannot read
                        problem = f"the returned values could not be compared ({type(exc).__name__})"
                        if "malformed outcome" not in " ".join(verdict.suspicious):
                            verdict.suspicious.append("the runner sent a malformed outcome")
                    if problem is None:
                        passed += 1
                        continue
                    if first is None:
                        first = (case_index, problem)
                    failures.append((case, got))
                if failures:
                    try:
                        with _mkldnn_off():
                            likely, also = diagnose(check, failures)
                    except Exception:  # noqa: BLE001 - no diagnosis for data it cannot read
                        likely, also = [], []
                    verdict.message = format_failure(check, failures[0][0], first[0], len(cases), seed, hidden,
                                                      first[1], likely, also)
                    verdict.advice = _advice(defs, [got.error[1] for _, got in failures[:1] if got.error])
                    verdict.cases = total + passed
                    return
            total += passed
            kind = "hidden" if hidden else "visible"
            lines.append(f"{check.name}: all {passed} {kind} cases pass ({check.summary}).")
        verdict.passed, verdict.kind, verdict.ename, verdict.cases = True, "pass", "", total
        verdict.message = "\n".join(lines)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


MISSING_NAME = re.compile(r"name '(\w+)' is not defined")


def _advice(defs, texts) -> list[str]:
    """For each ``name '...' is not defined`` in ``texts``: why the verification lacks it (see
    :meth:`~.definitions.Definitions.why_missing`), when that is known."""
    advice = []
    for text in texts:
        for name in MISSING_NAME.findall(str(text)):
            why = defs.why_missing(name)
            if why and why not in advice:
                advice.append(why)
    return advice


def _undefined_message(name: str, defs, cell_reports: list) -> str:
    why = defs.why_missing(name)
    if why:
        return f"name {name!r} is not defined: {why}."
    problems = []
    for cell in defs.cells:
        if cell.error:
            problems.append(cell.error)
    for report in cell_reports or []:
        if isinstance(report, dict) and report.get("error"):
            problems.append(f"running the definitions of answer cell {report.get('grade_id')!r} raised "
                            f"{str(report['error'])[:200]}")
            problems += _advice(defs, [report["error"]])
    defining = defs.defining(name)
    if not defining:
        text = f"name {name!r} is not defined: no answer cell defines {name}."
    else:
        text = f"name {name!r} is not defined after running the answer cells' definitions."
    if problems:
        text += " " + " ".join(p.rstrip(".") + "." for p in problems[:3])
    return text


def _passed_in_notebook(raw_nb, grade_id: str) -> bool:
    """Whether the submitted notebook's own test cell ``grade_id`` showed check()'s pass summary (and no
    error). ``raw_nb`` is the file as the student handed it in: any part of it may be malformed."""
    cells = raw_nb.get("cells") if isinstance(raw_nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        if not isinstance(nbgrader, dict) or nbgrader.get("grade_id") != grade_id or cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        texts = []
        for output in outputs:
            if not isinstance(output, dict) or output.get("output_type") == "error":
                return False
            text = output.get("text", "")
            texts.append("".join(t for t in text if isinstance(t, str)) if isinstance(text, list) else str(text))
        return "cases pass (" in "".join(texts)
    return False


def counterfeit(value, depth=0) -> list[str]:
    """Type names of values the student's own code defined (``__submission__.X``), found in a snapshot."""
    from grader.checks.core import Foreign

    if depth > 20:
        return []
    if isinstance(value, Foreign):
        return [value.type_name.split(".", 1)[1]] if value.type_name.startswith(MODULE + ".") else []
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in counterfeit(item, depth + 1)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in counterfeit(item, depth + 1)]
    return []


# ----------------------------------------------------------------------------- one verifier per process

_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def shared_verifier(settings: VerifySettings) -> Verifier:
    """The process's verifier for these settings (its caches and prelaunched runner are reused)."""
    key = json.dumps(asdict(settings), sort_keys=True, default=str)
    with _SHARED_LOCK:
        if key not in _SHARED:
            verifier = Verifier(settings)
            _SHARED[key] = verifier
            import atexit

            atexit.register(verifier.close)
        return _SHARED[key]
