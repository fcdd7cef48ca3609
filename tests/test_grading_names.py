"""Every student found gets a row, and no name breaks the class (issue 13).

Fast tests of each case (ids from undecodable folder names and unflagged zip names, refused-only
and hidden students, junk, zip limits, formula-safe CSV, look-alike ids), then, marked slow, real
``python -m grader grade`` runs on a hostile class zip and on a folder with an undecodable name.
The hostile class builders are in ``tests/hostile/names_and_zips.py``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import grading_class as g
import pytest
from hostile import names_and_zips as h

from grader.grading import report, submissions, unzip
from grader.grading.course import ensure_tools_on_path
from grader.grading.csvsafe import neutralize, read_csv, recover, write_csv
from grader.grading.gradebook import GradebookWriter
from grader.grading.names import describe, is_junk, look_alikes, student_id, valid_text
from grader.grading.results import (
    Note,
    PartResult,
    Row,
    SubmissionResult,
    read_grades_csv,
    write_grades_csv,
)
from grader.grading.workspace import safe_name

ROOT = Path(__file__).resolve().parents[1]
A = "01_hidden_state"
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")


def _touch(path: Path, data: bytes = b"{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ============================================================================ names and ids


def test_undecodable_folder_name_gets_an_escaped_id_and_its_folder(tmp_path):
    folder = h.write_undecodable_folder(tmp_path, A, {f"{A}.ipynb": b"{}"})
    _touch(tmp_path / "alice" / A / f"{A}.ipynb")
    found = submissions.discover(tmp_path, [A])
    assert found.students == [h.UNDECODABLE_ID, "alice"]
    assert found.folders[(h.UNDECODABLE_ID, A)] == folder  # the real folder, bytes and all
    (note,) = found.notes[(h.UNDECODABLE_ID, None)]
    assert note.kind == "odd_name" and "not valid UTF-8" in note.text and "\\xe9" in note.text
    for text in [h.UNDECODABLE_ID, note.text, safe_name(h.UNDECODABLE_ID)]:
        text.encode("utf-8")  # valid text everywhere it goes


def test_an_escaped_id_never_takes_a_real_folders_id(tmp_path):
    h.write_undecodable_folder(tmp_path, A, {f"{A}.ipynb": b"{}"})
    _touch(tmp_path / h.UNDECODABLE_ID / A / f"{A}.ipynb")  # a folder literally named with backslashes
    found = submissions.discover(tmp_path, [A])
    assert len(found.students) == 2 and len(set(found.folders.values())) == 2


def test_the_gradebook_takes_every_id_discovery_gives(tmp_path):
    h.write_undecodable_folder(tmp_path / "class", A, {f"{A}.ipynb": b"{}"})
    markup = ["<img src=x onerror=alert(1)>", "a&b", "O'Brien"]
    for student in [".dot", "=1+2", h.NFC, h.NFD, *markup]:
        _touch(tmp_path / "class" / student / A / f"{A}.ipynb")
    found = submissions.discover(tmp_path / "class", [A])
    ensure_tools_on_path()
    writer = GradebookWriter(f"sqlite:///{tmp_path / 'gb.db'}", "course")
    try:
        writer.add_students(found.students)  # raised UnicodeEncodeError on the undecodable name
        stored = sorted(student.id for student in writer.gradebook.students)
        plain = [student for student in found.students if student not in markup]
        # formgrader shows these ids unescaped: ids with markup are stored as their folder names
        assert stored == sorted(plain + [safe_name(student) for student in markup])
        assert not any(ch in "".join(stored) for ch in "<>&'\"`")
        for student in markup:
            assert "gradebook holds it as its folder name" in found.notes[(student, None)][0].text
    finally:
        writer.close()


def test_names_a_zip_stores_without_the_utf8_flag(tmp_path):
    raw = {b"Ren\x82e/" + f"{A}/{A}.ipynb".encode(): b"{}",                     # cp437 (Windows's own zip)
           "Zoë/".encode() + f"{A}/{A}.ipynb".encode(): b"{}",                  # UTF-8 without the flag
           b"Jos\xe9/" + f"{A}/{A}.ipynb".encode(): b"{}"}                       # cp1252: read as cp437
    (tmp_path / "c.zip").write_bytes(h.unflagged_zip(raw))
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        assert not any(info.flag_bits & 0x800 for info in archive.infolist())
    assert unzip.safe_extract(tmp_path / "c.zip", tmp_path / "out") == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["JosΘ", "Renée", "Zoë"]


def test_a_zip_whose_flagged_names_are_not_utf8_is_read_like_an_unflagged_one(tmp_path):
    good = [f"Xé/{A}/{A}.ipynb", f"Ünal/{A}/{A}.ipynb"]
    data = g.zip_bytes({good[0]: b"{}", good[1]: b"{}", f"ann/{A}/{A}.ipynb": b"{}"})
    bad = b"X\xe9\xe9/" + f"{A}/{A}.ipynb".encode()  # same length as the UTF-8 form; the flag stays set
    assert len(bad) == len(good[0].encode())
    (tmp_path / "c.zip").write_bytes(data.replace(good[0].encode(), bad))
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(tmp_path / "c.zip")  # what Python's zipfile does with the whole zip
    folder, rejected = submissions.unpack(tmp_path / "c.zip", tmp_path / "unpacked", {})
    assert rejected == []
    assert sorted(p.name for p in folder.iterdir()) == ["XΘΘ", "ann", "Ünal"]  # cp437, the valid one as UTF-8
    assert (folder / "XΘΘ" / A / f"{A}.ipynb").read_bytes() == b"{}"


def test_junk_names():
    for name in ["__MACOSX", ".DS_Store", "._notebook.ipynb", ".ipynb_checkpoints", "Thumbs.db", ".git"]:
        assert is_junk(name), name
    for name in [".alice", "alice", "_MACOSX", "DS_Store", "01_hidden_state.ipynb"]:
        assert not is_junk(name), name


def test_ids_and_their_oddities():
    assert student_id("alice") == ("alice", None)
    assert student_id(h.NFD) == (h.NFD, None)
    text, note = student_id(".alice")
    assert text == ".alice" and "starts with '.'" in note
    assert student_id(os.fsdecode(h.UNDECODABLE))[0] == h.UNDECODABLE_ID
    text, note = student_id(".<b>")
    assert text == ".<b>" and "starts with '.'" in note and "formgrader" in note
    assert student_id("a>b")[1] is not None and student_id("a_b-c.d")[1] is None
    assert valid_text("a\udce9b") == "a\\xe9b" and valid_text("a\ud800") == "a\\ud800"
    assert Note("extra_files", "file 'x\udcff' ignored").text == "file 'x\\xff' ignored"


def test_look_alike_ids_are_grouped():
    groups = look_alikes([h.NFC, h.NFD, "Bea", "bea", "ﬁona", "fiona", "alice", "Alicia"])
    assert sorted(groups) == sorted([sorted(["Bea", "bea"]), sorted(["fiona", "ﬁona"]), sorted([h.NFC, h.NFD])])
    assert look_alikes(["alice", "bob"]) == []
    assert "U+0301" in describe(h.NFD) and "not NFC" in describe(h.NFD) and "U+" not in describe(h.NFC)


def test_look_alikes_are_noted_on_their_rows_and_listed_in_the_report(tmp_path):
    for student in [h.NFC, h.NFD, "carl"]:
        _touch(tmp_path / student / A / f"{A}.ipynb")
    found = submissions.discover(tmp_path, [A])
    assert [n.kind for n in found.notes[(h.NFC, None)]] == ["odd_name"]
    assert "U+0301" in found.notes[(h.NFC, None)][0].text
    assert (h.NFD, None) in found.notes and ("carl", None) not in found.notes
    rows = [Row(SubmissionResult(student=s, assignment=A), found.notes_for(s, A)) for s in found.students]
    page = report.render(rows, {}, [], {})
    section = page[page.index('id="look-alikes"'):]
    assert "Student ids that look alike (1)" in section and "U+0301" in section
    assert 'id="look-alikes"' not in report.render(rows[-1:], {}, [], {})


# ============================================================================ every student gets a row


def test_hidden_student_folder_is_a_student_and_junk_is_not(tmp_path):
    _touch(tmp_path / ".dot-student" / A / f"{A}.ipynb")
    _touch(tmp_path / "alice" / A / f"{A}.ipynb")
    _touch(tmp_path / "alice" / ".secret" / "x.ipynb")
    _touch(tmp_path / "__MACOSX" / "alice" / A / f"._{A}.ipynb")
    _touch(tmp_path / ".DS_Store")
    found = submissions.discover(tmp_path, [A])
    assert found.students == [".dot-student", "alice"]
    assert [n.kind for n in found.notes[(".dot-student", None)]] == ["odd_name"]
    assert "'.secret'" in found.notes[("alice", None)][0].text  # a hidden folder is reported, not skipped
    assert found.problems == []


def test_a_wrapper_with_a_hidden_file_or_a_hidden_student(tmp_path):
    _touch(tmp_path / "class" / "alice" / A / f"{A}.ipynb")
    _touch(tmp_path / ".gitignore", b"*.pyc\n")
    assert submissions.discover(tmp_path, [A]).students == ["alice"]  # looked through 'class/'
    _touch(tmp_path / "class" / ".bob" / A / f"{A}.ipynb")
    assert submissions.discover(tmp_path, [A]).students == [".bob", "alice"]


def test_a_student_whose_only_entries_were_refused_gets_a_row(tmp_path):
    _touch(tmp_path / "class" / "alice" / A / f"{A}.ipynb")
    rejected = [unzip.Rejected(f"class/only-link/{A}/{A}.ipynb", "symbolic link"),
                unzip.Rejected(f"class/only-huge/{A}/{A}.ipynb", "larger than 256 MiB", "refused_zip_entry"),
                unzip.Rejected(f"class/.hidden/{A}/x.ipynb", "symbolic link"),
                unzip.Rejected("class/stray.txt", "symbolic link"),           # nobody's: the class's problem
                unzip.Rejected(f"C:/{A}/{A}.ipynb", "absolute path")]
    found = submissions.discover(tmp_path, [A], rejected)
    assert found.students == [".hidden", "alice", "only-huge", "only-link"]
    assert [n.kind for n in found.notes_for("only-huge", A)] == ["refused_zip_entry"]
    assert [n.kind for n in found.notes_for("only-link", A)] == ["unsafe_zip_entry"]
    assert {n.kind for n in found.notes_for(".hidden", A)} == {"odd_name", "unsafe_zip_entry"}
    assert len(found.problems) == 2


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_junk_and_unneeded_entries_are_not_extracted(tmp_path):
    archive = _zip(tmp_path / "c.zip", {
        f"class/ann/{A}/{A}.ipynb": b"{}", f"class/ann/{A}/timestamp.txt": b"2026-01-01 10:00:00",
        f"class/ann/{A}/small.csv": b"1,2\n", f"class/ann/{A}/data.bin": bytes(2 * 2**20),
        f"__MACOSX/class/ann/{A}/._{A}.ipynb": b"junk", f"class/ann/{A}/._{A}.ipynb": b"junk",
        "class/ann/.DS_Store": b"junk", f"class/ann/{A}/.ipynb_checkpoints/{A}-checkpoint.ipynb": b"{}"})
    rejected = unzip.safe_extract(archive, tmp_path / "out")
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == [f"class/ann/{A}/{A}.ipynb", f"class/ann/{A}/small.csv", f"class/ann/{A}/timestamp.txt"]
    assert [(r.name, r.kind) for r in rejected] == [(f"class/ann/{A}/data.bin", "extra_files")]
    assert "not a notebook, and larger than 1 MiB" in rejected[0].text()


def test_entry_count_and_total_size_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(unzip, "MAX_ENTRIES", 4)
    entries = {f"class/s{i}/{A}/{A}.ipynb": b"{}" for i in range(3)}
    entries |= {f"class/flood/{A}/f{i}.ipynb": b"{}" for i in range(50)}
    rejected = unzip.safe_extract(_zip(tmp_path / "many.zip", entries), tmp_path / "many")
    assert sum(1 for p in (tmp_path / "many").rglob("*") if p.is_file()) == 4
    (item,) = rejected  # one report for the folder, not one per entry
    assert item.name == f"class/flood/{A}/" and item.count == 49 and item.kind == "refused_zip_entry"
    assert item.text().startswith("49 zip entries in") and "more than 4 entries" in item.text()
    found = submissions.discover(tmp_path / "many", [A], rejected)
    assert [n.kind for n in found.notes_for("flood", A)] == ["refused_zip_entry"]

    monkeypatch.setattr(unzip, "MAX_ENTRIES", 1000)
    monkeypatch.setattr(unzip, "MAX_TOTAL_BYTES", 5000)
    big = {f"class/s{i}/{A}/{A}.ipynb": b"x" * 2000 for i in range(4)}
    rejected = unzip.safe_extract(_zip(tmp_path / "big.zip", big), tmp_path / "big")
    kept = [p for p in (tmp_path / "big").rglob("*") if p.is_file()]
    assert len(kept) == 2 and sum(p.stat().st_size for p in kept) <= 5000
    assert sorted(r.name for r in rejected) == [f"class/s2/{A}/", f"class/s3/{A}/"]
    assert all("more than 0 GiB" in r.reason for r in rejected)


def test_a_flood_of_entries_gives_a_bounded_report(tmp_path, monkeypatch):
    monkeypatch.setattr(unzip, "MAX_ENTRIES", 2)
    monkeypatch.setattr(unzip, "MAX_REPORTED_FOLDERS", 2)
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr(f"class/a/{A}/{A}.ipynb", b"{}")
        archive.writestr(f"class/b/{A}/{A}.ipynb", b"{}")
        for i in range(30):  # links, each in a folder of its own: unsafe, and past the limit
            info = zipfile.ZipInfo(f"class/s{i}/{A}/{A}.ipynb")
            info.external_attr = (0o120777) << 16
            archive.writestr(info, b"/etc/passwd")
    rejected = unzip.safe_extract(tmp_path / "c.zip", tmp_path / "out")
    assert [(r.name, r.count) for r in rejected] == [(f"class/s0/{A}/", 1), (f"class/s1/{A}/", 1), ("./", 28)]
    found = submissions.discover(tmp_path / "out", [A], rejected)
    assert found.students == ["a", "b", "s0", "s1"] and len(found.problems) == 1


def test_an_entry_whose_header_lies_about_its_size_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(unzip, "MAX_TOTAL_BYTES", 3000)
    archive = _zip(tmp_path / "c.zip", {f"class/a/{A}/{A}.ipynb": b"x" * 2000, f"class/b/{A}/{A}.ipynb": b"y" * 2000})
    data = bytearray((tmp_path / "c.zip").read_bytes())
    with zipfile.ZipFile(archive) as z:
        second = z.infolist()[1]
    # shrink the declared size of the second entry in its central directory record
    central = data.rindex(b"PK\x01\x02")
    assert data[central + 46:central + 46 + len(second.filename)] == second.filename.encode()
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    (tmp_path / "c.zip").write_bytes(bytes(data))
    rejected = unzip.safe_extract(tmp_path / "c.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "class" / "b" / A / f"{A}.ipynb").exists()  # cut off, then deleted
    assert [r.name for r in rejected] == [f"class/b/{A}/{A}.ipynb"]
    assert "Bad CRC-32" in rejected[0].reason


def test_an_encrypted_or_unsupported_entry_costs_only_itself(tmp_path):
    _zip(tmp_path / "c.zip", {f"class/a/{A}/{A}.ipynb": b"{}", f"class/b/{A}/{A}.ipynb": b"{}",
                              f"class/c/{A}/{A}.ipynb": b"{}"})
    data = bytearray((tmp_path / "c.zip").read_bytes())
    records = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    data[records[0] + 8] |= 0x01  # a: "encrypted"
    data[records[1] + 10:records[1] + 12] = (99).to_bytes(2, "little")  # b: compression method 99
    (tmp_path / "c.zip").write_bytes(bytes(data))
    rejected = unzip.safe_extract(tmp_path / "c.zip", tmp_path / "out")
    assert [(r.name.split("/")[1], r.kind) for r in rejected] == [("a", "refused_zip_entry"), ("b", "refused_zip_entry")]
    assert "encrypted" in rejected[0].reason and "cannot be read" in rejected[1].reason
    assert sorted(p.parent.parent.name for p in (tmp_path / "out").rglob("*.ipynb")) == ["c"]


# ============================================================================ formula-safe CSV


def test_neutralize_and_recover_are_exact():
    for text in ["=1+2", "+1", "-x", "@SUM(A1)", "\tx", "\rx", "'=1", "''", "'", "alice", "", "a=b", " =1"]:
        cell = neutralize(text)
        assert not cell.startswith(FORMULA_CHARS) and recover(cell) == text
    assert neutralize("alice") == "alice" and neutralize("=1+2") == "'=1+2" and neutralize("'x") == "''x"


def _raw_cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_grades_csv_is_formula_safe_and_keeps_exact_ids(tmp_path):
    ids = h.FORMULA_IDS + ["\tTab", "\rCR"]
    rows = [Row(SubmissionResult(student=s, assignment=A, parts=[PartResult("nb", "t", f"{A}:t", 2.0, -1.0)],
                                 notes=[Note("extra_files", "=cmd|' /C calc'!A0")])) for s in ids]
    path = tmp_path / "grades.csv"
    write_grades_csv(path, rows, [f"{A}:t"])
    raw = _raw_cells(path)
    header = raw[0]
    for cells in raw[1:]:
        for column, cell in zip(header, cells):
            if column in (f"{A}:t", "total"):
                assert cell == "-1"  # a negative score stays a number
            else:
                assert not cell.startswith(FORMULA_CHARS), (column, cell)
    lines = [line for line in path.read_bytes().decode("utf-8").split("\n") if line]
    assert all(line.startswith('"') for line in lines)  # every cell quoted
    table = read_grades_csv(path)
    assert sorted(row["student"] for row in table) == sorted(ids)
    assert {row["reason"] for row in table} == {"=cmd|' /C calc'!A0"}


def test_write_csv_neutralizes_the_header_too(tmp_path):
    write_csv(tmp_path / "x.csv", ["=a", "n"], [["@b", "-3"]], numeric={"n"})
    assert _raw_cells(tmp_path / "x.csv") == [["'=a", "n"], ["'@b", "-3"]]
    assert read_csv(tmp_path / "x.csv", numeric={"n"}) == [{"=a": "@b", "n": "-3"}]


# ============================================================================ end to end


def _grade(submissions_path: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "grade", str(submissions_path), "--out", str(out), "--quiet",
               "--workers", "2", "--timeout", "60", "--cell-timeout", "20"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)


def _check_rows(out: Path, subs: list[g.Submission]) -> None:
    rows = {(row["student"], row["assignment"]): row for row in read_grades_csv(out / "grades.csv")}
    for sub in subs:
        row = rows.pop((sub.student, sub.assignment))
        assert (float(row["total"]), row["status"]) == (sub.score, sub.status), (sub.student, row)
        assert sub.reason_contains in row["reason"], (sub.student, row)
    assert rows == {}
    for cells in _raw_cells(out / "grades.csv"):
        assert not any(cell.startswith(FORMULA_CHARS) and not cell.lstrip("-").replace(".", "").isdigit()
                       for cell in cells), cells


@pytest.mark.slow
def test_a_folder_name_that_is_not_utf8_never_stops_the_class(tmp_path):
    solution = g.dumps(g.solution(A))
    h.write_undecodable_folder(tmp_path / "class", A, {f"{A}.ipynb": solution})
    g.write_folder(tmp_path / "class", [g.good_kinds(A)[1]])
    out = tmp_path / "out"
    done = _grade(tmp_path / "class", out)
    assert done.returncode == 0, done.stdout + done.stderr
    full = sum(g.points(A).values())
    _check_rows(out, [g.Submission(h.UNDECODABLE_ID, A, {}, full, "odd_name", "not valid UTF-8"),
                      g.good_kinds(A)[1]])
    assert (out / "feedback" / safe_name(h.UNDECODABLE_ID) / A / f"{A}.html").is_file()
