"""The sandbox student code runs in while it is graded: the bubblewrap command line, a private file system, limits.

Both places where a submission's code runs during grading go through :class:`Sandbox`: the
notebook's kernel (:class:`.kernel_launcher.SandboxKernelLauncher`) and the verification runner
(:mod:`grader.integrity.runner`, started by :mod:`grader.integrity.runners`). A sandbox is a
``bwrap`` command line (Debian's ``bubblewrap``; run as root it needs no daemon and no user
namespaces):

* **file system**: an empty root with, read-only, only what Python needs: ``/usr`` (and the
  ``/bin``, ``/lib*`` links), a few files of ``/etc`` (the dynamic loader's cache, ``passwd``,
  ``group``, ``nsswitch.conf``, ``localtime``), the Python installation, the virtual environment
  and its site-packages (with any installed copy of the ``grader`` package hidden under an empty
  tmpfs); a size-limited private ``/tmp`` (also ``HOME``); ``/proc`` of its own PID namespace and
  a minimal ``/dev``. The course's ``grader`` package is *not* there: a filtered copy is, at
  :data:`LIB` (see :func:`.library.build_lib`), without ``grader/reference`` (a stub stands in for it), and,
  for the kernel, without ``grader/checks`` either. ``solutions/``, the gradebook, the workspace
  and other students' files are never bound; :meth:`Sandbox.command` refuses a bind that would
  expose a protected path (:func:`protected_paths`).
* **namespaces**: its own network (no interface but an unconfigured loopback: no network at
  all), PID, IPC, UTS and cgroup namespaces; it dies with the process that started it.
* **identity**: bubblewrap keeps only ``CAP_SETUID``/``CAP_SETGID``; :mod:`.confine` then drops
  to a user id that owns nothing on the host (a fresh one per sandbox, so that one submission's
  process limit cannot starve another's), which clears every capability, and sets
  ``no_new_privs``.
* **limits** (:class:`ResourceLimits`, set by :mod:`.confine` with ``setrlimit``): address space, CPU
  seconds, largest file, number of processes and threads, open files; no core dumps.
* **environment**: only what the caller passes (no inherited secrets), ``HOME=/tmp``.

Whether it works on this machine: :mod:`.availability`.
"""

from __future__ import annotations

import functools
import itertools
import os
import site
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_ROOT = "/opt/hidden-state"
LIB = f"{SANDBOX_ROOT}/lib"      # the filtered grader package (read-only)
BIN = f"{SANDBOX_ROOT}/bin"      # confine.py and limits.py (read-only)
CONFINE = Path(__file__).with_name("confine.py")
LIMITS_SCRIPT = Path(__file__).with_name("limits.py")
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
class ResourceLimits:
    """Resource limits of one sandboxed process tree (``None``: not limited)."""

    memory_bytes: int | None = 4 * GiB       # RLIMIT_AS of each process
    cpu_seconds: int | None = 300            # RLIMIT_CPU of each process
    file_bytes: int | None = 256 * MiB       # RLIMIT_FSIZE: largest file it may write
    processes: int | None = 256              # RLIMIT_NPROC: processes and threads of its user
    open_files: int | None = 1024            # RLIMIT_NOFILE
    tmp_bytes: int = 256 * MiB               # size of its private /tmp

    def options(self) -> dict[str, int]:
        """The limits set, as :mod:`.confine`'s and :mod:`.limits`' options (``{"--as": bytes, ...}``)."""
        chosen = (("--as", self.memory_bytes), ("--cpu", self.cpu_seconds), ("--fsize", self.file_bytes),
                  ("--nproc", self.processes), ("--nofile", self.open_files))
        return {flag: int(value) for flag, value in chosen if value}

    def confine_options(self) -> list[str]:
        """:meth:`options` on a command line."""
        return [f"{flag}={value}" for flag, value in self.options().items()]



def bwrap_path() -> str | None:
    import shutil

    return shutil.which("bwrap")


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
        lib: the filtered package folder to bind at :data:`LIB` (from :func:`.library.build_lib`), or ``None``.
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
    limits: ResourceLimits = field(default_factory=ResourceLimits)
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

    def bwrap_arguments(self) -> list[str]:
        python_dirs, hidden = python_binds()
        binds = [(d, d) for d in python_dirs] + [(h, i) for h, i in self.ro]
        self._check_binds(binds + list(self.rw))
        dirs = _Folders()
        args = self._namespaces() + _system_arguments()
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(int(self.limits.tmp_bytes)), "--perms", "1777",
                 "--tmpfs", "/tmp"]
        for host, inside in binds:
            args += dirs.mount(inside, "--ro-bind", host, inside)
        for path in hidden:
            args += ["--tmpfs", path]
        args += dirs.parents(BIN) + ["--perms", "0755", "--dir", BIN, "--ro-bind", str(CONFINE), f"{BIN}/confine.py",
                                     "--ro-bind", str(LIMITS_SCRIPT), f"{BIN}/limits.py"]
        if self.lib:
            args += dirs.parents(LIB) + ["--ro-bind", self.lib, LIB]
        for host, inside in self.rw:
            args += dirs.mount(inside, "--bind", host, inside)
        for inside in self.dirs:
            args += dirs.mount(inside, "--perms", "0755", "--dir", inside)
        # jupyter_client sets JPY_PARENT_PID; inside the PID namespace the kernel's parent is the
        # namespace's init, which ipykernel would take for a dead parent and exit.
        args += ["--unsetenv", "JPY_PARENT_PID", "--chdir", self.cwd]
        return args

    def _namespaces(self) -> list[str]:
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--die-with-parent", "--cap-drop", "ALL"]
        for cap in self.caps:
            args += ["--cap-add", cap]
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



class _Folders:
    """The folders made inside so far, so that each parent of a mount point is made once."""

    def __init__(self):
        self.made = {"/", "/tmp", "/etc"}

    def parents(self, path: str) -> list[str]:
        out = []
        parts = Path(path).parts
        for i in range(2, len(parts)):
            ancestor = str(Path(*parts[:i]))
            if ancestor not in self.made:
                self.made.add(ancestor)
                out += ["--perms", "0755", "--dir", ancestor]
        return out

    def mount(self, inside: str, *arguments: str) -> list[str]:
        """``arguments`` (a mount at ``inside``) after whatever makes its parents."""
        out = self.parents(inside) + list(arguments)
        self.made.add(inside)
        return out


def _system_arguments() -> list[str]:
    """``/usr`` and its links, and the few files of ``/etc`` Python needs, read-only."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        path = f"/etc/{name}"
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args
