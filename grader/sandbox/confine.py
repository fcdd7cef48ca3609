"""Confine a command, then become it: ``python -I -S confine.py [OPTIONS] -- CMD ...``.

Run as a plain script (``-I -S``: it imports only the standard library, and
:mod:`.limits` by path), in two places:

* on the host, *in front of* bubblewrap, with ``--ignore-sigint``: jupyter_client interrupts a
  kernel by sending SIGINT to its process group; bubblewrap would die of it (and take the sandbox
  with it), so it is started with SIGINT ignored, which the kernel inside then overrides with its
  own handler;
* inside the sandbox, as root with only ``CAP_SETUID``/``CAP_SETGID``, in front of the student's
  interpreter: it sets the resource limits (``--as`` address space, ``--cpu`` CPU seconds,
  ``--fsize`` largest file, ``--nproc`` processes and threads of the user, ``--nofile`` open
  files; no core dumps), sets ``no_new_privs``, drops every supplementary group and switches to
  ``--uid``/``--gid`` (a user that owns nothing on the host), which also clears every capability,
  and ``exec``\\ s the command.

The process keeps its id, process group and parent across the ``exec``.
"""

import importlib.util
import os
import signal
import sys


def _load_limits():
    """``limits.py`` (the limits table and setter shared with the kernel wrapper), beside this file in
    the package and in the sandbox's bin folder. Loaded by path: this script runs with ``-I -S``."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "limits.py")
    spec = importlib.util.spec_from_file_location("_hidden_state_limits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


limits = _load_limits()
LIMITS = limits.LIMITS
VALUED = set(LIMITS) | {"--uid", "--gid"}
FLAGS = {"--ignore-sigint", "--no-new-privs"}


def parse(argv):
    """``(options, command)``; raises ``ValueError`` on a malformed command line."""
    return limits.parse_options(argv, VALUED, FLAGS)


def _no_new_privs():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS = 38
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def apply(options):
    if options.get("--ignore-sigint"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    limits.apply({which: options[name] for name, which in LIMITS.items() if name in options})
    if options.get("--no-new-privs"):
        _no_new_privs()
    if "--uid" in options:
        gid = options.get("--gid", options["--uid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(options["--uid"], options["--uid"], options["--uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            raise OSError("still root after dropping privileges")


# ----------------------------------------------------------------------------- a forked child's own sandbox

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
OLD_TMP = "/.old-tmp"  # an empty folder of the sandbox, where the old /tmp is held while it is replaced
HOLD = "/.hold"  # likewise, for a child's own folder while the shared one is hidden


def _mounts():
    """``(mount point, options)`` of this mount namespace, from ``/proc/self/mountinfo``."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 5:
                point = fields[4].encode().decode("unicode_escape")
                found.append((point, fields[5].split(",")))
    return found


def _call(result, what):
    if result != 0:
        import ctypes

        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def isolate(uid, tmp_bytes, job=None, jobs_root=None, limits=None, own=None, shared=None):
    """Give a process forked inside a sandbox a sandbox of its own, then drop to ``uid``.

    For a template that forks one child per job (:mod:`grader.integrity.runner`, :mod:`grader.grading.zygote`): the child,
    still root with ``CAP_SYS_ADMIN``/``CAP_SETUID``/``CAP_SETGID``, enters a mount namespace of
    its own, gets a fresh private ``/tmp`` (a ``tmp_bytes`` tmpfs), sees its own job folder
    (``jobs_root/job``) read-only at ``/job`` and an empty folder in place of ``jobs_root``; or,
    for a kernel, only its ``own`` folder (writable, owned by ``uid``, at the same path) of the
    ``shared`` folder of all kernels (``own`` must already belong to ``uid``); then it sets ``limits`` (``{"--as": bytes, ...}`` as on the
    command line), ``no_new_privs``, and becomes ``uid``, which drops every capability. Nothing of
    an earlier child is visible to it.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _call(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _call(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make the mounts private")
    # A fresh /tmp, keeping what the sandbox bound under the old one (e.g. a virtual environment in /tmp).
    kept = [(point, options) for point, options in _mounts() if point.startswith("/tmp/")]
    if kept:
        _call(libc.mount(b"/tmp", OLD_TMP.encode(), None, MS_BIND | MS_REC, None), "keep the old /tmp")
    _call(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, f"size={int(tmp_bytes)},mode=1777".encode()),
          "mount a private /tmp")
    for point, options in sorted(kept, key=lambda item: item[0].count("/")):
        os.makedirs(point, mode=0o755, exist_ok=True)
        _call(libc.mount((OLD_TMP + point[len("/tmp"):]).encode(), point.encode(), None, MS_BIND, None),
              f"bind {point} again")
        if "ro" in options:
            _call(libc.mount(b"none", point.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                             None), f"make {point} read-only")
    if kept:
        _call(libc.umount2(OLD_TMP.encode(), MNT_DETACH), "drop the old /tmp")
    if os.path.isdir("/dev/shm"):
        _call(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=65536,mode=1777"),
              "mount a private /dev/shm")
    if job is not None:
        source = os.path.join(jobs_root, job).encode()
        _call(libc.mount(source, b"/job", None, MS_BIND | MS_REC, None), "bind the job folder")
        _call(libc.mount(b"none", b"/job", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None),
              "make the job folder read-only")
        _call(libc.mount(b"tmpfs", jobs_root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY,
                         b"size=4096,mode=0755"), "hide the other jobs")
    if own is not None:  # (created for this child and owned by uid, by the grader)
        _call(libc.mount(own.encode(), HOLD.encode(), None, MS_BIND, None), "hold the own folder")
        _call(libc.mount(b"tmpfs", shared.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=65536,mode=0755"),
              "hide the other kernels' folders")
        os.makedirs(own, mode=0o755, exist_ok=True)
        _call(libc.mount(HOLD.encode(), own.encode(), None, MS_BIND, None), "show the own folder")
        _call(libc.umount2(HOLD.encode(), MNT_DETACH), "release the own folder")
        _call(libc.mount(b"none", shared.encode(), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                         b"size=65536,mode=0755"), "make the shared folder read-only")
    options = dict(limits or {})
    options.update({"--no-new-privs": True, "--uid": int(uid), "--gid": int(uid)})
    apply(options)


def main(argv=None):
    try:
        options, command = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        sys.stderr.write(f"confine.py: {exc}\n")
        return 2
    try:
        apply(options)
    except OSError as exc:
        sys.stderr.write(f"confine.py: {exc}\n")
        return 125
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
