"""Fast tests of the grading pipeline's parts that run no kernel: zip safety, discovery, validation
and repair, statuses and grades.csv, the report, the progress bar, feedback redaction, limits, CLI.

The notebooks are the course's real ones (``solutions/`` and the student release ``exercises/``).
"""

from __future__ import annotations

import copy
import io
import json
import re
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_class as g
from grader.grading import intake, notebook_reader, repair, report, submissions, unzip
from grader.grading.cli import build_parser, options_from, parse_size
from grader.grading.course import load_spec
from grader.grading.feedback import RedactHiddenTests, ReduceTracebacks, ScrubHiddenText
from grader.grading.progress import Progress, format_duration
from grader.grading.results import (STATUSES, Note, PartResult, Row, SubmissionResult, csv_columns,
                                    format_score, read_grades_csv, reason_of, status_of, write_grades_csv)
from grader.grading.workspace import Workspace, WorkspaceBusy, safe_name
from grader.notebooks import hidden_lines, normalized, strip_hidden

ROOT = Path(__file__).resolve().parents[1]
A = "01_hidden_state"


@pytest.fixture(scope="module")
def spec():
    """The spec of assignment 1 from the course's source and release (no nbgrader run needed)."""
    return load_spec(A, ROOT / "solutions" / A, ROOT / "exercises" / A, "test")


# ============================================================================ zip safety


def _zip(path: Path, entries: list) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                archive.writestr(entry, b"link target" if stat.S_ISLNK(entry.external_attr >> 16) else b"x")
            else:
                name, data = entry
                archive.writestr(name, data)
    return path


def _symlink(name: str, target: str = "/etc/passwd") -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_safe_extract_keeps_good_entries_and_rejects_every_way_out(tmp_path):
    archive = _zip(tmp_path / "class.zip", [
        ("alice/01_hidden_state/01_hidden_state.ipynb", b"{}"),
        ("alice/01_hidden_state/../../escape1.txt", b"climb"),
        ("../escape2.txt", b"climb"),
        ("/tmp/escape3.txt", b"absolute"),
        ("C:/escape4.txt", b"drive"),
        ("bob\\..\\..\\escape5.txt", b"backslashes"),
        ("bob/./01_hidden_state//01_hidden_state.ipynb", b"{}"),
        ("alice/01_hidden_state/01_hidden_state.ipynb", b"second copy"),
        _symlink("carol/01_hidden_state/01_hidden_state.ipynb"),
    ])
    target = tmp_path / "deep" / "target"
    rejected = submissions.safe_extract(archive, target)
    reasons = {item.name: item.reason for item in rejected}
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "alice/01_hidden_state/01_hidden_state.ipynb", "bob/01_hidden_state/01_hidden_state.ipynb"]
    assert (target / "alice/01_hidden_state/01_hidden_state.ipynb").read_bytes() == b"{}"
    assert "climbs out" in reasons["alice/01_hidden_state/../../escape1.txt"]
    assert "climbs out" in reasons["../escape2.txt"]
    assert reasons["/tmp/escape3.txt"] == "absolute path"
    assert reasons["C:/escape4.txt"] == "absolute path"
    assert "climbs out" in reasons["bob\\..\\..\\escape5.txt"]
    assert reasons["carol/01_hidden_state/01_hidden_state.ipynb"] == "symbolic link"
    assert any("repeats" in item.reason for item in rejected)
    # nothing landed anywhere else, and no link was created
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and target not in p.parents and p != archive]
    assert outside == []
    assert not Path("/tmp/escape3.txt").exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))


def test_oversized_entry_is_rejected_even_if_its_header_lies(tmp_path, monkeypatch):
    monkeypatch.setattr(unzip, "MAX_ENTRY_BYTES", 1000)
    archive = _zip(tmp_path / "big.zip", [("alice/01_hidden_state/a.ipynb", b"x" * 5000),
                                          ("alice/01_hidden_state/small.txt", b"ok")])
    rejected = submissions.safe_extract(archive, tmp_path / "out")
    assert [item.reason for item in rejected] == ["larger than 0 MiB"]
    assert not (tmp_path / "out/alice/01_hidden_state/a.ipynb").exists()
    assert (tmp_path / "out/alice/01_hidden_state/small.txt").read_bytes() == b"ok"


def test_utf8_names_without_the_utf8_flag_are_recovered(tmp_path):
    raw = "José Müller/01_hidden_state/01_hidden_state.ipynb".encode("utf-8")
    placeholder = b"X" * len(raw)  # ASCII, so Python writes no UTF-8 flag; then the bytes are swapped in
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(placeholder.decode(), b"{}")
    (tmp_path / "c.zip").write_bytes(buffer.getvalue().replace(placeholder, raw))
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        assert not archive.infolist()[0].flag_bits & 0x800
    submissions.safe_extract(tmp_path / "c.zip", tmp_path / "out")
    assert (tmp_path / "out" / "José Müller" / A / f"{A}.ipynb").is_file()


def test_unpack_reuses_an_unchanged_zip_and_rejects_a_broken_one(tmp_path):
    archive = _zip(tmp_path / "c.zip", [("alice/01_hidden_state/x.ipynb", b"{}"), ("../bad", b"")])
    state = {}
    folder, rejected = submissions.unpack(archive, tmp_path / "unpacked", state)
    assert [item.name for item in rejected] == ["../bad"]
    marker = folder / "marker"
    marker.write_text("kept")
    again, rejected_again = submissions.unpack(archive, tmp_path / "unpacked", state)
    assert marker.exists() and [item.name for item in rejected_again] == ["../bad"]
    _zip(archive, [("bob/01_hidden_state/x.ipynb", b"{}")])
    folder, _ = submissions.unpack(archive, tmp_path / "unpacked", state)
    assert not marker.exists() and (folder / "bob").is_dir() and not (folder / "alice").exists()
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(submissions.SubmissionsError):
        submissions.unpack(tmp_path / "broken.zip", tmp_path / "unpacked2", {})


# ============================================================================ discovery


def _touch(path: Path, data: bytes = b"{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_discover_students_assignments_and_oddities(tmp_path):
    root = tmp_path / "wrapper" / "submitted"
    _touch(root / "alice" / A / f"{A}.ipynb")
    _touch(root / "alice" / "01_hiden_state" / "x.ipynb")  # misspelled assignment
    _touch(root / "alice" / "stray.ipynb")
    _touch(root / "José Müller" / "02_cell_state" / "02_cell_state.ipynb")
    _touch(root / "empty student" / "notes.txt")
    _touch(root / "README.txt")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "linked").symlink_to(root / "alice")
    found = submissions.discover(tmp_path / "wrapper", ["01_hidden_state", "02_cell_state"])
    assert found.root == root  # looked through two wrapping folders
    assert found.students == sorted(["alice", "José Müller", "empty student"])
    assert set(found.folders) == {("alice", A), ("José Müller", "02_cell_state")}
    alice = " ".join(note.text for note in found.notes_for("alice", A))
    assert "01_hiden_state" in alice and "stray.ipynb" in alice
    assert any("README.txt" in problem for problem in found.problems)
    assert any("symbolic link" in problem for problem in found.problems)
    assert found.assignments == ["01_hidden_state", "02_cell_state"]


def test_a_single_student_folder_is_not_mistaken_for_a_wrapper(tmp_path):
    _touch(tmp_path / "alice" / A / f"{A}.ipynb")
    found = submissions.discover(tmp_path, [A])
    assert found.students == ["alice"]


def test_rejected_zip_entries_are_charged_to_their_student(tmp_path):
    _touch(tmp_path / "class" / "mallory" / A / f"{A}.ipynb")
    rejected = [submissions.Rejected("class/mallory/01_hidden_state/../../../x", "climbs out"),
                submissions.Rejected("class/mallory/link.ipynb", "symbolic link"),
                submissions.Rejected("../evil", "climbs out"),
                submissions.Rejected("/abs", "absolute path")]
    found = submissions.discover(tmp_path, [A], rejected)
    assert [n.kind for n in found.notes[("mallory", A)]] == ["unsafe_zip_entry"]
    assert [n.kind for n in found.notes[("mallory", None)]] == ["unsafe_zip_entry"]
    assert sum("'../evil'" in p or "'/abs'" in p for p in found.problems) == 2


def test_folder_fingerprint_changes_with_any_file(tmp_path):
    _touch(tmp_path / "a.ipynb", b"1")
    first = submissions.folder_fingerprint(tmp_path)
    assert submissions.folder_fingerprint(tmp_path) == first
    _touch(tmp_path / "sub" / "b.txt", b"2")
    second = submissions.folder_fingerprint(tmp_path)
    (tmp_path / "a.ipynb").write_bytes(b"3")
    assert len({first, second, submissions.folder_fingerprint(tmp_path)}) == 3


# ============================================================================ reading notebooks


@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b"  \n ", "is empty"),
    (bytes(range(256)), "binary"),
    (b"\xff\xfe{ }", "not UTF-8"),
    (b'{"cells": [', "not valid JSON (line 1"),
    (b"[1, 2]", "not a Jupyter notebook"),
    (b'{"metadata": {}}', "not a Jupyter notebook"),
    (b'{"cells": [], "nbformat": "4"}', "no notebook format version"),
    (b'{"cells": [], "nbformat": 5, "nbformat_minor": 0}', "newer than this grader reads"),
    (b'{"cells": {}, "nbformat": 4, "nbformat_minor": 5}', "without a list of cells"),
])
def test_unreadable_notebooks_say_why(tmp_path, data, message):
    path = tmp_path / "n.ipynb"
    path.write_bytes(data)
    with pytest.raises(notebook_reader.Unreadable, match=re.escape(message)):
        notebook_reader.read_notebook(path)


def test_too_large_notebook(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_bytes(g.dumps(g.solution(A)))
    with pytest.raises(notebook_reader.Unreadable, match="too large"):
        notebook_reader.read_notebook(path, max_bytes=1000)


def test_old_format_is_converted_and_noted(tmp_path):
    old = nbformat.convert(nbformat.reads(json.dumps(g.solution(A)), as_version=4), 3)
    path = tmp_path / "n.ipynb"
    path.write_text(nbformat.writes(old), encoding="utf-8")
    notebook, notes = notebook_reader.read_notebook(path)
    assert [n.kind for n in notes] == ["old_nbformat"]
    assert notebook.nbformat == 4 and len(notebook.cells) == len(g.solution(A)["cells"])


def test_sloppy_but_usable_structure_is_normalized(tmp_path):
    nb = g.solution(A)
    nb["cells"][1]["source"] = ["import torch\n", "x = 1"]
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "forged\n"}]
    nb["cells"][2]["id"] = "not a valid id!"
    nb["cells"][3]["id"] = nb["cells"][4]["id"] = "dup"
    nb["cells"].append({"cell_type": "heading", "source": "old heading cell", "metadata": {}})
    path = tmp_path / "n.ipynb"
    path.write_bytes(("\ufeff" + json.dumps(nb)).encode("utf-8"))  # with a BOM
    notebook, notes = notebook_reader.read_notebook(path)
    assert notes == []
    assert notebook.cells[1].source == "import torch\nx = 1" and notebook.cells[1].outputs == []
    ids = [cell.id for cell in notebook.cells]
    assert len(set(ids)) == len(ids) and all(notebook_reader.ID_PATTERN.match(i) for i in ids)
    assert len(notebook.cells) == len(nb["cells"]) - 1
    nbformat.validate(notebook)


# ============================================================================ repairing against the release


def _read(nb: dict):
    """A notebook as :func:`notebook_reader.read_notebook` returns it."""
    notebook = nbformat.from_dict(copy.deepcopy(nb))
    notebook_reader.well_formed(notebook)
    return notebook


def _ids(notebook) -> list:
    return [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]


def test_an_honest_solution_or_release_needs_no_repair(spec):
    for nb in (g.solution(A), g.release(A), g.partial(A)):
        notebook = _read(nb)
        assert repair.repair(notebook, spec.release[A]) == []


def test_edited_locked_cell_gets_its_released_source_back(spec):
    nb = g.solution(A)
    test = g.test_ids(A)[0]
    for cell in nb["cells"]:
        if g.nbgrader(cell).get("grade_id") == test:
            cell["source"] = "pass"
        if g.nbgrader(cell).get("grade_id") == "setup":
            cell["source"] += "\nimport os"
    notebook = _read(nb)
    notes = repair.repair(notebook, spec.release[A])
    assert {n.kind for n in notes} == {"tampered_tests"}
    assert any(f"{test!r} was edited" in n.text for n in notes) and any("'setup' was edited" in n.text for n in notes)
    released = {c.metadata.nbgrader["grade_id"]: c.source for c in spec.release[A].cells if "nbgrader" in c.metadata}
    restored = {c.metadata.nbgrader["grade_id"]: c.source for c in notebook.cells if "nbgrader" in c.metadata}
    assert restored[test] == released[test] and restored["setup"] == released["setup"]


def test_deleted_test_cell_is_inserted_after_its_solution(spec):
    tests, sols = g.test_ids(A), g.solution_ids(A)
    nb = g.solution(A)
    nb["cells"] = [c for c in nb["cells"] if g.nbgrader(c).get("grade_id") != tests[1]]
    notebook = _read(nb)
    notes = repair.repair(notebook, spec.release[A])
    assert [n.text for n in notes] == [f"locked cell {tests[1]!r} was deleted; restored"]
    ids = _ids(notebook)
    assert ids.index(tests[1]) == ids.index(sols[1]) + 1
    nbformat.validate(notebook)


def test_stripped_metadata_is_recovered_from_content(spec):
    nb = g.solution(A)
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    notebook = _read(nb)
    notes = repair.repair(notebook, spec.release[A])
    assert [n.kind for n in notes] == ["metadata_stripped"]
    assert _ids(notebook) == _ids(_read(g.solution(A)))


def test_changed_points_or_unlocking_is_tampering(spec):
    nb = g.solution(A)
    test = g.test_ids(A)[0]
    for cell in nb["cells"]:
        meta = g.nbgrader(cell)
        if meta.get("grade_id") == test:
            meta["points"] = 100
            meta["locked"] = False
    notebook = _read(nb)
    notes = repair.repair(notebook, spec.release[A])
    assert [n.kind for n in notes] == ["tampered_tests"] and "points" in notes[0].text
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test)
    assert cell.metadata.nbgrader["points"] == g.points(A)[test] and cell.metadata.nbgrader["locked"]


def test_unknown_and_duplicate_grade_ids_lose_their_metadata(spec):
    nb = g.solution(A)
    sol = next(c for c in nb["cells"] if g.nbgrader(c).get("solution"))
    copy_of_solution = copy.deepcopy(sol)
    copy_of_solution["id"] = "copy"
    nb["cells"].append(copy_of_solution)
    nb["cells"].append({"cell_type": "code", "id": "unknown", "metadata": {"nbgrader": {"grade_id": "mine", "grade": True,
                        "points": 50}}, "source": "1", "outputs": [], "execution_count": None})
    notebook = _read(nb)
    assert repair.repair(notebook, spec.release[A]) == []
    assert _ids(notebook)[-2:] == [None, None]


# ============================================================================ a submission folder


def _folder(tmp_path, files: dict) -> Path:
    folder = tmp_path / "alice" / A
    for name, data in files.items():
        _touch(folder / name, data)
    return folder


def test_prepare_a_good_submission(tmp_path, spec):
    folder = _folder(tmp_path, {f"{A}.ipynb": g.dumps(g.solution(A)), "timestamp.txt": b"2024-03-01 12:00:00 UTC\n",
                                ".ipynb_checkpoints/x-checkpoint.ipynb": b"{}"})
    prepared = intake.prepare_submission(folder, spec)
    assert prepared.notes == [] and prepared.timestamp == "2024-03-01 12:00:00 UTC"
    item = prepared.notebooks[A]
    assert item.notebook is not None and item.notes == [] and item.submitted_as == f"{A}.ipynb"


def test_wrong_name_is_found_by_content_among_other_notebooks(tmp_path, spec):
    folder = _folder(tmp_path, {"scratch.ipynb": b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
                                "Copy of homework.ipynb": g.dumps(g.partial(A)), "notes.md": b"hi",
                                "timestamp.txt": b"not a time"})
    prepared = intake.prepare_submission(folder, spec)
    item = prepared.notebooks[A]
    assert item.submitted_as == "Copy of homework.ipynb"
    assert [n.kind for n in item.notes] == ["wrong_name"]
    assert status_of(prepared.notes) == "extra_files"
    assert "scratch.ipynb" in reason_of(prepared.notes) and "notes.md" in reason_of(prepared.notes)
    assert prepared.timestamp is None and "timestamp.txt" in reason_of(prepared.notes)


def test_same_name_in_another_case_or_a_lone_notebook_is_taken(tmp_path, spec):
    prepared = intake.prepare_submission(_folder(tmp_path / "a", {f"{A.upper()}.ipynb": g.dumps(g.solution(A))}), spec)
    assert prepared.notebooks[A].submitted_as == f"{A.upper()}.ipynb"
    prepared = intake.prepare_submission(_folder(tmp_path / "b", {"Untitled.ipynb": b"not even json"}), spec)
    item = prepared.notebooks[A]
    assert item.submitted_as == "Untitled.ipynb" and status_of(item.notes) == "invalid_notebook"


def test_missing_notebook_and_ignored_links(tmp_path, spec):
    folder = _folder(tmp_path, {"notes.txt": b"sorry"})
    (folder / "link.ipynb").symlink_to(ROOT / "solutions" / A / f"{A}.ipynb")
    prepared = intake.prepare_submission(folder, spec)
    assert prepared.notebooks[A].notebook is None
    assert status_of(prepared.notebooks[A].notes) == "missing"
    assert "link.ipynb" in reason_of(prepared.notes) and "notes.txt" in reason_of(prepared.notes)


# ============================================================================ the course's hidden tests


def test_hidden_regions():
    source = "check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, seeds=[9], hidden=True)\n### END HIDDEN TESTS\nprint(1)"
    assert strip_hidden(source) == "check(f)\nprint(1)"
    assert hidden_lines(source) == ["check(f, seeds=[9], hidden=True)"]
    assert strip_hidden("a\n### BEGIN HIDDEN TESTS\nsecret") == "a"  # unterminated: to the end
    assert normalized("x  \n\n") == normalized("x")


def test_spec_of_a_real_assignment(spec):
    assert [p.column for p in spec.parts] == [f"{A}:{gid}" for gid in g.test_ids(A)]
    assert spec.max_score == sum(g.points(A).values())
    assert set(g.hidden_only_strings(A)) <= set(spec.hidden[A])


# ============================================================================ statuses and grades.csv


def test_status_is_the_most_serious_note():
    assert list(STATUSES)[-1] == "ok" and status_of([]) == "ok"
    notes = [Note("extra_files", "b"), Note("timeout", "a"), Note("ok", "c"), Note("extra_files", "b")]
    assert status_of(notes) == "timeout"
    assert reason_of(notes) == "a; b; c"
    with pytest.raises(ValueError):
        Note("fine", "not a status")


def test_format_score():
    assert [format_score(x) for x in (0, 2, 2.0, 1.5, 1 / 3, None, -0.0)] == ["0", "2", "2", "1.5", "0.333333", "", "0"]


def _result(student, assignment, scores, notes=(), graded=True):
    parts = [PartResult("nb", f"t{i}", f"{assignment}:t{i}", 2.0, score) for i, score in enumerate(scores)]
    return SubmissionResult(student=student, assignment=assignment, parts=parts, notes=list(notes), graded=graded)


def test_grades_csv_rows_columns_and_exact_ids(tmp_path):
    unsandboxed = _result("zoë", "a2", [2, 0])
    unsandboxed.sandboxed = False
    rows = [Row(unsandboxed),
            Row(_result("Anna Maria", "a1", [1.5, 2]), [Note("unsafe_zip_entry", "zip entry 'x' not extracted")]),
            Row(_result("Anna Maria", "a2", [0, 0], [Note("missing", "no folder a2/")], graded=False)),
            Row(_result("bob, \"the\" builder", "a1", [0, 0], [Note("invalid_notebook", "is empty")]))]
    columns = ["a1:t0", "a1:t1", "a2:t0", "a2:t1"]
    path = tmp_path / "grades.csv"
    write_grades_csv(path, rows, columns)
    table = read_grades_csv(path)
    assert list(table[0]) == csv_columns(columns)
    assert [(r["student"], r["assignment"]) for r in table] == [
        ("Anna Maria", "a1"), ("Anna Maria", "a2"), ('bob, "the" builder', "a1"), ("zoë", "a2")]
    assert table[0] | {} == {"student": "Anna Maria", "assignment": "a1", "a1:t0": "1.5", "a1:t1": "2", "a2:t0": "",
                             "a2:t1": "", "total": "3.5", "max_score": "4", "status": "unsafe_zip_entry",
                             "reason": "zip entry 'x' not extracted", "sandboxed": ""}
    assert table[1]["status"] == "missing" and table[2]["status"] == "invalid_notebook"
    assert table[3]["sandboxed"] == "no"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]
    before = path.read_bytes()
    write_grades_csv(path, list(reversed(rows)), columns)
    assert path.read_bytes() == before  # the order of the rows given does not matter


# ============================================================================ workspace


def test_safe_names():
    assert safe_name("alice") == "alice" and safe_name("s.123_x-y") == "s.123_x-y"
    weird = ["José Müller", "Anna Maria", "../etc", ".hidden", "a/b", "名前", "", "x" * 200, "_alice-0123456789"]
    names = [safe_name(student) for student in weird]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name) and not name.startswith(".") and len(name) <= 64
    assert safe_name("José Müller").startswith("_Jose_Muller-")
    assert safe_name("José Müller") != safe_name("Jose Muller")


def test_workspace_lock_and_results(tmp_path):
    workspace = Workspace(tmp_path / "ws").open()
    try:
        with pytest.raises(WorkspaceBusy):
            Workspace(tmp_path / "ws").open()
        result = _result("José Müller", "a1", [2, 1], [Note("timeout", "slow")])
        workspace.save_result(result)
        (workspace.state / "results" / "broken").mkdir()
        (workspace.state / "results" / "broken" / "a1.json").write_text("{not json")
        loaded = workspace.load_results()
        assert list(loaded) == [("José Müller", "a1")]
        assert loaded[("José Müller", "a1")] == result
    finally:
        workspace.close()
    Workspace(tmp_path / "ws").open().close()  # the lock is released


# ============================================================================ report


def test_report_is_self_contained_and_lists_what_needs_attention(spec):
    evil = "<script>alert('x')</script>"
    part_message = ("CheckFailure: stacked_rnn_forward is not right yet: case 2 of 7 for seed 0.\n  inputs: B=1\n"
                    "  likely mistake: forgot the bias. Add bias_hh.")
    rows = []
    for i, total in enumerate([0, 6, 6, 4]):
        result = SubmissionResult(student=f"s{i}", assignment=A, parts=spec.empty_parts())
        for part in result.parts:
            part.score = part.max_score if total == 6 else 0.0
        if total == 4:
            result.parts[1].score, result.parts[2].score, result.parts[3].score = 2.0, 1.0, 1.0
            result.parts[0].message = part_message
            result.notes.append(Note("timeout", "cell 13 ran longer than 10 s and was interrupted"))
        rows.append(Row(result))
    rows.append(Row(SubmissionResult(student=evil, assignment=A, parts=spec.empty_parts(),
                                     notes=[Note("invalid_notebook", "is empty")],
                                     feedback=[f"feedback/x/{A}/{A}.html"])))
    rows.append(Row(SubmissionResult(student="gone", assignment=A, parts=spec.empty_parts(),
                                     notes=[Note("missing", "no folder")], graded=False)))
    page = report.render(rows, {A: spec}, ["zip entry '../x' not extracted: climbs out"], {"graded": 5, "workers": 2})
    assert "<script" not in page and evil not in page and html_escape(evil) in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == 1 and "<rect" in page
    assert "Needs attention (2 submissions)" in page and "cell 13 ran longer than 10 s" in page
    assert "Not submitted (1)" in page and "gone" in page
    assert "zip entry &#x27;../x&#x27; not extracted" in page
    assert "likely mistake: forgot the bias" in page
    assert f"feedback/x/{A}/{A}.html" in page
    assert "2/5 (40%)" in page  # test_stacked_rnn_forward: passed by the two full-marks students of five submissions


def html_escape(text):
    import html

    return html.escape(text, quote=True)


def test_failure_messages_are_folded_by_kind():
    a = "CheckFailure: f is not right yet: case 1 of 7 for seed 0.\n  problem: entry [0, 1] is 0.5, expected 0.25"
    b = "CheckFailure: f is not right yet: case 3 of 9 for seed 2.\n  problem: entry [2, 0] is 7, expected 1e-3"
    c = "CheckFailure: f is not right yet: a hidden case.\n  problem: entry [1, 1] is 2, expected 3"
    assert report.failure_key(a) == report.failure_key(b) == report.failure_key(c)
    assert report.failure_key("NameError: name 'f' is not defined") != report.failure_key(a)


def test_histogram_counts():
    svg = report.histogram_svg([0, 0, 6, 5.5, 3], 6, "t")
    assert svg.count('class="hbar"') == 7 and ">2</text>" in svg
    assert report.histogram_svg([1.5, 30], 37.5, "t").count('class="hbar"') == 10


# ============================================================================ progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_lines_in_a_log():
    clock, out = _Clock(), io.StringIO()
    with Progress(20, stream=out, clock=clock) as bar:
        for _ in range(20):
            clock.now += 3
            bar.update()
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and "\r" not in out.getvalue()
    assert lines[0].startswith("grading [#") and "1/20 notebooks" in lines[0] and "20.0/min" in lines[0]
    assert "0:57 left" in lines[0] and lines[-1].endswith("20/20 notebooks, 20.0/min, done in 1:00")


def test_progress_on_a_terminal_redraws_and_quiet_prints_nothing():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    clock, out = _Clock(), Tty()
    with Progress(3, stream=out, clock=clock) as bar:
        for _ in range(3):
            clock.now += 1
            bar.update()
    assert out.getvalue().count("\r") == 3 and out.getvalue().endswith("\n")
    quiet = io.StringIO()
    with Progress(3, stream=quiet, enabled=False) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""
    assert format_duration(3725) == "1:02:05" and format_duration(59.6) == "1:00"


# ============================================================================ feedback redaction


def _cell(source, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_hidden_tests_and_tracebacks_never_reach_the_feedback():
    secret = "check(stacked_rnn_forward, seeds=[6173, 28411, 903], hidden=True)"
    nb = nbformat.v4.new_notebook(cells=[
        _cell(f"check(stacked_rnn_forward)\n### BEGIN HIDDEN TESTS\n{secret}\n### END HIDDEN TESTS\n",
              [{"output_type": "error", "ename": "CheckFailure",
                "evalue": "stacked_rnn_forward is not right yet: a hidden case.",
                "traceback": ["\x1b[31mCheckFailure\x1b[0m Traceback", f"----> 3 {secret}", "CheckFailure: ..."]}]),
        _cell("x = 1\n### BEGIN HIDDEN TESTS\nunterminated secret region"),
        _cell("import inspect; print(inspect.stack())", [{"output_type": "stream", "name": "stdout",
                                                          "text": f"caller: {secret}\n"}]),
    ])
    resources = {}
    for preprocessor in (RedactHiddenTests(), ReduceTracebacks(), ScrubHiddenText(hidden_lines=[secret, "x"])):
        nb, resources = preprocessor.preprocess(nb, resources)
    text = json.dumps(nb)
    assert "6173" not in text and "unterminated secret region" not in text and "BEGIN HIDDEN" not in text
    assert nb.cells[0].source.startswith("check(stacked_rnn_forward)\n# (hidden tests are not shown)")
    assert nb.cells[0].outputs[0].traceback == ["CheckFailure: stacked_rnn_forward is not right yet: a hidden case."]
    assert nb.cells[2].outputs[0].text == "caller: [hidden test]\n"
    assert nb.cells[1].source == "x = 1\n# (hidden tests are not shown)"


# ============================================================================ resource limits


def test_limits_wrapper_caps_memory_and_forbids_core_dumps():
    script = ROOT / "grader" / "sandbox" / "limits.py"
    code = ("import resource\ntry:\n    bytearray(3 * 2**30)\nexcept MemoryError:\n    print('MemoryError')\n"
            "print(resource.getrlimit(resource.RLIMIT_CORE)[0], resource.getrlimit(resource.RLIMIT_CPU)[0])")
    out = subprocess.run([sys.executable, "-I", "-S", str(script), f"--as={2**30}", "--cpu", "30", "--",
                          sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["MemoryError", "0", "30"], out.stderr
    bad = subprocess.run([sys.executable, str(script), "--nope=1", "--", "true"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option" in bad.stderr


# ============================================================================ command line


def test_cli_options():
    assert parse_size("4G") == 4 * 2**30 and parse_size("512M") == 512 * 2**20 and parse_size("1.5GiB") == 3 * 2**29
    args = build_parser().parse_args(["subs.zip", "--out", "o", "--timeout", "30", "--assignment", "x",
                                      "--assignment", "x", "--memory", "3G"])
    options = options_from(args)
    assert options.limits.timeout == 30 and options.limits.cell_timeout == 30 and options.assignments == ["x"]
    assert options.limits.memory_bytes == 3 * 2**30 and options.workers >= 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["s", "--out", "o", "--workers", "0"])


def test_command_line_errors_are_reported_not_raised(tmp_path):
    def grade(*args):
        return subprocess.run([sys.executable, "-m", "grader", "grade", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)

    missing = grade(str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    (tmp_path / "subs").mkdir()
    unknown = grade(str(tmp_path / "subs"), "--out", str(tmp_path / "o"), "--assignment", "99_nope")
    assert unknown.returncode == 1 and "unknown assignment" in unknown.stderr
    usage = subprocess.run([sys.executable, "-m", "grader"], capture_output=True, text=True, cwd=ROOT)
    assert usage.returncode == 2 and "grade" in usage.stderr


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["scripts"]["hidden-state-grade"]
    module, function = target.split(":")
    assert module == "grader.grading.cli" and callable(getattr(__import__(module, fromlist=[function]), function))
