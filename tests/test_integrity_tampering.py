"""The tampering corpus (tests/tampering/), graded for real: every attack scores zero where it attacks and is flagged.

Quick tests check the corpus itself. The slow ones build every attack's submission, grade all of
them with real nbgrader ``autograde`` and the course's configuration (sandboxed kernels and the
trusted verification, ``grader.integrity``), and check the gradebook and the verdicts. One more
slow test grades the attacks marked ``fools_stock`` with *stock* nbgrader (the same course without
``grader.integrity``) and shows that they do fool it: the tests can fail.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tampering
from grader.sandbox import availability

from exercise_helpers import (ASSIGNMENTS, PARTS, make_course, nbgrader, nbgrader_meta, release_notebook,
                              source_notebook, submit)

ATTACKS = tampering.manifest()
BY_NAME = {attack.name: attack for attack in ATTACKS}
HONEST = "honest"

# --------------------------------------------------------------------------- the corpus itself


def test_the_corpus_has_every_kind_of_attack_and_a_manifest_entry_per_file():
    assert sorted(BY_NAME) == tampering.attack_files()
    assert len(ATTACKS) >= 15
    for attack in ATTACKS:
        points = {f"test_{p}" for p in PARTS[attack.assignment]}
        assert attack.attacks and set(attack.attacks) <= points, attack.name
        assert attack.reason and attack.description, attack.name
    text = {name: (tampering.FOLDER / f"{name}.py").read_text(encoding="utf-8") for name in BY_NAME}
    kinds = {
        "patches torch, numpy or math": ["torch.allclose =", "np.allclose =", "math.isclose ="],
        "rebinds or patches grader.checks": ["check = lambda", "compare.compare_outcomes ="],
        "imports the reference": ["from grader.reference import"],
        "forbidden modules and ops, directly and indirectly": ["nn.LSTM(", "_VF", "getattr(torch,", "import_module(",
                                                               "torch.ops.aten"],
        "IPython transformers and exception handlers": ["input_transformers_cleanup", "ast_transformers",
                                                        "set_custom_exc"],
        "edited, deleted or added test cells, stripped metadata": ["edited_test_cell", "deleted_test_cell",
                                                                  "added_test_cell", "stripped_metadata"],
        "__eq__ tricks and tensor subclasses": ["def __eq__", "(torch.Tensor)"],
        "hard-coded visible outputs": ["TABLE"],
        "reading the solutions or the reference from disk": ["\"solutions\"", "\"reference\""],
        "exiting the process": ["os._exit("],
    }
    for kind, needles in kinds.items():
        for needle in needles:
            assert any(needle in source or needle == name for name, source in text.items()), (kind, needle)
    assert any(attack.fools_stock for attack in ATTACKS)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_attack_builds_a_valid_notebook_that_differs_from_the_solution(name):
    import nbformat

    attack = BY_NAME[name]
    source = source_notebook(attack.assignment)
    built = attack.build(source, release_notebook(attack.assignment))
    assert built != source
    nbformat.validate(nbformat.from_dict(built))


# --------------------------------------------------------------------------- slow: graded for real


def _grade(tmp: Path, assignment: str, config_tail: str | None, students: dict[str, dict]) -> dict:
    """Autograde ``students`` (name -> notebook) of one assignment; scores, outputs and verdicts per student."""
    course = make_course(tmp, assignment)
    if config_tail is not None:  # stock nbgrader: the course's configuration without grader.integrity
        config = (course / "nbgrader_config.py").read_text(encoding="utf-8")
        cut = config.index("# The trusted verification")
        (course / "nbgrader_config.py").write_text(config[:cut] + config_tail, encoding="utf-8")
    nbgrader(["generate_assignment", assignment, "--force"], course)
    for student, notebook in students.items():
        submit(course, assignment, student, notebook)
    started = time.perf_counter()
    result = nbgrader(["autograde", assignment, "--force"], course)
    seconds = time.perf_counter() - started

    from nbgrader.api import Gradebook

    graded = {"seconds": seconds, "log": result.stderr, "students": {}}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission_notebook(assignment, assignment, student)
            path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
            notebook = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"cells": [], "metadata": {}}
            outputs = {}
            for cell in notebook["cells"]:
                if nbgrader_meta(cell).get("grade"):
                    outputs[nbgrader_meta(cell)["grade_id"]] = "\n".join(
                        (o.get("ename", "") + ": " + o.get("evalue", "")) if o["output_type"] == "error"
                        else "".join(o.get("text", "")) for o in cell.get("outputs", []))
            graded["students"][student] = {
                "scores": {grade.name: grade.score for grade in submission.grades},
                "max": {grade.name: grade.max_score for grade in submission.grades},
                "verdict": notebook["metadata"].get("hidden_state_integrity"),
                "outputs": outputs,
            }
    return graded


def _submissions(assignment: str, attacks: list) -> dict[str, dict]:
    source, release = source_notebook(assignment), release_notebook(assignment)
    students = {HONEST: source}
    for attack in attacks:
        students[attack.name] = attack.build(source, release)
    return students


@pytest.fixture(scope="module")
def corpus_graded(tmp_path_factory):
    """Every attack (and the honest solution) of every assignment, autograded with grader.integrity."""
    tmp = tmp_path_factory.mktemp("integrity")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {a: pool.submit(_grade, tmp, a, None, _submissions(a, [x for x in ATTACKS if x.assignment == a]))
                   for a in ASSIGNMENTS}
        results = {a: f.result() for a, f in futures.items()}
    print(f"\ngrading the tampering corpus took {time.perf_counter() - started:.0f} s")
    for a, r in results.items():
        count = len(r["students"])
        print(f"  {a}: {count} notebooks in {r['seconds']:.1f} s ({r['seconds'] / count:.1f} s each)")
        for student, data in r["students"].items():
            verdict = data["verdict"] or {}
            print(f"    {student}: verification {verdict.get('seconds')} s (runner {verdict.get('runner_seconds')} s)")
    return results


def _reasons(verdict: dict) -> list[str]:
    reasons = list(verdict["suspicious"])
    for part in verdict["parts"].values():
        reasons += [f"{part['name']}: {reason}" for reason in part["suspicious"]]
    return reasons


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_solutions_keep_full_marks_and_raise_no_suspicion(corpus_graded, assignment):
    honest = corpus_graded[assignment]["students"][HONEST]
    assert honest["scores"] == honest["max"], honest["outputs"]
    assert honest["verdict"]["sandboxed"] is availability.available()
    assert _reasons(honest["verdict"]) == []
    for grade_id, output in honest["outputs"].items():
        assert "cases pass" in output and "trusted grader" in output, grade_id


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_an_attack_scores_zero_where_it_attacks_and_is_reported_suspicious_with_the_reason(corpus_graded, name):
    attack = BY_NAME[name]
    graded = corpus_graded[attack.assignment]["students"][name]
    expected = {grade_id: (0.0 if grade_id in attack.attacks else points) for grade_id, points in graded["max"].items()}
    assert graded["scores"] == expected, graded["outputs"]
    verdict = graded["verdict"]
    reasons = _reasons(verdict)
    assert any(attack.reason in reason for reason in reasons), reasons
    for grade_id in attack.attacks:
        assert verdict["parts"][grade_id]["passed"] is False
        output = graded["outputs"][grade_id]
        assert output.startswith(("CheckFailure: ", "ForbiddenCall: ", "NameError: ")), output


@pytest.mark.slow
def test_without_the_trusted_verification_stock_nbgrader_is_fooled(tmp_path):
    """The same course and attacks with stock nbgrader (in-process checks): these attacks get the points."""
    fooling = [attack for attack in ATTACKS if attack.fools_stock]
    stock = '# stock nbgrader: no grader.integrity\n'
    names = sorted({attack.assignment for attack in fooling})
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {a: pool.submit(_grade, tmp_path, a, stock, {x.name: x.build(source_notebook(a), release_notebook(a))
                                                              for x in fooling if x.assignment == a})
                   for a in names}
        results = {a: f.result() for a, f in futures.items()}
    for attack in fooling:
        graded = results[attack.assignment]["students"][attack.name]
        assert graded["verdict"] is None  # no trusted verification ran
        for grade_id in attack.attacks:
            assert graded["scores"][grade_id] == graded["max"][grade_id], (attack.name, grade_id, graded["outputs"])
