"""Hostile names and zips for the grading tests (issue 13: every student found gets a row).

Reusable pieces, each a list of :class:`grading_class.Submission` with the row it must get, plus
writers for what a plain zip or folder cannot hold:

* :func:`name_kinds`: ids a spreadsheet would run as formulas, NFC and NFD ``José``, case-only
  twins, a hidden ``.folder``;
* :func:`refused_kinds`: students whose only entry is refused (a link, a notebook over the size
  cap), a notebook next to a large extra file (not extracted), ``__MACOSX`` junk;
  their entries come from :func:`refused_entries`, to pass to :func:`write_hostile_zip`;
* :func:`unflagged_kinds`: students whose names are stored without the UTF-8 flag (UTF-8 bytes, and
  cp437 as Windows's own zip writes them);
* :func:`write_hostile_zip`: a class zip with all of it;
* :func:`write_undecodable_folder`: a student folder on disk whose name is not valid UTF-8.

Use: ``subs = name_kinds(A) + refused_kinds(A); write_hostile_zip(path, subs, A, unflagged_kinds(A))``, then grade it and
compare each row with the ``Submission``'s ``score``/``status``/``reason_contains`` (see
``tests/test_grading_names.py``). Row ids are the exact ids (``read_grades_csv`` recovers them).
"""

from __future__ import annotations

import io
import os
import stat
import unicodedata
import zipfile
from pathlib import Path

import grading_class as g

NFC = unicodedata.normalize("NFC", "José")
NFD = unicodedata.normalize("NFD", "José")
FORMULA_IDS = ["=1+2", '=HYPERLINK("evil.example","x")', "+41 79 000", "-2", "@SUM(A1)", "'quoted"]
MARKUP_IDS = ["<img src=x onerror=alert(1)>", 'x" onmouseover="alert(2)']
MARKUP = set("<>&\"'`")  # characters HTML gives meaning to: such an id reaches formgrader as its folder name
OVERSIZED = 257 * 2**20  # over unzip.MAX_ENTRY_BYTES (256 MiB): zeros, so it compresses to ~250 KiB


def name_kinds(a: str) -> list[g.Submission]:
    """Students with hostile or confusing ids, each with a full solution of ``a``."""
    text = g.dumps(g.solution(a))
    full = sum(g.points(a).values())
    name = f"{a}.ipynb"
    # An id with < > & " ' or ` reaches nbgrader's formgrader only as its folder name, and says so.
    subs = [g.Submission(student, a, {name: text}, full, "odd_name", "formgrader") if set(student) & MARKUP
            else g.Submission(student, a, {name: text}, full, "ok") for student in FORMULA_IDS + MARKUP_IDS]
    subs += [g.Submission(NFC, a, {name: text}, full, "odd_name", "looks like"),
             g.Submission(NFD, a, {name: text}, full, "odd_name", "looks like"),
             g.Submission("Bea", a, {name: text}, full, "odd_name", "looks like"),
             g.Submission("bea", a, {name: text}, full, "odd_name", "looks like"),
             g.Submission(".dot-student", a, {name: text}, full, "odd_name", "starts with '.'")]
    return subs


def refused_kinds(a: str) -> list[g.Submission]:
    """Students with refused or unneeded entries (the entries themselves: :func:`refused_entries`)."""
    text = g.dumps(g.solution(a))
    full = sum(g.points(a).values())
    return [
        g.Submission("only-link", a, {}, 0, "missing", "symbolic link"),
        g.Submission("only-huge", a, {}, 0, "missing", "larger than 256 MiB"),
        g.Submission("big-extra", a, {f"{a}.ipynb": text}, full, "extra_files", "not a notebook, and larger than"),
        g.Submission("mac-user", a, {f"{a}.ipynb": text}, full, "ok"),
    ]


def refused_entries(a: str, wrapper: str = "class") -> list[tuple[zipfile.ZipInfo, bytes]]:
    """The zip entries behind :func:`refused_kinds`: a link, a huge notebook, a large extra file, junk."""
    link = zipfile.ZipInfo(f"{wrapper}/only-link/{a}/{a}.ipynb")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    huge = zipfile.ZipInfo(f"{wrapper}/only-huge/{a}/{a}.ipynb")
    huge.compress_type = zipfile.ZIP_DEFLATED
    extra = zipfile.ZipInfo(f"{wrapper}/big-extra/{a}/data.bin")
    extra.compress_type = zipfile.ZIP_DEFLATED
    return [(link, b"/etc/passwd"), (huge, bytes(OVERSIZED)), (extra, bytes(3 * 2**20)),
            (zipfile.ZipInfo(f"{wrapper}/mac-user/{a}/._{a}.ipynb"), b"\x00\x05\x16\x07AppleDouble"),
            (zipfile.ZipInfo(f"__MACOSX/{wrapper}/mac-user/{a}/._{a}.ipynb"), b"\x00\x05\x16\x07"),
            (zipfile.ZipInfo(f"{wrapper}/mac-user/.DS_Store"), b"\x00\x00\x00\x01Bud1")]


# Student names stored without the UTF-8 flag: raw bytes -> the id the grader must give them.
UNFLAGGED = {"Zoë Ünal".encode(): "Zoë Ünal",   # UTF-8 bytes, flag missing (many tools)
             "Renée".encode("cp437"): "Renée"}         # Windows's own zip: the OEM code page


def unflagged_kinds(a: str) -> list[tuple[bytes, g.Submission]]:
    """``(raw student name, submission with the expected id)`` for every name of :data:`UNFLAGGED`."""
    text = g.dumps(g.solution(a))
    full = sum(g.points(a).values())
    return [(raw, g.Submission(student, a, {f"{a}.ipynb": text}, full, "ok")) for raw, student in UNFLAGGED.items()]


def _with_raw_names(build, raw_names: list[bytes]) -> bytes:
    """Call ``build(archive, placeholders)`` on a new zip, then swap each ASCII placeholder for its raw
    name: Python writes every non-ASCII name as flagged UTF-8, so this is the way to get unflagged bytes."""
    placeholders = [f"~{index:03d}".encode().ljust(len(raw), b"~") for index, raw in enumerate(raw_names)]
    assert all(len(raw) >= 4 for raw in raw_names)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        build(archive, [placeholder.decode() for placeholder in placeholders])
    data = buffer.getvalue()
    for placeholder, raw in zip(placeholders, raw_names):
        data = data.replace(placeholder, raw)
    return data


def write_hostile_zip(path: Path, subs: list[g.Submission], a: str,
                      unflagged: list[tuple[bytes, g.Submission]] = ()) -> Path:
    """A class zip (wrapped in ``class/``) of ``subs``, the entries of :func:`refused_entries`, and
    ``unflagged`` (from :func:`unflagged_kinds`), whose student names are stored without the UTF-8 flag."""
    def build(archive, placeholders):
        for sub in subs:
            for relative, data in sub.files.items():
                archive.writestr(f"class/{sub.student}/{sub.assignment}/{relative}", data)
        for info, data in refused_entries(a):
            archive.writestr(info, data)
        for placeholder, (_, sub) in zip(placeholders, unflagged):
            for relative, data in sub.files.items():
                archive.writestr(f"class/{placeholder}/{sub.assignment}/{relative}", data)

    path.write_bytes(_with_raw_names(build, [raw for raw, _ in unflagged]))
    return path


def unflagged_zip(entries: dict[bytes, bytes]) -> bytes:
    """A zip whose entries have the given raw names (at least 4 bytes), none with the UTF-8 flag."""
    def build(archive, placeholders):
        for placeholder, data in zip(placeholders, entries.values()):
            archive.writestr(placeholder, data)

    return _with_raw_names(build, list(entries))


UNDECODABLE = b"Jos\xe9 Ba\xf1o"  # cp1252 "José Baño": not valid UTF-8
UNDECODABLE_ID = "Jos\\xe9 Ba\\xf1o"  # the id the grader gives it (each bad byte as \xNN)


def write_undecodable_folder(root: Path, a: str, files: dict[str, bytes]) -> Path:
    """``root/<UNDECODABLE>/a/`` with ``files``: a folder name no UTF-8 decoder accepts."""
    folder = Path(os.fsdecode(os.path.join(os.fsencode(root), UNDECODABLE)), a)
    folder.mkdir(parents=True)
    for relative, data in files.items():
        (folder / relative).write_bytes(data)
    return folder
