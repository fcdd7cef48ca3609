"""Where the submissions are: safe unzipping, and discovery of ``<student>/<assignment>/`` folders.

The layout is nbgrader's *submitted* layout: ``<student_id>/<assignment>/<notebook>.ipynb``. A
folder or a ``.zip`` of one; a single wrapping folder (``class/alice/...``, or nbgrader's
``submitted/``) is looked through.

Zip safety: an entry whose path is absolute, climbs out with ``..``, is a symbolic link, is larger
than a limit, or repeats an earlier name is not extracted; it is reported (and charged to the
student and assignment its path starts with, when it has one). Everything is written below the
extraction folder with ``O_EXCL | O_NOFOLLOW``, so nothing lands outside it whatever the zip holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .results import Note

IGNORED_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints", "__pycache__"}
MAX_ENTRY_BYTES = 256 * 2**20     # one extracted file
MAX_TOTAL_BYTES = 8 * 2**30       # the whole zip, extracted
EXTRACTOR_VERSION = 1             # bump when extraction changes: a zip is then extracted again


@dataclass
class Rejected:
    """A zip entry that was not extracted, and why."""

    name: str
    reason: str

    def text(self) -> str:
        return f"zip entry {self.name!r} not extracted: {self.reason}"


# ----------------------------------------------------------------------------- zip


def _decoded_name(info: zipfile.ZipInfo) -> str:
    """The entry's name; names stored as UTF-8 without the UTF-8 flag are recovered."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def owner(name: str, prefix: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    """The student and assignment a (possibly malicious) entry name starts with, before any '..'.

    ``prefix``: the wrapping folders between the zip's top and the students' folders.
    """
    clean = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", ".", ".."):
            break
        clean.append(part)
    if tuple(clean[:len(prefix)]) != tuple(prefix):
        return None, None
    clean = clean[len(prefix):]
    student = clean[0] if clean else None
    assignment = clean[1] if len(clean) >= 2 else None
    return student, assignment


def check_entry(info: zipfile.ZipInfo) -> tuple[list[str] | None, str | None]:
    """``(path parts, None)`` for an entry safe to extract, else ``(None, reason)``."""
    name = _decoded_name(info)
    if "\x00" in name:
        return None, "the name contains a NUL character"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":" and unified[0].isalpha()):
        return None, "absolute path"
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, "the path climbs out of the folder ('..')"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return None, "symbolic link"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: a zip that records no file type
        return None, "not a regular file"
    if not parts:
        return None, "empty name"
    if info.file_size > MAX_ENTRY_BYTES:
        return None, f"larger than {MAX_ENTRY_BYTES // 2**20} MiB"
    return parts, None


def _open_dirs(root: Path, parts: list[str]) -> int:
    """Descend into the folders ``root/parts``, creating them and never following a link; returns the
    descriptor of the last one."""
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=directory)
            except FileExistsError:
                pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = child
    except BaseException:
        os.close(directory)
        raise
    return directory


def _open_below(root: Path, parts: list[str]) -> int:
    """Create the file ``root/parts`` exclusively, never following a link, and return its descriptor."""
    directory = _open_dirs(root, parts[:-1])
    try:
        return os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
    finally:
        os.close(directory)


def safe_extract(zip_path: Path, target: Path) -> list[Rejected]:
    """Extract ``zip_path`` into the (new, empty) folder ``target``; return the entries left out."""
    target.mkdir(parents=True, exist_ok=False)
    target = target.resolve()
    rejected: list[Rejected] = []
    seen: set[str] = set()
    total = 0
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            name = _decoded_name(info)
            parts, reason = check_entry(info)
            if parts is None:
                rejected.append(Rejected(name, reason))
                continue
            key = "/".join(parts)
            if info.is_dir() or name.endswith("/"):
                try:
                    _make_dirs(target, parts)
                except OSError as exc:
                    rejected.append(Rejected(name, f"cannot create folder: {exc.strerror}"))
                continue
            if key in seen:
                rejected.append(Rejected(name, "repeats an earlier entry of the same name"))
                continue
            seen.add(key)
            if total + info.file_size > MAX_TOTAL_BYTES:
                rejected.append(Rejected(name, f"the zip holds more than {MAX_TOTAL_BYTES // 2**30} GiB"))
                continue
            try:
                fd = _open_below(target, parts)
            except OSError as exc:
                rejected.append(Rejected(name, f"cannot be written here: {exc.strerror}"))
                continue
            written = 0
            with os.fdopen(fd, "wb") as out, archive.open(info) as source:
                try:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        if written > MAX_ENTRY_BYTES:  # the header lied about the size
                            raise ValueError(f"larger than {MAX_ENTRY_BYTES // 2**20} MiB")
                        out.write(chunk)
                except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
                    reason = str(exc) if isinstance(exc, ValueError) else f"corrupt entry ({exc})"
                    rejected.append(Rejected(name, reason))
                    out.close()
                    _unlink_below(target, parts)
                    continue
            total += written
    return rejected


def _make_dirs(root: Path, parts: list[str]) -> None:
    os.close(_open_dirs(root, parts))


def _unlink_below(root: Path, parts: list[str]) -> None:
    path = root.joinpath(*parts)
    if path.is_file() and not path.is_symlink():
        path.unlink()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(zip_path: Path, unpacked: Path, state: dict) -> tuple[Path, list[Rejected]]:
    """Extract ``zip_path`` into ``unpacked`` unless the same zip is already there.

    ``state`` (the workspace's record of the last extraction) is updated in place. Returns the
    extracted folder and the rejected entries.
    """
    digest = file_digest(zip_path)
    if state.get("zip_sha256") == digest and state.get("extractor") == EXTRACTOR_VERSION and unpacked.is_dir():
        return unpacked, [Rejected(**item) for item in state.get("rejected", [])]
    fresh = unpacked.with_name(unpacked.name + ".tmp")
    if fresh.exists():
        shutil.rmtree(fresh)
    try:
        rejected = safe_extract(zip_path, fresh)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise SubmissionsError(f"{zip_path} is not a valid zip file ({exc})") from None
    if unpacked.exists():
        shutil.rmtree(unpacked)
    fresh.replace(unpacked)
    state.clear()
    state.update(zip_sha256=digest, extractor=EXTRACTOR_VERSION, rejected=[vars(item) for item in rejected])
    return unpacked, rejected


class SubmissionsError(RuntimeError):
    """The submissions cannot be read at all (missing folder, broken zip)."""


# ----------------------------------------------------------------------------- discovery


@dataclass
class Discovery:
    """The students and their assignment folders found below ``root``.

    Attributes:
        root: the folder whose sub-folders are the students.
        students: every student id (folder name), sorted.
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
    with os.scandir(folder) as entries:
        return sorted((entry for entry in entries if entry.name not in IGNORED_NAMES), key=lambda e: e.name)


def _looks_like_student(folder: Path, known: set[str]) -> bool:
    try:
        return any(entry.is_dir(follow_symlinks=False) and entry.name in known for entry in _visible_entries(folder))
    except OSError:
        return False


def find_root(folder: Path, known: set[str]) -> Path:
    """Look through up to three wrapping folders that hold nothing but one folder of students."""
    for _ in range(3):
        entries = [entry for entry in _visible_entries(folder) if not entry.name.startswith(".")]
        directories = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
        if len(entries) != 1 or len(directories) != 1:
            break
        inner = Path(directories[0].path)
        if _looks_like_student(inner, known):
            break
        folder = inner
    return folder


def discover(folder: Path, known_assignments: list[str], rejected: list[Rejected] = ()) -> Discovery:
    """Find the students (sub-folders of the root) and their assignment folders.

    Symbolic links are never followed: a linked student folder, assignment folder or file is
    reported and left out. Folders of unknown assignments are reported on the student. A rejected
    zip entry (``rejected``, names relative to ``folder``) is charged to the student and
    assignment its name starts with, if any.
    """
    known = set(known_assignments)
    root = find_root(Path(folder), known)
    prefix = Path(root).relative_to(folder).parts
    found = Discovery(root=root)
    students = set()
    for entry in _visible_entries(root):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            found.problems.append(f"{entry.name!r} at the top is a symbolic link: ignored")
        elif entry.is_dir(follow_symlinks=False):
            students.add(entry.name)
        else:
            found.problems.append(f"file {entry.name!r} at the top of the submissions is not in a student folder: ignored")
    for student in sorted(students):
        student_dir = Path(root, student)
        try:
            entries = _visible_entries(student_dir)
        except OSError as exc:
            found.note(student, None, "invalid_notebook", f"student folder unreadable ({exc.strerror})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                found.note(student, None, "extra_files", f"{entry.name!r} is a symbolic link: ignored")
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in known:
                    found.folders[(student, entry.name)] = Path(entry.path)
                else:
                    found.note(student, None, "extra_files", f"folder {entry.name!r} is not an assignment: ignored")
            else:
                found.note(student, None, "extra_files",
                           f"file {entry.name!r} is not inside an assignment folder: ignored")
    for item in rejected:
        student, assignment = owner(item.name, prefix)
        if student is not None and student in students:
            found.note(student, assignment if assignment in known else None, "unsafe_zip_entry", item.text())
        else:
            found.problems.append(item.text())
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
