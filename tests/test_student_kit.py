"""The student kit, as a student gets it: built by ``make student-kit``, installed into a fresh virtual
environment with no course source on ``sys.path``, and used there.

The environment is made once per session (``python -m venv`` from the base interpreter, then ``pip
install`` of the kit's wheel with the course's pinned versions as constraints; about a minute). In it:
the checks run from recorded cases; the release notebooks pass with the solutions filled in, fail
naming every known mistake, and fail clearly when blank (run with the kit's ``hidden-state-validate``);
nothing installed holds a graded part's implementation or a mistake's code; and a chapter notebook's
demo works in JupyterLab.
"""

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import answers, leaks, similarity
from grader.coursework import (MUTATIONS, filled_release, full_submission, mutated_solution, release_notebook,
                               solved_sources, strip_markers)
from grader.demos import DEMOS
from grader.release import assignments

from lab import chapter_notebook, demo_round_trip

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "dist" / "student-kit"
ASSIGNMENTS = assignments(ROOT)
INSTRUCTOR_MODULES = ["grader.answers", "grader.grading", "grader.integrity", "grader.sandbox", "grader.coursework",
                      "grader.kit", "grader.leaks", "grader.similarity", "grader.release"]


@pytest.fixture(scope="session")
def kit():
    result = subprocess.run(["make", "student-kit"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"make student-kit failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(result.stdout.strip().splitlines()[-1])  # the kit's size, for the record
    return KIT


@pytest.fixture(scope="session")
def env(kit, tmp_path_factory):
    """A fresh virtual environment with the kit's wheel installed; returns its bin/ folder."""
    folder = tmp_path_factory.mktemp("kit-env") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(folder)], check=True)
    wheel = next(kit.glob("hidden_state_kit-*.whl"))
    result = subprocess.run([str(folder / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                             "-c", str(ROOT / "requirements.txt"), str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, f"pip install of the kit failed:\n{result.stderr[-4000:]}"
    return folder / "bin"


def student_env(env_bin: Path) -> dict:
    """A student's shell: the kit's environment first on PATH, nothing of the course on PYTHONPATH."""
    variables = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HIDDEN_STATE_CHECKS",
                                                                   "HIDDEN_STATE_RECORDED", "VIRTUAL_ENV")}
    variables["PATH"] = f"{env_bin}{os.pathsep}{variables.get('PATH', '')}"
    return variables


def run(env_bin, args, cwd, timeout=900):
    return subprocess.run(args, cwd=cwd, env=student_env(env_bin), capture_output=True, text=True, timeout=timeout)


def python(env_bin, code, cwd):
    result = run(env_bin, [str(env_bin / "python"), "-I", "-c", code], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def validate(env_bin, notebooks, cwd):
    return run(env_bin, [str(env_bin / "hidden-state-validate"), *map(str, notebooks)], cwd)


def write(folder: Path, name: str, notebook: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def reports(stdout: str, notebooks: list[Path]) -> dict[Path, str]:
    """Each notebook's part of hidden-state-validate's output."""
    found, order = {}, sorted(notebooks, key=lambda p: stdout.index(f"{p}:"))
    for path, following in zip(order, order[1:] + [None]):
        start = stdout.index(f"{path}:")
        found[path] = stdout[start:stdout.index(f"{following}:") if following else len(stdout)]
    return found


# ----------------------------------------------------------------------------- what the kit holds


def test_the_kit_holds_the_release_notebooks_one_wheel_and_a_readme(kit):
    wheels = list(kit.glob("*.whl"))
    assert len(wheels) == 1 and wheels[0].name.startswith("hidden_state_kit-")
    for assignment in ASSIGNMENTS:
        shipped = kit / "exercises" / assignment / f"{assignment}.ipynb"
        assert shipped.read_bytes() == (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_bytes()
    readme = (kit / "README.md").read_text(encoding="utf-8")
    assert wheels[0].name in readme and "hidden-state-validate" in readme and "jupyter lab" in readme
    assert sorted(p.name for p in kit.iterdir()) == sorted(["README.md", "exercises", wheels[0].name])


def test_the_installed_package_is_the_kit_without_the_grading_side(env, tmp_path):
    out = python(env, f'''
import importlib.util, grader, grader.reference
from grader.checks import sources
print(grader.__file__)
print([m for m in {INSTRUCTOR_MODULES!r} if importlib.util.find_spec(m) is not None])
print(type(sources.default()).__name__)
print(sorted(n for n in {sorted(answers.answers())!r} if hasattr(grader.reference, n)))
''', cwd=tmp_path)
    location, instructor, source, graded_in_reference = out.splitlines()
    assert location.startswith(str(env.parent)) and "site-packages" in location
    assert instructor == "[]" and source == "RecordedSource" and graded_in_reference == "[]"


def graded_and_mistakes() -> list[similarity.Graded]:
    """Every graded implementation, and the code of every known mistake that is a function of its own."""
    found = leaks.graded_implementations()
    for name, answer in answers.answers().items():
        for mistake in answer.mistakes:
            if inspect.isfunction(mistake.fn) and mistake.fn.__name__ != "<lambda>":
                found.append(similarity.Graded(name, f"mistake {mistake.name!r}", inspect.getsource(mistake.fn)))
    return found


def test_nothing_the_kit_installs_holds_an_answer_or_a_mistake(kit, env):
    detector = similarity.Detector(graded_and_mistakes())
    site = next((env.parent / "lib").glob("python*/site-packages"))
    installed = [site / "grader", *site.glob("hidden_state_kit-*.dist-info"), env / "hidden-state-validate"]
    found = []
    for path in installed:
        if path.is_dir():
            found += leaks.scan(path, detector)
        else:
            found += detector.scan(path.name, path.read_text(encoding="utf-8"))
    found += leaks.scan(kit, detector)
    assert not found, "\n".join(map(str, found))


# ----------------------------------------------------------------------------- using the kit


def test_solved_notebooks_pass_every_check(env, tmp_path):
    notebooks = [write(tmp_path, f"{a}.ipynb", full_submission(a)) for a in ASSIGNMENTS]
    result = validate(env, notebooks, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.count("Every visible check passes") == len(ASSIGNMENTS)


def test_every_known_mistake_fails_its_part_and_is_named(env, tmp_path):
    """One notebook per assignment with every part mistaken: each part fails and names its own mistake."""
    notebooks, expected = [], {}
    for assignment in ASSIGNMENTS:
        mutations = [m for m in MUTATIONS if m[0] == assignment]
        code = dict(solved_sources(assignment))
        for _, part, old, new, _ in mutations:
            code[part] = strip_markers(mutated_solution(assignment, part, old, new))
        path = write(tmp_path, f"{assignment}.ipynb", filled_release(release_notebook(assignment), code))
        notebooks.append(path)
        expected[path] = {f"test_{part}": mistake for _, part, _, _, mistake in mutations}
    result = validate(env, notebooks, tmp_path)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    for path, text in reports(result.stdout, notebooks).items():
        for test_cell, mistake in expected[path].items():
            start = text.index(f"FAILED  {test_cell} ")
            following = text.find("  FAILED  ", start + 1)
            message = text[start:following if following > 0 else len(text)]
            assert f"likely mistake: {mistake}" in message or f"- {mistake}." in message, message


def test_blank_notebooks_fail_clearly(env, tmp_path):
    notebooks = [write(tmp_path, f"{a}.ipynb", release_notebook(a)) for a in ASSIGNMENTS]
    result = validate(env, notebooks, tmp_path)
    assert result.returncode == 1
    for path, text in reports(result.stdout, notebooks).items():
        assert " 0 of " in text and "passed  " not in text, text
        assert text.count("replace `raise NotImplementedError()` with your implementation") == text.count("FAILED")


def test_check_holds_the_visible_seeds_only(env, tmp_path):
    assignment = ASSIGNMENTS[0]
    part, code = next(iter(solved_sources(assignment).items()))
    out = python(env, f'''
import math, torch
from torch import nn
from grader.checks import check
exec({code!r})
check({part}, seeds=[2])
try:
    check({part}, seeds=[5])
except ValueError as error:
    print("refused:", error)
''', cwd=tmp_path)
    assert "visible cases pass" in out and "refused:" in out and "seeds 0, 1, 2 only" in out


def test_a_chapter_demo_works_in_jupyterlab_from_the_kit(env, kit, browser, tmp_path):
    work = tmp_path / "lab"
    shutil.copytree(kit / "exercises", work / "exercises")
    chapter = "02_cell_state"  # the quickest chapter to run
    notebook = chapter_notebook(chapter, work)
    demo_round_trip(browser, tmp_path, env / "python", notebook, DEMOS[chapter](), f"kit_jupyterlab_{chapter}",
                    env={"PYTHONPATH": None, "PATH": student_env(env)["PATH"]})
