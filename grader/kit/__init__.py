"""The student kit: what an instructor hands to a class (``make student-kit`` or ``python -m grader.kit``).

``dist/student-kit/`` receives:

* ``exercises/<assignment>/<assignment>.ipynb``: the release notebooks (``exercises/``);
* ``hidden_state_kit-<version>-py3-none-any.whl``: the package the notebooks and the chapters import,
  staged from ``grader/`` without the grading side (:data:`INSTRUCTOR_ONLY`: the answers, the grading
  pipeline, the trusted verification, the course's build tools), with the checks' recorded cases
  (:func:`grader.checks.sources.record`, visible seeds only);
* ``README.md``: how a student sets it up and works (``grader/kit/README.md``).

Before the wheel is built, the staged package is searched for every graded part's implementation
(:mod:`grader.leaks`); the build stops if one is found.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader import __version__, coursework

ROOT = coursework.ROOT
HERE = Path(__file__).parent
PACKAGE = ROOT / "grader"
DEFAULT_OUT = ROOT / "dist" / "student-kit"

# Parts of grader/ that stay with the instructor (paths relative to grader/).
INSTRUCTOR_ONLY = ("answers", "grading", "integrity", "sandbox", "kit", "coursework.py", "release.py", "leaks.py",
                   "similarity.py", "__main__.py")


class KitError(RuntimeError):
    """The kit cannot be built; the message says why."""


@dataclass
class Kit:
    """A built kit: its folder, wheel, notebooks, and how many cases were recorded per check."""

    folder: Path
    wheel: Path
    notebooks: list[Path]
    recorded: dict[str, int]

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def _ignore(directory: str, names: list[str]) -> list[str]:
    top = Path(directory) == PACKAGE
    return [n for n in names if n in ("__pycache__", ".ipynb_checkpoints") or n.endswith(".pyc")
            or (top and n in INSTRUCTOR_ONLY)]


def stage(staging: Path) -> dict[str, int]:
    """The kit's source tree in ``staging``: the filtered package, its recorded cases, pyproject.toml, README."""
    from grader.checks import CHECKS, sources

    shutil.copytree(PACKAGE, staging / "grader", ignore=_ignore)
    recorded = sources.record(list(CHECKS.values()), staging / "grader" / "checks" / "recorded")
    for name in ("pyproject.toml", "README.md"):
        text = (HERE / name).read_text(encoding="utf-8").replace("{version}", __version__)
        (staging / name).write_text(text, encoding="utf-8")
    return recorded


def leaks(folder: Path) -> list:
    """Every graded implementation found in the files below ``folder`` (see :mod:`grader.leaks`)."""
    from grader import leaks as leak_scan, similarity

    detector = similarity.Detector(leak_scan.graded_implementations())
    return leak_scan.scan(folder, detector)


def build_wheel(staging: Path, out: Path) -> Path:
    """Build the wheel of ``staging`` into ``out`` with this environment's setuptools (nothing downloaded)."""
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--wheel-dir", str(out), str(staging)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise KitError(f"building the wheel failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    wheels = sorted(out.glob("hidden_state_kit-*.whl"))
    if len(wheels) != 1:
        raise KitError(f"expected one wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def build(out: Path = DEFAULT_OUT) -> Kit:
    """Build the kit into ``out`` (emptied first)."""
    from grader.release import assignments

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="hidden-state-kit-") as tmp:
        staging = Path(tmp)
        recorded = stage(staging)
        found = leaks(staging / "grader")
        if found:
            listing = "\n".join(f"  {match}" for match in found)
            raise KitError(f"the kit would contain the implementation of graded parts:\n{listing}")
        wheel = build_wheel(staging, out)
        shutil.copy(staging / "README.md", out / "README.md")
    notebooks = []
    for assignment in assignments(ROOT):
        notebook = coursework.release_notebook_path(assignment)
        target = out / "exercises" / assignment / notebook.name
        target.parent.mkdir(parents=True)
        shutil.copy(notebook, target)
        notebooks.append(target)
    return Kit(folder=out, wheel=wheel, notebooks=notebooks, recorded=recorded)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.kit", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to build (default: dist/student-kit)")
    args = parser.parse_args(argv)
    try:
        kit = build(args.out)
    except KitError as exc:
        print(f"python -m grader.kit: {exc}", file=sys.stderr)
        return 1
    cases = sum(kit.recorded.values())
    print(f"student kit in {kit.folder}: {kit.wheel.name} ({kit.wheel.stat().st_size / 2**20:.1f} MiB), "
          f"{len(kit.notebooks)} notebooks, {cases} recorded cases of {len(kit.recorded)} checks; "
          f"{kit.size() / 2**20:.1f} MiB in all")
    return 0
