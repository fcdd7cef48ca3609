"""The sandboxed runner: calls the student's functions on the trusted side's cases, returns plain data.

Started by :mod:`grader.integrity.runners` inside a sandbox (:mod:`grader.sandbox`) as
``python -I -c "...; runner.main()" JOB``, it

1. imports torch and the checks' ``call`` steps (from the sandbox's filtered package, where
   ``grader.reference`` is a stub), then reports ``ready`` and waits for a line on stdin (so it can
   be started ahead of time, while the notebook's kernel runs);
2. reads ``JOB/plan.json`` (the preamble imports, the answer cells' extracted definitions, the
   parts to run) and executes the definitions in a fresh module, ``__submission__``, one answer
   cell at a time;
3. for each part, reads its cases (``JOB/<part>.json`` / ``.npz``, written by the trusted side),
   calls the check's ``call`` step on the student's function for every case (forbidden calls are
   recorded as usual, and the checks' substitutes are :mod:`.stand_ins`), and sends the outcomes
   back.

Everything goes back on file descriptor 3 as frames: ``b"HSR1"``, a 4-byte big-endian header
length, a JSON header, then the payloads the header announces (a bundle of :mod:`grader.codec`, never
pickle). Nothing here decides anything: the trusted side validates every byte it receives and
makes the decision; the student's code runs in this process and could forge any frame, so the
frames are only evidence of what the functions returned (and, for forbidden calls, evidence
*against* the student).
"""

from __future__ import annotations

import __future__
import ast
import importlib
import json
import linecache
import os
import struct
import sys
import types
from pathlib import Path

MAGIC = b"HSR1"
CHANNEL_FD = 3
MODULE = "__submission__"


def send(channel, header: dict, *payloads: bytes) -> None:
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    channel.write(MAGIC + struct.pack(">I", len(data)) + data + b"".join(payloads))
    channel.flush()


class Guard:
    """Keeps the checks' profiler in place: ``sys.setprofile`` and friends, called from the student's
    code, are refused and noted (the checks' own calls come from the package's files)."""

    def __init__(self, package_dir: str):
        self.package_dir = package_dir
        self.notes: list[str] = []

    def install(self) -> None:
        import threading

        for owner, name in ((sys, "setprofile"), (sys, "settrace"), (threading, "setprofile"),
                            (threading, "settrace")):
            original = getattr(owner, name)
            setattr(owner, name, self._guarded(original, f"{owner.__name__}.{name}"))

    def _guarded(self, original, label):
        guard = self

        def guarded(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(guard.package_dir):
                return original(*args, **kwargs)
            note = f"called {label}() (refused: it would switch off the detection of forbidden calls)"
            if note not in guard.notes:
                guard.notes.append(note)
            return None

        return guarded

    def take(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes


def execute_definitions(plan: dict) -> tuple[dict, list[dict]]:
    """Run the preamble and each answer cell's definitions in a fresh module; per-cell errors."""
    from grader.checks.core import error_record

    module = types.ModuleType(MODULE)
    module.__dict__["__builtins__"] = __builtins__
    sys.modules[MODULE] = module
    namespace = module.__dict__
    reports = []
    for index, cell in enumerate([{"grade_id": "(set-up imports)", "code": plan.get("preamble", "")}]
                                 + plan.get("cells", [])):
        code = cell.get("code", "")
        filename = f"<answer cell {cell.get('grade_id', index)}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        report = {"grade_id": cell.get("grade_id"), "error": None}
        for statement in _one_by_one(code, filename):
            try:
                exec(statement, namespace)  # noqa: S102 - this is the sandbox
            except BaseException as exc:  # noqa: BLE001 - any failure of the student's definitions
                kind, message, _ = error_record(exc)
                report["error"] = report["error"] or (f"{kind}: {message}" if message else kind)
        reports.append(report)
    return namespace, reports


def _one_by_one(code: str, filename: str):
    """The cell's statements compiled one at a time (with its ``from __future__`` imports), so that one
    that raises costs only what it defines; the first error of a cell is reported."""
    flags = 0
    for node in ast.parse(code).body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
            continue
        yield compile(ast.Module(body=[node], type_ignores=[]), filename, "exec", flags=flags, dont_inherit=True)


def run_part(part: dict, namespace: dict, cases: list, guard: Guard) -> dict:
    """The outcomes of the student's ``part["name"]`` on ``cases`` (plain data)."""
    from grader.checks import CHECKS
    from grader.checks.core import Outcome, error_record, outcome_tree

    stand_ins = importlib.import_module("grader.reference.stand_ins")

    name = part["name"]
    check = CHECKS[part["check"]]
    substitutes = {key: getattr(stand_ins, key) for key in check.substitutes}  # the runner cannot see the reference
    if name not in namespace:
        return {"status": "undefined", "outcomes": [], "tampering": guard.take()}
    fn = namespace[name]
    outcomes = []
    for case in cases:
        try:
            outcome = check.call(fn, case, student=True, substitutes=substitutes)
        except BaseException as exc:  # noqa: BLE001 - e.g. SystemExit raised by the student's code
            outcome = Outcome(error=error_record(exc))
            if not isinstance(exc, Exception):
                note = f"raised {type(exc).__name__} out of the check"
                if note not in guard.notes:
                    guard.notes.append(note)
        outcomes.append(outcome_tree(outcome))
    return {"status": "ran", "outcomes": outcomes, "tampering": guard.take()}


def _cases(job: Path, bundle: str) -> list:
    from grader import codec
    from grader.checks.core import case_from_tree

    return [case_from_tree(tree) for tree in codec.read_bundle(job, bundle)]


def _foreign_name(value) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}".replace("builtins.", "")


def _prepare():
    """The imports every job needs, done before any student code (once per process, or per template)."""
    import torch

    torch.set_num_threads(1)
    torch._C._set_mkldnn_enabled(False)  # as grader.checks.running.run_check: faster for these tiny shapes
    import torch._dynamo  # noqa: F401 - the first optimizer imports it (1.5 s); once per template, not per job
    import grader.checks  # noqa: F401 - the call steps, imported before any student code runs
    from grader import codec  # noqa: F401

    importlib.import_module("grader.reference.stand_ins")
    return Guard(str(Path(grader.checks.__file__).parents[1]))


def run_job(job: Path, channel, guard: Guard) -> None:
    """Run the job of ``job/plan.json`` and send everything on ``channel``; then end the process."""
    from grader import codec

    plan = json.loads((job / "plan.json").read_text(encoding="utf-8"))
    guard.install()
    namespace, reports = execute_definitions(plan)
    send(channel, {"kind": "cells", "cells": reports, "tampering": guard.take()})
    for part in plan["parts"]:
        send(channel, {"kind": "start", "part": part["key"]})
        try:
            result = run_part(part, namespace, _cases(job, part["cases"]), guard)
            json_bytes, npz_bytes = codec.dumps(result, foreign=_foreign_name)
        except BaseException as exc:  # noqa: BLE001 - report what broke the runner itself
            result = {"status": "runner_error", "outcomes": [], "tampering": guard.take(),
                      "detail": f"{type(exc).__name__}: {str(exc)[:300]}"}
            json_bytes, npz_bytes = codec.dumps(result, foreign=_foreign_name)
        send(channel, {"kind": "result", "part": part["key"], "json": len(json_bytes), "npz": len(npz_bytes)},
             json_bytes, npz_bytes)
    send(channel, {"kind": "end"})
    os._exit(0)  # no interpreter shutdown: threads or finalizers left by the student's code do not run


def main(argv=None) -> None:
    """One runner for one job: ``main JOB CHANNEL_FD``; reports ``ready``, then waits for ``go`` on stdin."""
    argv = sys.argv[1:] if argv is None else argv
    job = Path(argv[0])
    channel = os.fdopen(int(argv[1]) if len(argv) > 1 else CHANNEL_FD, "wb", buffering=0)
    guard = _prepare()
    send(channel, {"kind": "ready"})
    if sys.stdin.readline().strip() != "go":
        os._exit(0)
    run_job(job, channel, guard)


# ----------------------------------------------------------------------------- a template that forks runners


def _child(request: dict, jobs_root: str, guard: Guard) -> None:
    """In a forked child (see :func:`grader.sandbox.forkserver.serve`): a sandbox of its own
    (confine.isolate), then the job. Never returns: 70 if the sandbox could not be set up, 71 if the job broke."""
    from grader.sandbox import confine

    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        confine.isolate(request["uid"], request["tmp_bytes"], job=request["job"], jobs_root=jobs_root,
                        limits=request.get("limits") or {})
        os.chdir("/tmp")
        channel = os.fdopen(os.open("/job/channel", os.O_WRONLY), "wb", buffering=0)
    except BaseException:  # noqa: BLE001 - never return into the template's loop
        os._exit(70)
    try:
        run_job(Path("/job"), channel, guard)
    except BaseException:  # noqa: BLE001
        os._exit(71)
    os._exit(0)


def template_main(argv=None) -> int:
    """A warm runner that forks one isolated child per job: ``template_main JOBS_ROOT``.

    A fork server (:mod:`grader.sandbox.forkserver`) whose preload is the imports every job needs
    and whose requests, ``{"job", "uid", "tmp_bytes", "limits"}``, each fork a child for
    ``JOBS_ROOT/<job>``.
    """
    from grader.sandbox import forkserver

    argv = sys.argv[1:] if argv is None else argv
    jobs_root = argv[0]
    warm: dict = {}

    def preload() -> None:
        warm["guard"] = _prepare()

    return forkserver.serve(lambda request: _child(request, jobs_root, warm["guard"]), preload)
