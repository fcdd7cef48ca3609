"""Regenerate the student release ``exercises/`` from the source notebooks in ``solutions/``.

Run ``python -m grader.release`` (or ``make exercises``) from anywhere. For every assignment
(a folder of ``solutions/`` holding ``<assignment>.ipynb``) it runs nbgrader's own
``generate_assignment`` on a copy of ``solutions/``, with the course's ``nbgrader_config.py`` and a
throw-away gradebook in a temporary folder, then replaces ``exercises/<assignment>/`` with the
result: solutions replaced by ``raise NotImplementedError()``, hidden tests removed, outputs
cleared, cells locked and checksummed. It also writes ``book/exercises/_release/<assignment>.md``,
the release notebook as Markdown, which the book's exercise pages include.

The output is deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = "solutions"
EXERCISES = "exercises"
BOOK_RELEASE = Path("book") / "exercises" / "_release"


def assignments(root: Path = ROOT) -> list[str]:
    """The assignments: folders of ``solutions/`` that hold a notebook named after the folder."""
    return sorted(p.name for p in (root / SOLUTIONS).iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def ensure_tools_on_path() -> None:
    """nbgrader runs the ``alembic`` command of its environment: put this interpreter's bin/ first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _config(root: Path, course_root: Path):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    return config


def generate(names: list[str] | None = None, *, root: Path = ROOT, out: Path | None = None) -> dict[str, Path]:
    """Run ``nbgrader generate_assignment`` for ``names`` and copy the releases into ``out``.

    Args:
        names: assignments to generate (default: all).
        root: the repository (where ``solutions/`` and ``nbgrader_config.py`` are).
        out: where ``<assignment>/`` folders go (default: ``root/exercises``).

    Returns:
        assignment -> its released folder.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    names = assignments(root) if names is None else list(names)
    out = root / EXERCISES if out is None else Path(out)
    released = {}
    with tempfile.TemporaryDirectory(prefix="hidden-state-release-") as tmp:
        course = Path(tmp)
        shutil.copytree(root / SOLUTIONS, course / SOLUTIONS,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        config = _config(root, course)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel(logging.ERROR)
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n"
                                   f"{result.get('error', '')}\n{result.get('log', '')}")
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / EXERCISES / name, target)
            released[name] = target
    return released


def notebook_markdown(path: Path) -> str:
    """A released notebook as MyST Markdown: its Markdown cells as they are, code cells as Python blocks."""
    notebook = nbformat.read(path, as_version=4)
    parts = [f"% Generated from exercises/{path.parent.name}/{path.name} by `python -m grader.release`: "
             f"do not edit."]
    for cell in notebook.cells:
        source = cell.source.strip("\n")
        if not source:
            continue
        if cell.cell_type == "markdown":
            parts.append(source)
        elif cell.cell_type == "code":
            parts.append(f"```python\n{source}\n```")
    return "\n\n".join(parts) + "\n"


def write_book_pages(names: list[str] | None = None, *, root: Path = ROOT, exercises: Path | None = None,
                     out: Path | None = None) -> dict[str, Path]:
    """Write ``book/exercises/_release/<assignment>.md`` from the released notebooks."""
    names = assignments(root) if names is None else list(names)
    exercises = root / EXERCISES if exercises is None else Path(exercises)
    out = root / BOOK_RELEASE if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in names:
        target = out / f"{name}.md"
        target.write_text(notebook_markdown(exercises / name / f"{name}.ipynb"), encoding="utf-8")
        written[name] = target
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.release", description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignments to regenerate (default: all)")
    args = parser.parse_args(argv)
    names = args.assignments or None
    released = generate(names)
    pages = write_book_pages(list(released))
    for name, folder in released.items():
        print(f"{name}: {folder.relative_to(ROOT)}/, {pages[name].relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
