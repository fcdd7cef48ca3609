"""The course's assignments, and their preparation in a workspace with nbgrader.

An assignment is a folder of ``solutions/`` holding nbgrader source notebooks (solutions and
hidden tests). :func:`prepare` copies it to ``DIR/source/<assignment>/`` and runs nbgrader's own
``GenerateAssignment`` converter, with the course's ``nbgrader_config.py``, once for the real
gradebook and once for the *template* gradebook the workers copy. That records the cells, their
points and checksums and the full test source (hidden tests included) exactly as
``nbgrader generate_assignment`` would, and writes the release to ``DIR/release/`` (the same
notebooks as ``exercises/``, since the same configuration generates both).

:class:`AssignmentSpec` is what a worker needs to know about an assignment: its notebooks, their
graded parts, the released notebooks (to recognise cells and detect tampering) and the lines of
the hidden tests (to keep them out of the feedback).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.notebooks import hidden_lines
from grader import release

from .results import PartResult
from .submissions import folder_fingerprint

# Bump when a change of the grader changes grades or feedback: every submission is graded again.
GRADING_VERSION = "2"

SOLUTIONS = "solutions"


class CourseError(RuntimeError):
    """The course folder or an assignment cannot be used."""


def ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` (of its own environment) when it creates a gradebook.

    It runs ``alembic heads`` as a command only to learn the newest revision of its own schema,
    which costs seconds; the same answer is read in-process from nbgrader's alembic scripts (with
    nbgrader's command as the fallback).
    """
    release.ensure_tools_on_path()
    import warnings

    from sqlalchemy.exc import SAWarning

    # nbgrader 0.9's gradebook code triggers SQLAlchemy 2 warnings about its own session use.
    warnings.filterwarnings("ignore", category=SAWarning)
    import nbgrader.api as api

    if getattr(api.get_alembic_version, "in_process", False):
        return
    original = api.get_alembic_version

    def get_alembic_version() -> str:
        try:
            import nbgrader
            from alembic.config import Config
            from alembic.script import ScriptDirectory

            config = Config()
            config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
            return ScriptDirectory.from_config(config).get_current_head()
        except Exception:  # noqa: BLE001
            return original()

    get_alembic_version.in_process = True
    api.get_alembic_version = get_alembic_version


@dataclass
class Part:
    notebook: str
    grade_id: str
    points: float
    column: str

    def result(self) -> PartResult:
        return PartResult(notebook=self.notebook, grade_id=self.grade_id, column=self.column,
                          max_score=self.points, score=0.0)


@dataclass
class AssignmentSpec:
    """What grading needs to know about one assignment (plain data: it is sent to the workers)."""

    name: str
    notebooks: list[str]                   # notebook names without .ipynb, sorted
    parts: list[Part]                      # in notebook order, then cell order
    release: dict[str, object]             # notebook -> the released notebook (a NotebookNode)
    hidden: dict[str, list[str]]           # notebook -> lines of its hidden tests
    fingerprint: str = ""
    kernel_name: dict[str, str] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return sum(part.points for part in self.parts)

    def empty_parts(self, notebook: str | None = None) -> list[PartResult]:
        return [part.result() for part in self.parts if notebook is None or part.notebook == notebook]


class Course:
    """A course folder: ``solutions/<assignment>/*.ipynb`` and, optionally, ``nbgrader_config.py``."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.solutions = self.root / SOLUTIONS
        if not self.solutions.is_dir():
            raise CourseError(f"{self.root} has no {SOLUTIONS}/ folder: run the command from the course root "
                              f"(or pass --course)")

    @property
    def assignments(self) -> list[str]:
        return sorted(p.name for p in self.solutions.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))

    def config(self):
        """The course's nbgrader configuration (``nbgrader_config.py``), or an empty one."""
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        if (self.root / "nbgrader_config.py").is_file():
            return PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        return Config()

    def course_id(self) -> str:
        config = self.config()
        if "CourseDirectory" in config and "course_id" in config.CourseDirectory:
            return config.CourseDirectory.course_id
        return ""

    def fingerprint(self, name: str) -> str:
        digest = hashlib.sha256(f"grading-version:{GRADING_VERSION}\n".encode())
        digest.update(folder_fingerprint(self.solutions / name).encode())
        config_file = self.root / "nbgrader_config.py"
        if config_file.is_file():
            digest.update(config_file.read_bytes())
        return digest.hexdigest()


def _columns(name: str, notebooks: list[str], grade_ids: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    if len(notebooks) == 1:
        return {(nb, gid): f"{name}:{gid}" for nb, gid in grade_ids}
    return {(nb, gid): f"{name}:{nb}:{gid}" for nb, gid in grade_ids}


def load_spec(name: str, source_dir: Path, release_dir: Path, fingerprint: str) -> AssignmentSpec:
    """Read an assignment's source and release notebooks (as nbgrader prepared them) into a spec."""
    import nbformat

    notebooks = sorted(path.stem for path in source_dir.glob("*.ipynb"))
    graded, release, hidden, kernels = [], {}, {}, {}
    for notebook in notebooks:
        source = nbformat.read(source_dir / f"{notebook}.ipynb", as_version=4)
        kernels[notebook] = source.metadata.get("kernelspec", {}).get("name", "python3")
        hidden[notebook] = []
        for cell in source.cells:
            meta = cell.metadata.get("nbgrader", {})
            hidden[notebook] += hidden_lines(cell.source)
            if meta.get("grade") and meta.get("grade_id"):
                graded.append((notebook, meta["grade_id"], float(meta.get("points", 0))))
        release_path = release_dir / f"{notebook}.ipynb"
        release[notebook] = nbformat.read(release_path, as_version=4) if release_path.is_file() else None
    columns = _columns(name, notebooks, [(nb, gid) for nb, gid, _ in graded])
    parts = [Part(nb, gid, points, columns[(nb, gid)]) for nb, gid, points in graded]
    return AssignmentSpec(name=name, notebooks=notebooks, parts=parts,
                          release=release,
                          hidden=hidden, fingerprint=fingerprint, kernel_name=kernels)


def generate(course: Course, workspace_root: Path, name: str, db_url: str, log: logging.Logger) -> None:
    """Run nbgrader's ``GenerateAssignment`` for ``name`` from ``DIR/source`` into ``db_url`` and ``DIR/release``."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    config = course.config()
    config.CourseDirectory.root = str(workspace_root)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.assignment_id = name
    config.BaseConverter.force = True
    coursedir = CourseDirectory(config=config, log=log)
    converter = GenerateAssignment(coursedir=coursedir, config=config, log=log)
    try:
        converter.start()
    except Exception as exc:  # nbgrader raises NbGraderException after logging the details
        raise CourseError(f"nbgrader could not prepare assignment {name}: {exc}") from exc


def has_assignment(db_url: str, course_id: str, name: str, notebooks: list[str]) -> bool:
    """Does the gradebook already hold ``name`` with exactly these notebooks?"""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(db_url, course_id) as gb:
            assignment = gb.find_assignment(name)
            return sorted(nb.name for nb in assignment.notebooks) == sorted(notebooks)
    except MissingEntry:
        return False


def prepare(course: Course, workspace, names: list[str], db_url: str, template_url: str,
            log: logging.Logger) -> dict[str, AssignmentSpec]:
    """Make ``names`` ready for grading in the workspace; only what changed is generated again.

    The template gradebook (``DIR/state/template.db``) is what the workers copy. A new default
    SQLite gradebook starts as a copy of it; any other gradebook gets its own ``GenerateAssignment``.
    """
    recorded = workspace.load_json("assignments.json")
    course_id = course.course_id()
    changed = set()
    notebooks = {name: sorted(path.stem for path in (course.solutions / name).glob("*.ipynb")) for name in names}
    for name in names:
        fingerprint = course.fingerprint(name)
        fresh = (recorded.get(name) == fingerprint and (workspace.source / name).is_dir()
                 and (workspace.release / name).is_dir()
                 and has_assignment(template_url, course_id, name, notebooks[name]))
        if not fresh:
            source_dir = workspace.source / name
            if source_dir.exists():
                shutil.rmtree(source_dir)
            shutil.copytree(course.solutions / name, source_dir,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            generate(course, workspace.root, name, template_url, log)
            recorded[name] = fingerprint
            workspace.save_json("assignments.json", recorded)
            changed.add(name)
    default_db = workspace.root / "gradebook.db"
    template_db = workspace.state / "template.db"
    copied = db_url == workspace.default_db_url and not default_db.exists()
    if copied:
        shutil.copyfile(template_db, default_db)
    for name in names:
        if not copied and (name in changed or not has_assignment(db_url, course_id, name, notebooks[name])):
            generate(course, workspace.root, name, db_url, log)
    return {name: load_spec(name, workspace.source / name, workspace.release / name, recorded[name])
            for name in names}
