"""The filtered ``grader`` package a sandbox sees at :data:`.bubblewrap.LIB`, one folder per kind, built once.

``"kernel"``: a ``grader.checks`` whose ``check`` only prints a receipt (:mod:`.stubs.checks`);
``"template"``: that, with the kernel template and what it needs (the fork server, the
confinement); ``"runner"``: the checks' ``call`` steps, the codec, the runner, the fork server and
the confinement, and a stub ``grader.reference`` (:mod:`.stubs.reference`) whose every name raises,
with the checks' stand-ins. Never the real ``grader.reference`` or ``solutions``.
"""

from __future__ import annotations

import atexit
import compileall
import os
import shutil
import tempfile
import threading
from pathlib import Path

from .bubblewrap import PACKAGE

SANDBOX = Path(__file__).parent
STUBS = SANDBOX / "stubs"
_LIBS: dict[str, str] = {}
_LIB_LOCK = threading.Lock()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _lib_files(kind: str) -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """``(files copied: (source, path in the library), files written: path -> text)`` of a library."""
    copied = [(PACKAGE / "__init__.py", "grader/__init__.py")]
    written = {}
    if kind in ("template", "runner"):  # the fork server of both templates, the confinement of their children
        copied += [(SANDBOX / name, f"grader/sandbox/{name}")
                   for name in ("__init__.py", "forkserver.py", "confine.py", "limits.py")]
    if kind in ("kernel", "template"):
        copied.append((STUBS / "checks.py", "grader/checks/__init__.py"))
    if kind == "template":  # the kernel template (grader.grading.zygote)
        copied += [(PACKAGE / "grading" / name, f"grader/grading/{name}") for name in ("__init__.py", "zygote.py")]
    if kind == "runner":
        integrity = PACKAGE / "integrity"
        copied += [(path, f"grader/checks/{path.name}") for path in sorted((PACKAGE / "checks").glob("*.py"))]
        copied += [(integrity / "runner.py", "grader/integrity/runner.py"), (PACKAGE / "codec.py", "grader/codec.py"),
                   (integrity / "stand_ins.py", "grader/reference/stand_ins.py"),
                   (STUBS / "reference.py", "grader/reference/__init__.py")]
        written["grader/integrity/__init__.py"] = '"""The sandboxed side of the verification."""\n'
    return copied, written


def build_lib(kind: str) -> str:
    """A host folder holding the filtered ``grader`` package for a sandbox; built once per process.

    ``"runner"``: ``grader/__init__.py``, ``grader/codec.py``, ``grader/checks/`` (the ``call`` steps the
    runner needs), ``grader/integrity/`` (the runner only) and, as ``grader/reference/``, a stub
    whose every name raises, plus ``stand_ins.py``. ``"kernel"``: ``grader/__init__.py`` and a
    ``grader/checks`` whose ``check`` only prints a receipt (:mod:`.stubs.checks`). ``"template"``:
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

