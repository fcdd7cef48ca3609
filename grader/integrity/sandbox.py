"""The sandbox student code runs in while it is graded: bubblewrap, a private file system, limits.

Both places where a submission's code runs during grading go through :class:`Sandbox`: the
notebook's kernel (:class:`SandboxKernelLauncher`) and the verification runner
(:mod:`grader.integrity.runner`, started by :mod:`grader.integrity.runners`). A sandbox is a
``bwrap`` command line (Debian's ``bubblewrap``; run as root it needs no daemon and no user
namespaces):

* **file system**: an empty root with, read-only, only what Python needs: ``/usr`` (and the
  ``/bin``, ``/lib*`` links), a few files of ``/etc`` (the dynamic loader's cache, ``passwd``,
  ``group``, ``nsswitch.conf``, ``localtime``), the Python installation, the virtual environment
  and its site-packages (with any installed copy of the ``grader`` package hidden under an empty
  tmpfs); a size-limited private ``/tmp`` (also ``HOME``); ``/proc`` of its own PID namespace and
  a minimal ``/dev``. The course's ``grader`` package is *not* there: a filtered copy is, at
  :data:`LIB` (see :func:`build_lib`), without ``grader/reference`` (a stub stands in for it), and,
  for the kernel, without ``grader/checks`` either. ``solutions/``, the gradebook, the workspace
  and other students' files are never bound; :meth:`Sandbox.command` refuses a bind that would
  expose a protected path (:func:`protected_paths`).
* **namespaces**: its own network (no interface but an unconfigured loopback: no network at
  all), PID, IPC, UTS and cgroup namespaces; it dies with the process that started it.
* **identity**: bubblewrap keeps only ``CAP_SETUID``/``CAP_SETGID``; :mod:`.confine` then drops
  to a user id that owns nothing on the host (a fresh one per sandbox, so that one submission's
  process limit cannot starve another's), which clears every capability, and sets
  ``no_new_privs``.
* **limits** (:class:`Limits`, set by :mod:`.confine` with ``setrlimit``): address space, CPU
  seconds, largest file, number of processes and threads, open files; no core dumps.
* **environment**: only what the caller passes (no inherited secrets), ``HOME=/tmp``.

:func:`available` tells whether this works on this machine (``bwrap`` installed and runnable as
root). Without it, grading refuses to run unless told to run unsandboxed
(:class:`Unsandboxed`), and then every result is marked ``unsandboxed``.
"""

from __future__ import annotations

import atexit
import compileall
import functools
import itertools
import os
import shutil
import site
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_ROOT = "/opt/hidden-state"
LIB = f"{SANDBOX_ROOT}/lib"      # the filtered grader package (read-only)
BIN = f"{SANDBOX_ROOT}/bin"      # confine.py and limits.py (read-only)
CONFINE = Path(__file__).with_name("confine.py")
PACKAGE = Path(__file__).resolve().parents[1]  # the real grader package

GiB = 2**30
MiB = 2**20
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
             "host.conf")
UID_BASE = 620_000  # sandbox users: UID_BASE .. UID_BASE + UID_SPAN - 1 (none exists on the host)
UID_SPAN = 60_000


class SandboxError(RuntimeError):
    """The sandbox cannot be set up as asked (a bind would expose a protected path, bwrap missing...)."""


@dataclass
class Limits:
    """Resource limits of one sandboxed process tree (``None``: not limited)."""

    memory_bytes: int | None = 4 * GiB       # RLIMIT_AS of each process
    cpu_seconds: int | None = 300            # RLIMIT_CPU of each process
    file_bytes: int | None = 256 * MiB       # RLIMIT_FSIZE: largest file it may write
    processes: int | None = 256              # RLIMIT_NPROC: processes and threads of its user
    open_files: int | None = 1024            # RLIMIT_NOFILE
    tmp_bytes: int = 256 * MiB               # size of its private /tmp

    def confine_options(self) -> list[str]:
        options = []
        for flag, value in (("--as", self.memory_bytes), ("--cpu", self.cpu_seconds), ("--fsize", self.file_bytes),
                            ("--nproc", self.processes), ("--nofile", self.open_files)):
            if value:
                options.append(f"{flag}={int(value)}")
        return options


# ----------------------------------------------------------------------------- availability


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """``None`` if a sandbox runs here, else why not."""
    if bwrap_path() is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    if os.geteuid() != 0:
        return "the grader must run as root to drop sandboxed code to an unprivileged user"
    try:
        box = Sandbox(limits=Limits(memory_bytes=None, cpu_seconds=10, processes=None))
        result = subprocess.run(box.command([python_in_sandbox(), "-I", "-S", "-c", "import os; print(os.getuid())"]),
                                env=box.environment(), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError, SandboxError) as exc:
        return f"bubblewrap does not run here ({type(exc).__name__}: {exc})"
    if result.returncode != 0 or result.stdout.strip() != str(box.uid):
        detail = (result.stderr or result.stdout).strip().splitlines()
        return f"bubblewrap does not run here ({detail[-1] if detail else f'exit code {result.returncode}'})"
    return None


def available() -> bool:
    """Does a bubblewrap sandbox work on this machine (bwrap installed, running as root)?"""
    return _probe() is None


def unavailable_reason() -> str:
    return _probe() or ""


ALLOW_ENV = "HIDDEN_STATE_UNSANDBOXED"


def allowed_unsandboxed() -> bool:
    """Whether ``HIDDEN_STATE_UNSANDBOXED`` allows plain ``nbgrader autograde`` to grade without a sandbox."""
    return os.environ.get(ALLOW_ENV, "") not in ("", "0", "false", "no")


class Unsandboxed(RuntimeError):
    """Raised when grading would run student code without a sandbox and that was not allowed."""

    def __init__(self, reason: str):
        super().__init__(f"no sandbox: {reason}. Install bubblewrap and run as root, or allow grading "
                         f"without a sandbox explicitly (--unsandboxed; every result is then marked unsandboxed).")


# ----------------------------------------------------------------------------- what Python needs


def python_in_sandbox() -> str:
    """The interpreter to run inside: the environment's ``bin/python`` (a venv keeps its site-packages)."""
    return os.path.join(os.path.realpath(sys.prefix), "bin", os.path.basename(sys.executable) or "python3")


def _real(path) -> str:
    return os.path.realpath(str(path))


@functools.lru_cache(maxsize=1)
def python_binds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(read-only directories, directories to hide)`` that the interpreter and its packages need."""
    roots = []
    for prefix in (sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        if prefix:
            roots.append(_real(prefix))
    for directory in site.getsitepackages() + [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]:
        if os.path.isdir(directory):
            roots.append(_real(directory))
    # the interpreter binary may live elsewhere (a symlink from the venv)
    roots.append(_real(os.path.dirname(_real(python_in_sandbox()))))
    binds = []
    for root in sorted(set(roots), key=len):
        if root.startswith("/usr/") or root == "/usr":
            continue
        if any(root == b or root.startswith(b + os.sep) for b in binds):
            continue
        binds.append(root)
    hidden = []
    for directory in set(roots):
        candidate = os.path.join(directory, "grader")
        if os.path.isdir(candidate) and os.path.realpath(candidate) != str(PACKAGE):
            hidden.append(candidate)  # an installed (not editable) copy of the course's package
    return tuple(binds), tuple(sorted(hidden))


def protected_paths(extra=()) -> list[str]:
    """Paths a sandbox must never see: the real grader package (with grader/reference) and ``extra``."""
    paths = [str(PACKAGE), str(PACKAGE / "reference")]
    for path in extra:
        if path:
            paths.append(_real(path))
    return paths


# ----------------------------------------------------------------------------- the filtered package

KERNEL_CHECKS = '''"""Grading stand-in for ``grader.checks`` inside the sandboxed kernel.

While a class is graded, the notebook's own test cells decide nothing: every part is verified by
the trusted grader, outside this process, on the definitions of your answer cells. ``check`` here
only records that the test cell ran.
"""

RECEIPT = "{name}: recorded; graded by the trusted verification (outside this notebook)"


def check(fn, seeds=None, hidden=False):
    name = getattr(fn, "__name__", None)
    if name is None:
        raise TypeError("check() expects the function or class of an exercise")
    print(RECEIPT.format(name=name))
'''

REFERENCE_STUB = '''"""Not the course's reference: a stand-in used while grading.

``grader.reference`` is not available to code being graded. Every name here is a placeholder
that raises when used; ``stand_ins`` holds the few functions the checks substitute for a
student's helper while grading another part, written with PyTorch's own operations.
"""


class Unavailable(RuntimeError):
    pass


def _placeholder(name):
    def unavailable(*args, **kwargs):
        raise Unavailable(f"grader.reference.{name} is not available while grading: "
                          f"exercises may not use the reference implementation")

    kind = type(name, (), {"__init__": unavailable, "__call__": unavailable, "__module__": __name__,
                           "__doc__": "not available while grading"})
    return kind


def __getattr__(name):
    if name.startswith("__") or name == "stand_ins":
        raise AttributeError(name)
    value = _placeholder(name)
    globals()[name] = value
    return value
'''

_LIBS: dict[str, str] = {}
_LIB_LOCK = threading.Lock()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _lib_files(kind: str) -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """``(files copied: (source, path in the library), files written: path -> text)`` of a library."""
    integrity = Path(__file__).parent
    copied = [(PACKAGE / "__init__.py", "grader/__init__.py")]
    written = {}
    if kind in ("template", "runner"):  # the fork server of both templates, the confinement of their children
        copied += [(PACKAGE / "sandbox" / name, f"grader/sandbox/{name}") for name in ("__init__.py", "forkserver.py")]
        copied += [(integrity / "confine.py", "grader/integrity/confine.py"),
                   (PACKAGE / "grading" / "limits.py", "grader/grading/limits.py")]
    if kind in ("kernel", "template"):
        written["grader/checks/__init__.py"] = KERNEL_CHECKS
    if kind == "template":  # the kernel template (grader.grading.zygote)
        copied += [(PACKAGE / "grading" / name, f"grader/grading/{name}") for name in ("__init__.py", "zygote.py")]
        written["grader/integrity/__init__.py"] = '"""The isolation of forked kernels."""\n'
    if kind == "runner":
        copied += [(path, f"grader/checks/{path.name}") for path in sorted((PACKAGE / "checks").glob("*.py"))]
        copied += [(integrity / "runner.py", "grader/integrity/runner.py"), (PACKAGE / "codec.py", "grader/codec.py"),
                   (integrity / "stand_ins.py", "grader/reference/stand_ins.py")]
        written["grader/integrity/__init__.py"] = '"""The sandboxed side of the verification."""\n'
        written["grader/reference/__init__.py"] = REFERENCE_STUB
    return copied, written


def build_lib(kind: str) -> str:
    """A host folder holding the filtered ``grader`` package for a sandbox; built once per process.

    ``"runner"``: ``grader/__init__.py``, ``grader/codec.py``, ``grader/checks/`` (the ``call`` steps the
    runner needs), ``grader/integrity/`` (the runner only) and, as ``grader/reference/``, a stub
    whose every name raises, plus ``stand_ins.py``. ``"kernel"``: ``grader/__init__.py`` and a
    ``grader/checks`` whose ``check`` only prints a receipt (:data:`KERNEL_CHECKS`). ``"template"``:
    the kernel's, with the kernel template. The templates' have the fork server and the confinement.
    """
    if kind not in ("runner", "kernel", "template"):
        raise ValueError(kind)
    with _LIB_LOCK:
        if kind in _LIBS and os.path.isdir(_LIBS[kind]):
            return _LIBS[kind]
        root = Path(tempfile.mkdtemp(prefix=f"hidden-state-{kind}-lib-"))
        atexit.register(shutil.rmtree, root, True)
        copied, written = _lib_files(kind)
        for source, target in copied:
            _copy(source, root / target)
        for target, text in written.items():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            (root / target).write_text(text, encoding="utf-8")
        compileall.compile_dir(str(root), quiet=2, workers=1)
        for directory, _, files in os.walk(root):
            os.chmod(directory, 0o755)
            for name in files:
                os.chmod(os.path.join(directory, name), 0o644)
        _LIBS[kind] = str(root)
        return str(root)


# ----------------------------------------------------------------------------- a sandbox

_uids = itertools.count()


def fresh_uid() -> int:
    """A user id for one sandbox, distinct from those of other live sandboxes of this machine."""
    return UID_BASE + (os.getpid() * 97 + next(_uids)) % UID_SPAN


@dataclass
class Sandbox:
    """One sandboxed command's view of the machine (see the module's docstring).

    Attributes:
        ro: ``(host path, path inside)`` bound read-only, in addition to what Python needs.
        rw: ``(host path, path inside)`` bound read-write (only folders created for this sandbox).
        env: the environment inside (``HOME``, ``PATH`` and ``LANG`` are added).
        lib: the filtered package folder to bind at :data:`LIB` (from :func:`build_lib`), or ``None``.
        protect: more host paths that no bind may expose (course root files, the workspace...).
        uid: the user the command runs as (:func:`fresh_uid`); ``None`` keeps root inside, only for a
            template that forks children which drop privileges themselves (:func:`.confine.isolate`).
        caps: the capabilities bubblewrap keeps for the inside (dropped with the switch to ``uid``).
        dirs: empty folders to create inside (mount points).
    """

    ro: list = field(default_factory=list)
    rw: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    lib: str | None = None
    limits: Limits = field(default_factory=Limits)
    cwd: str = "/tmp"
    uid: int | None = field(default_factory=fresh_uid)
    protect: list = field(default_factory=list)
    caps: tuple = ("CAP_SETUID", "CAP_SETGID")
    dirs: list = field(default_factory=list)

    def environment(self) -> dict:
        env = {"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "USER": "student",
               "LOGNAME": "student", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/.mpl"}
        env.update({key: str(value) for key, value in self.env.items()})
        return env

    def _check_binds(self, binds) -> None:
        protected = protected_paths(self.protect)
        for host, _ in binds:
            real = _real(host)
            for path in protected:
                if real == path or path.startswith(real.rstrip(os.sep) + os.sep) or real.startswith(path + os.sep):
                    raise SandboxError(f"refusing to bind {host} into a sandbox: it would expose {path}")

    def bwrap_arguments(self) -> list[str]:  # noqa: C901
        python_dirs, hidden = python_binds()
        binds = [(d, d) for d in python_dirs] + [(h, i) for h, i in self.ro]
        self._check_binds(binds + list(self.rw))
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--die-with-parent", "--cap-drop", "ALL"]
        for cap in self.caps:
            args += ["--cap-add", cap]
        made = {"/", "/tmp"}

        def parents(path):
            out = []
            parts = Path(path).parts
            for i in range(2, len(parts)):
                ancestor = str(Path(*parts[:i]))
                if ancestor not in made:
                    made.add(ancestor)
                    out += ["--perms", "0755", "--dir", ancestor]
            return out

        args += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = f"/{name}"
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        args += ["--perms", "0755", "--dir", "/etc"]
        made.add("/etc")
        for name in ETC_FILES:
            path = f"/etc/{name}"
            if os.path.exists(path):
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(int(self.limits.tmp_bytes)), "--perms", "1777",
                 "--tmpfs", "/tmp"]
        for host, inside in binds:
            args += parents(inside) + ["--ro-bind", host, inside]
            made.add(inside)
        for path in hidden:
            args += ["--tmpfs", path]
        args += parents(BIN) + ["--perms", "0755", "--dir", BIN, "--ro-bind", str(CONFINE), f"{BIN}/confine.py"]
        limits_script = PACKAGE / "grading" / "limits.py"
        if limits_script.is_file():
            args += ["--ro-bind", str(limits_script), f"{BIN}/limits.py"]
        if self.lib:
            args += parents(LIB) + ["--ro-bind", self.lib, LIB]
        for host, inside in self.rw:
            args += parents(inside) + ["--bind", host, inside]
            made.add(inside)
        for inside in self.dirs:
            args += parents(inside) + ["--perms", "0755", "--dir", inside]
            made.add(inside)
        # jupyter_client sets JPY_PARENT_PID; inside the PID namespace the kernel's parent is the
        # namespace's init, which ipykernel would take for a dead parent and exit.
        args += ["--unsetenv", "JPY_PARENT_PID", "--chdir", self.cwd]
        return args

    def inner_prefix(self) -> list[str]:
        """What runs first inside: :mod:`.confine` (limits, no_new_privs, drop to :attr:`uid`)."""
        identity = [] if self.uid is None else [f"--uid={self.uid}", f"--gid={self.uid}"]
        return [python_in_sandbox(), "-I", "-S", f"{BIN}/confine.py", *self.limits.confine_options(),
                "--no-new-privs", *identity, "--"]

    def command(self, argv: list[str]) -> list[str]:
        """The full command line: SIGINT-proof launcher, bubblewrap, confine, then ``argv``."""
        bwrap = bwrap_path()
        if bwrap is None:
            raise SandboxError("bwrap is not installed")
        outer = [sys.executable, "-I", "-S", str(CONFINE), "--ignore-sigint", "--"]
        return [*outer, bwrap, *self.bwrap_arguments(), "--", *self.inner_prefix(), *argv]


def make_private_dir(parent: str | Path | None = None, prefix: str = "hidden-state-", owner: int | None = None,
                     mode: int = 0o700) -> Path:
    """A fresh folder (root-owned unless ``owner``), for one sandbox."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=str(parent) if parent else None))
    if owner is not None:
        os.chown(path, owner, owner)
    os.chmod(path, mode)
    return path


# ----------------------------------------------------------------------------- kernels


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

    def __init__(self, limits: Limits | None = None, protect=(), base: str | None = None):
        self.limits = limits or Limits(memory_bytes=None, cpu_seconds=None, file_bytes=None)
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
        limits_script = str(PACKAGE / "grading" / "limits.py")
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
        limits = Limits(memory_bytes=self.limits.memory_bytes, cpu_seconds=None, file_bytes=None, processes=None,
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
        limits = {}
        for option in self.limits.confine_options():
            name, _, value = option.partition("=")
            limits[name] = int(value)
        threading.Thread(target=_lock_when_bound, args=(folder,), daemon=True).start()
        return {**request, "connection_file": str(connection), "log": str(log), "cwd": "/tmp",
                "env": self.environment(dict(request.get("env") or {})),
                "isolate": {"uid": uid, "tmp_bytes": self.limits.tmp_bytes, "own": str(folder),
                            "shared": str(self._base()), "limits": limits}}

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
