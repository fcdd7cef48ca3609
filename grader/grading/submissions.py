"""Where the submissions are: discovery of ``<student>/<assignment>/`` folders (unzipping: :mod:`.unzip`).

The layout is nbgrader's *submitted* layout: ``<student_id>/<assignment>/<notebook>.ipynb``. A
folder or a ``.zip`` of one; a single wrapping folder (``class/alice/...``, or nbgrader's
``submitted/``) is looked through.

Every student found gets a row: a folder at the top (junk such as ``__MACOSX`` aside, see
:mod:`.names`; a hidden ``.name`` folder is a student, noted ``odd_name``), and a student whose
every zip entry was refused (their folder never came to exist). A folder name that is not valid
UTF-8 gets an id with ``\\xNN`` escapes; ids that look alike are noted ``odd_name`` on each row.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .names import describe, is_junk, look_alikes, student_id
from .results import Note
from .unzip import Rejected, SubmissionsError, file_digest, safe_extract, unpack

__all__ = ["Discovery", "Rejected", "SubmissionsError", "discover", "find_root", "folder_fingerprint",
           "owner", "safe_extract", "unpack"]


def owner(name: str, prefix: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    """The student and assignment a (possibly malicious) entry name starts with, before any '..'.

    ``prefix``: the wrapping folders between the zip's top and the students' folders.
    """
    clean = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", ".", ".."):
            break
        clean.append(part)
    if tuple(clean[:len(prefix)]) != tuple(prefix) or (clean and clean[0].endswith(":")):  # C:/...
        return None, None
    clean = clean[len(prefix):]
    student = clean[0] if clean else None
    assignment = clean[1] if len(clean) >= 2 else None
    return student, assignment


@dataclass
class Discovery:
    """The students and their assignment folders found below ``root``.

    Attributes:
        root: the folder whose sub-folders are the students.
        students: every student id, sorted (the folder name; see :func:`.names.student_id`).
        folders: (student, assignment) -> that submission's folder, for known assignments.
        notes: (student, assignment or None) -> notes found while looking (None: the whole student).
        problems: notes about the class as a whole (files at the top, rejected zip entries of nobody).
    """

    root: Path
    students: list[str] = field(default_factory=list)
    folders: dict[tuple[str, str], Path] = field(default_factory=dict)
    notes: dict[tuple[str, str | None], list[Note]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def note(self, student: str, assignment: str | None, kind: str, text: str) -> None:
        self.notes.setdefault((student, assignment), []).append(Note(kind, text))

    def notes_for(self, student: str, assignment: str) -> list[Note]:
        return self.notes.get((student, None), []) + self.notes.get((student, assignment), [])

    @property
    def assignments(self) -> list[str]:
        return sorted({assignment for _, assignment in self.folders})


def _visible_entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` that are not junk, sorted by name."""
    with os.scandir(folder) as entries:
        return sorted((entry for entry in entries if not is_junk(entry.name)), key=lambda e: e.name)


def _looks_like_student(folder: Path, known: set[str]) -> bool:
    try:
        return any(entry.is_dir(follow_symlinks=False) and entry.name in known for entry in _visible_entries(folder))
    except OSError:
        return False


def find_root(folder: Path, known: set[str]) -> Path:
    """Look through up to three wrapping folders that hold nothing but one folder of students."""
    for _ in range(3):
        entries = [entry for entry in _visible_entries(folder)  # a stray '.gitignore' makes no class
                   if not entry.name.startswith(".") or entry.is_dir(follow_symlinks=False)]
        directories = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
        if len(entries) != 1 or len(directories) != 1:
            break
        inner = Path(directories[0].path)
        if _looks_like_student(inner, known):
            break
        folder = inner
    return folder


def _student_folders(root: Path, found: Discovery) -> dict[str, Path]:
    """id -> folder of every student folder at the top of ``root``; oddities become notes or problems."""
    folders: dict[str, Path] = {}
    for entry in _visible_entries(root):
        if entry.is_symlink():
            found.problems.append(f"{entry.name!r} at the top is a symbolic link: ignored")
        elif not entry.is_dir(follow_symlinks=False):
            found.problems.append(f"file {entry.name!r} at the top of the submissions is not in a student folder: ignored")
        else:
            student, oddity = student_id(entry.name)
            if student in folders:  # only an escaped undecodable name can meet a real one
                oddity = f"{oddity}; the id {student!r} was taken by another folder, so '#2' was added"
                student += "#2"
            folders[student] = Path(entry.path)
            if oddity:
                found.note(student, None, "odd_name", oddity)
    return folders


def _assignment_folders(student: str, folder: Path, known: set[str], found: Discovery) -> None:
    try:
        entries = _visible_entries(folder)
    except OSError as exc:
        found.note(student, None, "invalid_notebook", f"student folder unreadable ({exc.strerror})")
        return
    for entry in entries:
        if entry.is_symlink():
            found.note(student, None, "extra_files", f"{entry.name!r} is a symbolic link: ignored")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in known:
                found.folders[(student, entry.name)] = Path(entry.path)
            else:
                found.note(student, None, "extra_files", f"folder {entry.name!r} is not an assignment: ignored")
        else:
            found.note(student, None, "extra_files", f"file {entry.name!r} is not inside an assignment folder: ignored")


def _charge_rejected(rejected: list[Rejected], prefix: tuple[str, ...], known: set[str], found: Discovery,
                     students: set[str]) -> None:
    """Charge each rejected entry to its student (who is added when no folder of theirs came out)."""
    for item in rejected:
        student, assignment = owner(item.name, prefix)
        if student is None or is_junk(student):
            found.problems.append(item.text())
            continue
        student, oddity = student_id(student)  # zip names are text already: only the '.' note applies
        if student not in students:
            if assignment not in known:  # not a submission: a stray entry, the class's problem
                found.problems.append(item.text())
                continue
            students.add(student)
            if oddity:
                found.note(student, None, "odd_name", oddity)
        found.note(student, assignment if assignment in known else None, item.kind, item.text())


def _note_look_alikes(found: Discovery, students: set[str]) -> None:
    for group in look_alikes(sorted(students)):
        for student in group:
            others = ", ".join(describe(other) for other in group if other != student)
            found.note(student, None, "odd_name",
                       f"the id {describe(student)} looks like {others}: check they are different students")


def discover(folder: Path, known_assignments: list[str], rejected: list[Rejected] = ()) -> Discovery:
    """Find the students (sub-folders of the root) and their assignment folders.

    Symbolic links are never followed: a linked student folder, assignment folder or file is
    reported and left out. Folders of unknown assignments are reported on the student. A rejected
    zip entry (``rejected``, names relative to ``folder``) is charged to the student and
    assignment its name starts with, if any; a student known only from rejected entries still
    gets a row.
    """
    known = set(known_assignments)
    root = find_root(Path(folder), known)
    prefix = Path(root).relative_to(folder).parts
    found = Discovery(root=root)
    folders = _student_folders(root, found)
    for student, student_dir in sorted(folders.items()):
        _assignment_folders(student, student_dir, known, found)
    students = set(folders)
    _charge_rejected(list(rejected), prefix, known, found, students)
    _note_look_alikes(found, students)
    found.students = sorted(students)
    return found


def folder_fingerprint(folder: Path) -> str:
    """A digest of every file below ``folder`` (names and contents; links by their target text)."""
    digest = hashlib.sha256()
    for directory, subdirs, files in os.walk(folder):
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            relative = path.relative_to(folder).as_posix()
            digest.update(relative.encode("utf-8", "surrogateescape") + b"\x00")
            if path.is_symlink():
                digest.update(b"link:" + os.readlink(path).encode("utf-8", "surrogateescape"))
            else:
                try:
                    digest.update(file_digest(path).encode())
                except OSError:
                    digest.update(b"unreadable")
            digest.update(b"\x00")
    return digest.hexdigest()
