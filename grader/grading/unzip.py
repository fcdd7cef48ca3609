"""Safe extraction of a class's zip: only what grading needs, never outside the target, within limits.

An entry is **not extracted** (and reported as a :class:`Rejected`, charged later to the student and
assignment its path starts with) when:

* it is unsafe (``unsafe_zip_entry``): its path is absolute or climbs out with ``..``, it is a
  symbolic link or another special file, its name holds a NUL;
* it is over a limit (``refused_zip_entry``): one file over :data:`MAX_ENTRY_BYTES` (checked while
  it is written, so a lying header gains nothing), the zip's entries past :data:`MAX_ENTRIES`, or
  past :data:`MAX_TOTAL_BYTES` extracted in all; it repeats an earlier name; it cannot be read
  (corrupt, encrypted, an unknown compression). Entries refused for the zip-wide limits are reported
  once per folder (``N entries in 'a/b/' ...``; past :data:`MAX_REPORTED_FOLDERS` folders, once for
  the rest of the zip, ``'./'``), so the report stays small whatever the zip holds;
* it is not needed (``extra_files``): a file that is not a notebook nor ``timestamp.txt`` and is
  larger than :data:`MAX_EXTRA_BYTES` (grading never shows extra files to the notebook);
* it is junk (:func:`.names.is_junk`: ``__MACOSX/``, ``.DS_Store``...): skipped without a report.

Everything is written below the extraction folder with ``O_EXCL | O_NOFOLLOW``, so nothing lands
outside it whatever the zip holds; a file cut short by a limit is deleted at once.

Names: an entry flagged UTF-8 is UTF-8; an unflagged name is taken as UTF-8 when its bytes are
valid UTF-8 (many tools write UTF-8 without the flag), else as cp437, the zip specification's
encoding (what Windows's own zip writes in Western locales: ``é`` is byte 0x82 there). A name
flagged UTF-8 that is not valid UTF-8 (which Python's ``zipfile`` refuses, for the whole zip) has
its flag cleared in a patched view of the zip, so it is read as cp437 too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .names import is_junk

MAX_ENTRY_BYTES = 256 * 2**20     # one extracted file
MAX_EXTRA_BYTES = 2**20           # one file that is neither a notebook nor timestamp.txt
MAX_TOTAL_BYTES = 8 * 2**30       # the whole zip, extracted
MAX_ENTRIES = 50_000              # entries of the zip (files and folders, junk excluded)
MAX_REPORTED_FOLDERS = 1000       # folders with entries refused by the zip-wide limits, reported one by one
EXTRACTOR_VERSION = 2             # bump when extraction changes: a zip is then extracted again
NEEDED_SUFFIXES = (".ipynb",)
# What reading one entry can raise: corrupt data or CRC, a name that does not decode (ValueError),
# encryption (RuntimeError), a compression method zipfile lacks (NotImplementedError).
UNREADABLE = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError,
              NotImplementedError)
NEEDED_NAMES = ("timestamp.txt",)


@dataclass
class Rejected:
    """A zip entry (or ``count`` entries of the folder ``name``) not extracted, why, and its status kind."""

    name: str
    reason: str
    kind: str = "unsafe_zip_entry"
    count: int = 1

    def text(self) -> str:
        if self.count > 1:
            return f"{self.count} zip entries in {self.name!r} not extracted: {self.reason}"
        return f"zip entry {self.name!r} not extracted: {self.reason}"


class SubmissionsError(RuntimeError):
    """The submissions cannot be read at all (missing folder, broken zip)."""


def _decoded_name(info: zipfile.ZipInfo) -> str:
    """The entry's name; names stored as UTF-8 without the UTF-8 flag are recovered."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


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
    return parts, None


def _file_limit(info: zipfile.ZipInfo, parts: list[str]) -> tuple[int, str]:
    """``(bytes, kind)``: the most this file may hold, and the status kind of going over it."""
    if parts[-1].lower().endswith(NEEDED_SUFFIXES) or parts[-1] in NEEDED_NAMES:
        return MAX_ENTRY_BYTES, "refused_zip_entry"
    return MAX_EXTRA_BYTES, "extra_files"


def _size_reason(limit: int, kind: str) -> str:
    size = f"{limit // 2**20} MiB"
    return f"larger than {size}" if kind == "refused_zip_entry" else f"not a notebook, and larger than {size}"


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


def _unlink_below(root: Path, parts: list[str]) -> None:
    path = root.joinpath(*parts)
    if path.is_file() and not path.is_symlink():
        path.unlink()


class _Extraction:
    """The state of one :func:`safe_extract`: what was written, what was left out."""

    def __init__(self, archive: zipfile.ZipFile, target: Path):
        self.archive, self.target = archive, target
        self.rejected: list[Rejected] = []
        self.over_limit: dict[str, Rejected] = {}  # folder -> entries refused by the zip-wide limits
        self.seen: set[str] = set()
        self.entries = 0
        self.total = 0

    def refuse(self, name: str, reason: str, kind: str = "unsafe_zip_entry") -> None:
        self.rejected.append(Rejected(name, reason, kind))

    def refuse_over_limit(self, name: str, reason: str) -> None:
        folder = name.replace("\\", "/").rstrip("/").rpartition("/")[0] + "/"
        if folder not in self.over_limit and len(self.over_limit) >= MAX_REPORTED_FOLDERS:
            folder = "./"  # the rest of the zip, reported as a whole (to the class, not a student)
        item = self.over_limit.setdefault(folder, Rejected(folder, reason, "refused_zip_entry", 0))
        item.count += 1

    def entry(self, info: zipfile.ZipInfo) -> None:
        name = _decoded_name(info)
        parts, reason = check_entry(info)
        if parts is not None and any(is_junk(part) for part in parts):
            return None
        self.entries += 1  # unsafe ones too: 200,000 links must not make 200,000 reports
        if self.entries > MAX_ENTRIES:
            return self.refuse_over_limit(name, f"the zip holds more than {MAX_ENTRIES} entries")
        if parts is None:
            return self.refuse(name, reason)
        if info.is_dir() or name.endswith("/"):
            try:
                os.close(_open_dirs(self.target, parts))
            except OSError as exc:
                self.refuse(name, f"cannot create folder: {exc.strerror}", "refused_zip_entry")
            return None
        key = "/".join(parts)
        if key in self.seen:
            return self.refuse(name, "repeats an earlier entry of the same name", "refused_zip_entry")
        self.seen.add(key)
        return self.write(info, name, parts)

    def write(self, info: zipfile.ZipInfo, name: str, parts: list[str]) -> None:
        limit, kind = _file_limit(info, parts)
        if info.file_size > limit:
            return self.refuse(name, _size_reason(limit, kind), kind)
        budget = MAX_TOTAL_BYTES - self.total
        if info.file_size > budget:
            return self.refuse_over_limit(name, _total_reason())
        try:
            fd = _open_below(self.target, parts)
        except OSError as exc:
            return self.refuse(name, f"cannot be written here: {exc.strerror}", "refused_zip_entry")
        try:
            self.total += self._copy(info, fd, limit, budget)
        except _TooLarge:
            _unlink_below(self.target, parts)
            return self.refuse(name, _size_reason(limit, kind), kind)
        except _OverTotal:
            _unlink_below(self.target, parts)
            return self.refuse_over_limit(name, _total_reason())
        except UNREADABLE as exc:  # only this entry is lost
            _unlink_below(self.target, parts)
            return self.refuse(name, f"cannot be read ({type(exc).__name__}: {exc})", "refused_zip_entry")
        return None

    def _copy(self, info: zipfile.ZipInfo, fd: int, limit: int, budget: int) -> int:
        """Copy the entry into ``fd`` (closed after), stopping past ``limit`` or ``budget`` bytes."""
        written = 0
        with os.fdopen(fd, "wb") as out, self.archive.open(info) as source:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > limit:  # the header lied about the size
                    raise _TooLarge
                if written > budget:
                    raise _OverTotal
                out.write(chunk)
        return written


class _TooLarge(Exception):
    pass


class _OverTotal(Exception):
    pass


def _total_reason() -> str:
    return f"the zip holds more than {MAX_TOTAL_BYTES // 2**30} GiB"


class _PatchedFile(io.RawIOBase):
    """A read-only view of a file with some bytes replaced (``patches``: offset -> byte)."""

    def __init__(self, handle, patches: dict[int, int]):
        super().__init__()
        self.handle, self.patches = handle, patches

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def readinto(self, buffer) -> int:
        start = self.handle.tell()
        count = self.handle.readinto(buffer)
        for offset, value in self.patches.items():
            if start <= offset < start + count:
                buffer[offset - start] = value
        return count

    def close(self) -> None:
        self.handle.close()
        super().close()


def _false_utf8_flags(handle) -> dict[int, int]:
    """Patches clearing the UTF-8 flag (bit 11) of every entry whose name is not UTF-8, in the central
    directory and the local header, so that ``zipfile`` reads those names like unflagged ones."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 65557))
    tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        return {}
    directory_size, directory_offset = struct.unpack("<II", tail[end + 12:end + 20])
    handle.seek(directory_offset)
    directory = handle.read(directory_size)
    patches, position = {}, 0
    while directory[position:position + 4] == b"PK\x01\x02" and position + 46 <= len(directory):
        flags, = struct.unpack("<H", directory[position + 8:position + 10])
        name_length, extra_length, comment_length = struct.unpack("<HHH", directory[position + 28:position + 34])
        local, = struct.unpack("<I", directory[position + 42:position + 46])
        name = directory[position + 46:position + 46 + name_length]
        if flags & 0x800:
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                patches[directory_offset + position + 9] = (flags >> 8) & ~0x08
                patches[local + 7] = (flags >> 8) & ~0x08  # the local header's flags, same bits
        position += 46 + name_length + extra_length + comment_length
    return patches


def _open_archive(zip_path: Path, stack: contextlib.ExitStack) -> zipfile.ZipFile:
    """``zipfile.ZipFile(zip_path)``, also for a zip whose names are flagged UTF-8 but are not
    (those are then read as cp437, like unflagged names); closed with ``stack``."""
    try:
        return stack.enter_context(zipfile.ZipFile(zip_path))
    except UnicodeDecodeError:
        pass
    view = stack.enter_context(_PatchedFile(open(zip_path, "rb"), {}))  # noqa: SIM115 (closed by the view)
    view.patches = _false_utf8_flags(view.handle)
    view.seek(0)
    try:
        return stack.enter_context(zipfile.ZipFile(view))
    except (UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise SubmissionsError(f"{zip_path}: an entry's name is marked UTF-8 but is not valid UTF-8, and the "
                               f"zip's directory could not be repaired ({exc}): re-create the zip (e.g. with "
                               f"7-Zip) or grade the extracted folder") from None


def safe_extract(zip_path: Path, target: Path) -> list[Rejected]:
    """Extract ``zip_path`` into the (new, empty) folder ``target``; return the entries left out."""
    target.mkdir(parents=True, exist_ok=False)
    with contextlib.ExitStack() as stack:
        archive = _open_archive(zip_path, stack)
        extraction = _Extraction(archive, target.resolve())
        for info in archive.infolist():
            extraction.entry(info)
    return extraction.rejected + list(extraction.over_limit.values())


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
    except (zipfile.BadZipFile, SubmissionsError) as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        if isinstance(exc, SubmissionsError):
            raise
        raise SubmissionsError(f"{zip_path} is not a valid zip file ({exc})") from None
    if unpacked.exists():
        shutil.rmtree(unpacked)
    fresh.replace(unpacked)
    state.clear()
    state.update(zip_sha256=digest, extractor=EXTRACTOR_VERSION, rejected=[vars(item) for item in rejected])
    return unpacked, rejected
