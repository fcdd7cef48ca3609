"""Names found in a class's submissions: which are junk, and how a folder name becomes a student id.

* **Junk** (:func:`is_junk`): files and folders that operating systems and tools create on their
  own (macOS ``__MACOSX``, ``.DS_Store`` and ``._*`` AppleDouble files, Windows ``Thumbs.db`` and
  ``desktop.ini``, Jupyter ``.ipynb_checkpoints``, ``__pycache__``, ``.git``, trash folders). They
  are never extracted from a zip and never make a student. Any other name starting with ``.`` is
  not junk: a top-level ``.alice/`` is a student (with a note that the name is hidden).
* **Student ids** (:func:`student_id`): the folder name, decoded. Names on disk are bytes; a name
  that is not valid UTF-8 (Python gives it as ``surrogateescape`` characters) becomes the id with
  each undecodable byte written as ``\\xNN`` (``b"Jos\\xe9"`` -> ``Jos\\xe9``, 7 characters), so the
  id is valid text everywhere it goes (CSV, gradebook, report) and the bytes stay readable.
* **Markup** (:func:`has_markup`): an id with a character HTML gives meaning to (``<>&"'`` or a
  backquote). Every page the grader writes escapes ids, but nbgrader's formgrader writes gradebook
  ids into its pages unescaped, so such an id goes into the gradebook as its folder name (see
  :mod:`.gradebook`), with a note on its row.
* **Look-alikes** (:func:`look_alikes`): distinct ids that a person reading the list cannot tell
  apart: equal after Unicode compatibility normalization (NFKC: NFC vs NFD ``José``, ligatures,
  full-width letters) and case folding (``Alice`` and ``alice``).
"""

from __future__ import annotations

import os
import unicodedata

JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints", "__pycache__",
                        ".git", ".Trashes", ".Spotlight-V100", ".fseventsd"})
JUNK_PREFIXES = ("._", ".Trash-", ".~lock.")
MARKUP_CHARACTERS = frozenset("<>&\"'`")


def is_junk(name: str) -> bool:
    """Is this one path component something a tool made, not a student's work?"""
    return name in JUNK_NAMES or name.startswith(JUNK_PREFIXES)


def valid_text(text: str) -> str:
    """``text`` with any ``surrogateescape`` character (an undecodable byte of a name) as ``\\xNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate of another kind (e.g. from JSON): escape it as \\uNNNN
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def has_markup(student: str) -> bool:
    """Does the id hold a character that HTML gives meaning to?"""
    return not MARKUP_CHARACTERS.isdisjoint(student)


def student_id(folder_name: str) -> tuple[str, str | None]:
    """``(id, note)`` for a student folder's name as ``os`` gives it.

    ``note`` is ``None`` for an ordinary name, else a sentence for the row saying what is odd
    about it (not valid UTF-8, hidden, holds markup).
    """
    raw = os.fsencode(folder_name)
    text = valid_text(folder_name)
    notes = []
    if text != folder_name:
        notes.append(f"the folder name is not valid UTF-8 (bytes {raw!r}); the id shows each undecodable "
                     f"byte as \\xNN")
    elif text.startswith("."):
        notes.append("the folder name starts with '.', so it is hidden on most systems")
    if has_markup(text):
        notes.append("the id holds characters that web pages give meaning to (< > & \" ' `); nbgrader's "
                     "formgrader shows gradebook ids unescaped, so the gradebook holds it as its folder name")
    return text, "; ".join(notes) or None


def look_alike_key(student: str) -> str:
    """What two ids share when they look the same: NFKC-normalized and case-folded."""
    return unicodedata.normalize("NFKC", student).casefold()


def look_alikes(students: list[str]) -> list[list[str]]:
    """Groups (sorted) of two or more distinct ids with the same :func:`look_alike_key`."""
    groups: dict[str, set[str]] = {}
    for student in students:
        groups.setdefault(look_alike_key(student), set()).add(student)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


def describe(student: str) -> str:
    """The id with its invisible differences shown: ``'José' (NFD: e + U+0301)``-style detail."""
    marks = [f"U+{ord(ch):04X}" for ch in student if unicodedata.combining(ch) or not ch.isprintable()]
    form = "NFC" if unicodedata.is_normalized("NFC", student) else "not NFC"
    return f"{student!r} ({form}{'; ' + ', '.join(marks) if marks else ''})"
