"""Start a command under resource limits: ``python limits.py [--as N] [--cpu S] [--fsize N] -- CMD...``.

A kernel is launched through this wrapper (see :class:`grader.grading.kernels.LimitedLauncher`):
it sets the limits with ``setrlimit`` and then *replaces itself* with the kernel (``execvp``), so
the kernel keeps the wrapper's process id, its process group and its parent.

* ``--as``: address space in bytes (``RLIMIT_AS``): an allocation beyond it fails, which Python
  reports as ``MemoryError`` and PyTorch as ``RuntimeError: ... can't allocate memory``.
* ``--cpu``: CPU seconds (``RLIMIT_CPU``): a backstop behind the wall-clock timeout; past it the
  kernel gets ``SIGXCPU``.
* ``--fsize``: largest file the kernel may write (``RLIMIT_FSIZE``), including its own log.
* ``--nproc``, ``--nofile``: processes and threads of the user, open files (used by the sandbox,
  :mod:`.confine`, which shares this table and :func:`apply`).
* core dumps are always disabled.

It is run as a plain script (``python -I -S limits.py``), so it imports nothing but ``os``,
``resource`` and ``sys`` and costs a few milliseconds.
"""

import os
import resource
import sys

LIMITS = {"--as": resource.RLIMIT_AS, "--cpu": resource.RLIMIT_CPU, "--fsize": resource.RLIMIT_FSIZE,
          "--nproc": resource.RLIMIT_NPROC, "--nofile": resource.RLIMIT_NOFILE}


def parse_options(argv, valued, flags=()):
    """``(options, command)`` from ``[OPTION ...] -- COMMAND ...``: ``valued`` options take an integer
    (``--as=N`` or ``--as N``), ``flags`` none. Raises ``ValueError`` on a malformed command line."""
    options = {}
    args = list(argv)
    while args and args[0] != "--":
        option = args.pop(0)
        name, has_value, value = option.partition("=")
        if name in flags and not has_value:
            options[name] = True
            continue
        if name not in valued:
            raise ValueError(f"unknown option {option!r}")
        if not has_value:
            if not args:
                raise ValueError(f"{name} needs a value")
            value = args.pop(0)
        options[name] = int(value)
    if len(args) < 2:
        raise ValueError("expected -- followed by a command")
    return options, args[1:]


def parse(argv):
    """``(limits, command)`` from the arguments; raises ``ValueError`` on a malformed command line."""
    options, command = parse_options(argv, LIMITS)
    return {LIMITS[name]: value for name, value in options.items()}, command


def apply(limits):
    """Set ``limits`` (resource -> value) as soft limits; the hard limit is the same, or 5 s more for CPU."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for which, value in limits.items():
        _, hard = resource.getrlimit(which)
        ceiling = value + 5 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            value, ceiling = min(value, hard), min(ceiling, hard)
        resource.setrlimit(which, (value, ceiling))


def main(argv=None):
    try:
        limits, command = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        sys.stderr.write(f"limits.py: {exc}\n")
        return 2
    apply(limits)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
