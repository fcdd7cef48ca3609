"""The nbgrader assignments: source notebooks, the generated release, autograding, and the book's exercise pages.

Quick tests read the notebooks and the release. Slow tests run the real nbgrader
(``generate_assignment`` and ``autograde`` with real kernels and a real gradebook, in temporary
course directories) and a real book build of the exercise pages.
"""

import html as html_module
import inspect
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grader.checks import CHECKS
from grader.checks.core import VISIBLE_SEEDS
from grader.release import generate, notebook_markdown, write_book_pages

from exercise_helpers import (ASSIGNMENTS, MUTATIONS, PARTS, ROOT, autograde_assignment, cell_source,
                              hidden_test_lines, graded_cells, nbgrader_meta, release_notebook, solution_cells,
                              solution_lines, solution_namespace, source_notebook)

# ----------------------------------------------------------------------------- the source notebooks


def test_one_notebook_per_assignment_named_after_it():
    for folder in ("solutions", "exercises"):
        found = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_dir())
        assert found == ASSIGNMENTS, folder
        for assignment in ASSIGNMENTS:
            files = sorted(p.name for p in (ROOT / folder / assignment).iterdir() if not p.name.startswith("."))
            assert files == [f"{assignment}.ipynb"], f"{folder}/{assignment}: {files}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_has_valid_nbgrader_metadata(assignment):
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    nbformat.validate(nbformat.read(path, as_version=4))
    notebook = source_notebook(assignment)
    ids = [nbgrader_meta(c)["grade_id"] for c in notebook["cells"] if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        if meta:
            assert meta["schema_version"] == 3
            assert set(meta) >= {"grade", "grade_id", "locked", "solution", "task"}
            assert not meta["task"]
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    answers = [c for c in code if nbgrader_meta(c).get("solution")]
    assert [nbgrader_meta(c)["grade_id"] for c in answers] == list(PARTS[assignment])
    for cell in answers:
        part = nbgrader_meta(cell)["grade_id"]
        assert not nbgrader_meta(cell)["grade"] and not nbgrader_meta(cell)["locked"]
        source = cell_source(cell)
        assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") >= 1
        following = code[code.index(cell) + 1]
        meta = nbgrader_meta(following)
        assert meta["grade_id"] == f"test_{part}", f"{part} must be followed by its test cell"
        assert meta["grade"] and meta["locked"] and not meta["solution"]
        assert meta["points"] == PARTS[assignment][part]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_are_one_visible_check_and_hidden_checks_with_other_seeds(assignment):
    for grade_id, (source, points) in graded_cells(source_notebook(assignment)).items():
        part = grade_id.removeprefix("test_")
        visible = source.split("### BEGIN HIDDEN TESTS")[0].strip()
        assert visible == f"check({part})"
        hidden = hidden_test_lines(source)
        assert hidden and all(line.startswith(f"check({part}, seeds=[") and "hidden=True" in line for line in hidden)
        seeds = [int(s) for line in hidden for s in re.search(r"seeds=\[([\d, ]+)\]", line).group(1).split(",")]
        assert not set(seeds) & set(VISIBLE_SEEDS)


def test_points_per_assignment():
    totals = {a: sum(points for _, points in graded_cells(source_notebook(a)).values()) for a in ASSIGNMENTS}
    assert totals == {"01_hidden_state": 6, "02_cell_state": 6, "03_initialization": 6, "04_statefulness": 6,
                      "05_vanishing_gradients": 6}


def _signature_of(obj):
    if inspect.isclass(obj):
        methods = {name: str(inspect.signature(getattr(obj, name)))
                   for name in ("__init__", "forward", "initial_state", "reset_state") if name in vars(obj)}
        return methods
    return str(inspect.signature(obj))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_have_the_reference_names_and_signatures(assignment):
    namespace = solution_namespace(assignment)
    for part in PARTS[assignment]:
        ours, theirs = namespace[part], CHECKS[part].reference
        assert ours.__name__ == theirs.__name__
        assert _signature_of(ours) == _signature_of(theirs), part


# ----------------------------------------------------------------------------- the release


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_the_source_without_solutions_and_hidden_tests(assignment):
    source, release = source_notebook(assignment), release_notebook(assignment)
    assert [c.get("id") for c in release["cells"]] == [c.get("id") for c in source["cells"]]
    for ours, theirs in zip(source["cells"], release["cells"]):
        text, released = cell_source(ours), cell_source(theirs)
        meta = nbgrader_meta(ours)
        if meta.get("solution"):
            stubbed = re.sub(r"(?ms)^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION",
                             r"\1# YOUR CODE HERE\n\1raise NotImplementedError()", text)
            assert released == stubbed
        elif meta.get("grade"):
            assert released == text.split("### BEGIN HIDDEN TESTS")[0].rstrip("\n")
        else:
            assert released == text
        assert theirs.get("outputs", []) == []


# Using the reference in code (the prose may name the package, to say it is off limits).
REFERENCE_USE = re.compile(r"import\s+grader\.reference|from\s+grader(\.reference)?\s+import|grader\.reference\.\w"
                           r"|\breference\.\w+\(")


def _forbidden_texts(assignment):
    """Solution code lines, hidden test lines and hidden seeds of an assignment's source notebook."""
    notebook = source_notebook(assignment)
    lines = [line for source in solution_cells(notebook).values() for line in solution_lines(source)]
    lines = [line for line in lines if len(line) > 14]  # skip generic lines such as "return total"
    hidden = [line for source, _ in graded_cells(notebook).values() for line in hidden_test_lines(source)]
    return lines, hidden


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_and_book_copy_contain_no_solution_no_hidden_test_no_reference(assignment):
    solution, hidden = _forbidden_texts(assignment)
    release = release_notebook(assignment)
    released_code = {line.strip() for c in release["cells"] if c["cell_type"] == "code"
                     for line in cell_source(c).splitlines()}
    book_copy = (ROOT / "book" / "exercises" / "_release" / f"{assignment}.md").read_text(encoding="utf-8")
    book_lines = {line.strip() for line in book_copy.splitlines()}
    for text in (json.dumps(release), book_copy):
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "hidden=True"):
            assert marker not in text
    code = "\n".join(released_code) + "\n".join(re.findall(r"(?s)```python\n(.*?)```", book_copy))
    assert not REFERENCE_USE.search(code), "released code uses grader.reference"
    for line in solution:
        assert line not in released_code and line not in book_lines, f"solution line released: {line}"
    for line in hidden:
        assert line not in json.dumps(release) and line not in book_copy


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_book_copy_is_the_rendering_of_the_release(assignment):
    rendered = notebook_markdown(ROOT / "exercises" / assignment / f"{assignment}.ipynb")
    stored = (ROOT / "book" / "exercises" / "_release" / f"{assignment}.md").read_text(encoding="utf-8")
    assert stored == rendered, "run `make exercises` to regenerate the book's copy of the release"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_page_links_and_includes_the_release(assignment):
    page = (ROOT / "book" / "exercises" / f"{assignment}.md").read_text(encoding="utf-8")
    label = f"(ex-{assignment.replace('_', '-')})="
    assert page.splitlines()[0] == label
    link = re.search(r"\{download\}`[^`<]*<([^>]+\.ipynb)>`", page)
    assert link and (ROOT / "book" / "exercises" / link.group(1)).resolve() == \
        (ROOT / "exercises" / assignment / f"{assignment}.ipynb").resolve()
    include = re.search(r"```\{include\} (\S+)", page)
    assert include and (ROOT / "book" / "exercises" / include.group(1)).resolve() == \
        (ROOT / "book" / "exercises" / "_release" / f"{assignment}.md").resolve()
    assert "hidden-state-validate" in page and "student kit" in page and "make exercises" in page


def test_makefile_target_runs_the_release_script():
    result = subprocess.run(["make", "-n", "exercises"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    assert "python -m grader.release" in result.stdout


def test_release_script_answers_help():
    result = subprocess.run([sys.executable, "-m", "grader.release", "--help"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0 and "assignments" in result.stdout


# ----------------------------------------------------------------------------- slow: real nbgrader


@pytest.mark.slow
def test_exercises_equal_a_fresh_generation(tmp_path):
    released = generate(out=tmp_path / "exercises")
    assert sorted(released) == ASSIGNMENTS
    for assignment in ASSIGNMENTS:
        fresh = (tmp_path / "exercises" / assignment / f"{assignment}.ipynb").read_bytes()
        stored = (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_bytes()
        assert fresh == stored, f"exercises/{assignment} is stale or edited by hand: run `make exercises`"
    pages = write_book_pages(root=ROOT, exercises=tmp_path / "exercises", out=tmp_path / "pages")
    for assignment, page in pages.items():
        stored = ROOT / "book" / "exercises" / "_release" / f"{assignment}.md"
        assert page.read_bytes() == stored.read_bytes()


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """Every assignment generated and autograded by the real nbgrader, two assignments at a time."""
    tmp = tmp_path_factory.mktemp("course")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {a: pool.submit(autograde_assignment, tmp, a) for a in ASSIGNMENTS}
        results = {a: f.result() for a, f in futures.items()}
    print(f"\nautograding all assignments took {time.perf_counter() - start:.0f} s")
    for a, r in results.items():
        print(f"  {a}: {r['students']} submissions autograded in {r['seconds']:.1f} s "
              f"({r['seconds'] / r['students']:.1f} s each)")
    return results


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograding_the_solutions_gives_full_marks(autograded, assignment):
    result = autograded[assignment]
    scores, maximum = result["scores"]["solution"], result["max"]
    assert maximum == {f"test_{p}": float(points) for p, points in PARTS[assignment].items()}
    assert scores == maximum, result["outputs"]["solution"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograding_the_untouched_release_gives_zero(autograded, assignment):
    result = autograded[assignment]
    assert set(result["scores"]["release"].values()) == {0.0}
    for grade_id, output in result["outputs"]["release"].items():
        assert "NotImplementedError" in output, grade_id


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(MUTATIONS)), ids=[f"{m[1]}: {m[4]}" for m in MUTATIONS])
def test_a_mutated_part_loses_its_points_only_and_the_message_names_the_mistake(autograded, index):
    assignment, part, _, _, mistake = MUTATIONS[index]
    result = autograded[assignment]
    scores = result["scores"][f"mutant{index}"]
    expected = {grade_id: (0.0 if grade_id == f"test_{part}" else points) for grade_id, points in result["max"].items()}
    assert scores == expected, result["outputs"][f"mutant{index}"]
    assert mistake in result["outputs"][f"mutant{index}"][f"test_{part}"]


# ----------------------------------------------------------------------------- slow: the book's exercise pages


@pytest.mark.slow
def test_exercise_pages_build_without_warnings_and_show_only_the_release(tmp_path):
    """Build the book with the chapters replaced by stubs (their labels kept): the exercise pages are real."""
    book = tmp_path / "book"
    # _vendor holds the site's assets (which `make book` may be writing in another test process):
    # these pages need only the folder to exist.
    shutil.copytree(ROOT / "book", book,
                    ignore=shutil.ignore_patterns("_build", "_vendor", "node_modules", ".ipynb_checkpoints"))
    (book / "_vendor").mkdir()
    (tmp_path / "exercises").symlink_to(ROOT / "exercises")
    for chapter in (book / "chapters").glob("*.md"):
        text = chapter.read_text(encoding="utf-8")
        labels = re.findall(r"^\((\S+)\)=\s*$", text, re.M)
        title = re.search(r"^# (.+)$", text, re.M).group(1)
        stub = "".join(f"({label})=\n" for label in labels) + f"# {title}\n\nA stub for this test.\n"
        chapter.write_text(stub, encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "--warningiserror", "--nitpick",
         "--keep-going", "--path-output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b", line) and "TCP" not in line]
    assert result.returncode == 0 and not warnings, log[-4000:]
    html_dir = tmp_path / "out" / "_build" / "html"
    for assignment in ASSIGNMENTS:
        html = (html_dir / "exercises" / f"{assignment}.html").read_text(encoding="utf-8")
        text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
        assert "raise NotImplementedError()" in text
        for part in PARTS[assignment]:
            assert f"check({part})" in text
        link = re.search(rf'href="(\.\./_downloads/[0-9a-f]+/{assignment}\.ipynb)"', html)
        assert link, "no download link to the notebook"
        downloaded = (html_dir / "exercises" / link.group(1)).resolve()
        assert downloaded.read_bytes() == (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_bytes()
        solution, hidden = _forbidden_texts(assignment)
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "hidden=True"):
            assert marker not in text
        assert not REFERENCE_USE.search(text)
        code_lines = {html_module.unescape(re.sub(r"<[^>]+>", "", line)).strip()
                      for block in re.findall(r"(?s)<pre>(.*?)</pre>", html) for line in block.splitlines()}
        assert "raise NotImplementedError()" in code_lines  # the code blocks were found
        for line in solution:
            assert line not in code_lines, f"{assignment}: solution line shown: {line}"
        for line in hidden:
            assert line not in text, f"{assignment}: hidden test shown: {line}"
