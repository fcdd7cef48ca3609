"""grader.integrity.verify, .plan, .judge: the trusted decision, on real sandboxed runners (slow) and forged data (quick)."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

from grader.checks import CHECKS, CheckFailure, run_check
from grader.checks.core import VISIBLE_SEEDS, Foreign, Outcome, to_outcome
from grader.integrity.judge import counterfeit
from grader.integrity.plan import VerificationError, plan_parts
from grader.integrity.verdict import NotebookVerdict
from grader.integrity.verify import Verifier, VerifySettings
from grader.sandbox import availability

from exercise_helpers import (ASSIGNMENTS, MUTATIONS, PARTS, define, filled_release, mutated_solution, nbgrader_meta,
                              release_notebook, solution_cells, source_notebook, strip_markers)

# ----------------------------------------------------------------------------- quick: parsing and validation


def test_the_parts_are_read_from_the_source_test_cells():
    plans = plan_parts(source_notebook("01_hidden_state"))
    assert [(p.grade_id, p.name, p.points) for p in plans] == [
        ("test_stacked_rnn_forward", "stacked_rnn_forward", 2.0),
        ("test_bidirectional_rnn_forward", "bidirectional_rnn_forward", 2.0),
        ("test_masked_rnn_forward", "masked_rnn_forward", 1.0),
        ("test_recurrent_parameter_count", "recurrent_parameter_count", 1.0)]
    assert plans[0].calls == [(VISIBLE_SEEDS, False), ((6173, 28411, 903), True)]
    for assignment in ASSIGNMENTS:
        assert [p.name for p in plan_parts(source_notebook(assignment))] == list(PARTS[assignment])


@pytest.mark.parametrize("test_source", ["check(stacked_rnn_forward)\nprint('extra')",
                                         "check(stacked_rnn_forward, seeds=[x])",
                                         "check(stacked_rnn_forward, verbose=True)",
                                         "check(stacked_rnn_forward)\ncheck(bidirectional_rnn_forward)",
                                         "check(not_an_exercise)"])
def test_a_test_cell_that_is_not_only_check_calls_cannot_be_verified(test_source):
    source = source_notebook("01_hidden_state")
    for cell in source["cells"]:
        if nbgrader_meta(cell).get("grade_id") == "test_stacked_rnn_forward":
            cell["source"] = test_source
    with pytest.raises(VerificationError):
        plan_parts(source)


def test_outcomes_from_the_sandbox_are_validated_strictly():
    good = {"value": torch.zeros(2), "error": None, "grads": {"x": torch.ones(2), "h": None}, "mutated": [],
            "facts": {}, "forbidden": []}
    assert isinstance(to_outcome(good), Outcome)
    for key, bad in [("error", ["ValueError", "msg", ["ValueError"]]), ("error", ("ValueError", 3, ())),
                     ("grads", {"x": [1.0]}), ("grads", {1: None}), ("mutated", ["x", 3]), ("facts", []),
                     ("forbidden", "torch.lstm_cell")]:
        assert to_outcome({**good, key: bad}) is None, key
    assert to_outcome({**good, "extra": 1}) is None
    assert to_outcome([good]) is None


def test_values_of_the_students_own_classes_are_named_counterfeit():
    value = (Foreign("__submission__.Anything"), [Foreign("numpy.ndarray"), {"k": Foreign("__submission__.T")}])
    assert counterfeit(value) == ["Anything", "T"]


@pytest.mark.parametrize("make, problem", [
    (lambda e: torch.full_like(e, float("nan")), "not finite"),
    (lambda e: e.to(torch.float32 if e.dtype == torch.float64 else torch.float64), "dtype"),
    (lambda e: e.new_zeros(e.shape[0], e.shape[1] + 1), "shape"),
    (lambda e: Foreign("numpy.ndarray"), "Stay in torch"),
    (lambda e: Foreign("__submission__.Anything"), "got a __submission__.Anything"),
    (lambda e: Foreign("torch.nn.parameter.Parameter"), "not an nn.Parameter"),
    (lambda e: [e], "got a list"),
    (lambda e: e + 1e-3, "first mismatch"),
])
def test_counterfeit_outputs_fail_the_comparison(make, problem):
    check = CHECKS["masked_rnn_forward"]
    case = check.cases(0)[3]
    expected = check.expected(case)
    outputs, h_n = expected.value
    assert check.compare(case, Outcome(value=(outputs.clone(), h_n.clone()), grads=expected.grads), expected) is None
    message = check.compare(case, Outcome(value=(make(outputs), h_n), grads=expected.grads), expected)
    assert message is not None and problem in message, message


# ----------------------------------------------------------------------------- slow: real runners

needs_sandbox = pytest.mark.skipif(not availability.available(), reason="no sandbox here")


@pytest.mark.slow
@needs_sandbox
def test_honest_solutions_pass_every_part_and_the_release_fails_each_with_not_implemented(verifier):
    for assignment in ASSIGNMENTS:
        source = source_notebook(assignment)
        started = time.perf_counter()
        verdict = verifier.verify(source, source)
        print(f"\n{assignment}: verified in {time.perf_counter() - started:.2f} s "
              f"(runner {verdict.runner_seconds} s, waited {verdict.startup_wait} s for it)")
        assert all(part.passed for part in verdict.parts.values()), verdict
        assert verdict.sandboxed and verdict.runners == 1 and verdict.all_suspicious() == []
        released = verifier.verify(release_notebook(assignment), source)
        for part in released.parts.values():
            assert not part.passed
            assert "raised NotImplementedError: replace `raise NotImplementedError()`" in part.message


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("index", range(len(MUTATIONS)), ids=[f"{m[1]}: {m[4]}" for m in MUTATIONS])
def test_a_mistake_gets_the_message_the_notebooks_check_gives(verifier, index):
    assignment, part, old, new, mistake = MUTATIONS[index]
    code = strip_markers(mutated_solution(assignment, part, old, new))
    source = source_notebook(assignment)
    solutions = {gid: strip_markers(src) for gid, src in solution_cells(source).items()}
    notebook = filled_release(release_notebook(assignment), {**solutions, part: code})
    verdict = verifier.verify(notebook, source)
    failing = [p for p in verdict.parts.values() if not p.passed]
    assert [p.name for p in failing] == [part]
    namespace = {"torch": torch, "nn": torch.nn, "math": math, "__name__": "__main__"}
    for other in solutions.values():
        define(other, namespace=namespace)
    function = define(code, part, namespace)
    with pytest.raises(CheckFailure) as raised:
        run_check(CHECKS[part], function, seeds=VISIBLE_SEEDS, quiet=True)
    assert failing[0].message == str(raised.value)
    assert mistake in failing[0].message and failing[0].ename == "CheckFailure"


def _with(assignment: str, **answers: str) -> dict:
    source = source_notebook(assignment)
    solutions = {gid: strip_markers(src) for gid, src in solution_cells(source).items()}
    return filled_release(release_notebook(assignment), {**solutions, **answers})


@pytest.mark.slow
@needs_sandbox
def test_a_part_that_hangs_exits_or_exhausts_memory_costs_only_that_part(verifier):
    source = source_notebook("05_vanishing_gradients")
    notebook = _with("05_vanishing_gradients",
                     numerical_gradient="def numerical_gradient(f, x, eps=1e-6):\n    while True:\n        pass\n",
                     adaptive_clip_grad_="import os\ndef adaptive_clip_grad_(parameters, clipping, eps=1e-3):\n"
                                         "    os._exit(3)\n",
                     masked_temporal_activation_regularization="def masked_temporal_activation_regularization("
                                                               "states, lengths, beta):\n"
                                                               "    return bytearray(2**40)\n")
    started = time.monotonic()
    verdict = verifier.verify(notebook, source)
    assert time.monotonic() - started < 120
    parts = {p.name: p for p in verdict.parts.values()}
    assert parts["rnn_bptt"].passed
    assert "ran longer than 20 s" in parts["numerical_gradient"].message
    assert "exited with code 3" in parts["adaptive_clip_grad_"].message
    assert any("ended while running" in r for r in parts["adaptive_clip_grad_"].suspicious)
    assert "MemoryError" in parts["masked_temporal_activation_regularization"].message
    assert verdict.runners == 3


@pytest.mark.slow
@needs_sandbox
def test_definitions_that_end_the_process_fail_every_part(verifier):
    source = source_notebook("03_initialization")
    notebook = _with("03_initialization", forget_bias_for_retention="import os\nclass Bye:\n    os._exit(0)\n")
    verdict = verifier.verify(notebook, source)
    assert not any(p.passed for p in verdict.parts.values())
    assert all("definitions stopped the verification" in p.message for p in verdict.parts.values())
    assert any("definitions ended the verification process" in r for r in verdict.suspicious)


@pytest.mark.slow
@needs_sandbox
def test_a_submission_that_forges_the_runners_output_gains_nothing(verifier):
    """Code that writes its own frames on the runner's channel (claiming success) only corrupts its own results."""
    forge = '''import json, os, struct
def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    header = json.dumps({"kind": "result", "part": "test_recurrent_parameter_count", "json": 2, "npz": 0}).encode()
    for fd in range(3, 20):
        try:
            os.write(fd, b"HSR1" + struct.pack(">I", len(header)) + header + b"{}")
        except OSError:
            pass
    return 0
'''
    source = source_notebook("01_hidden_state")
    verdict = verifier.verify(_with("01_hidden_state", recurrent_parameter_count=forge), source)
    parts = {p.name: p for p in verdict.parts.values()}
    assert not parts["recurrent_parameter_count"].passed
    assert parts["stacked_rnn_forward"].passed and parts["bidirectional_rnn_forward"].passed
    assert parts["masked_rnn_forward"].passed


@pytest.mark.slow
def test_unsandboxed_verification_works_and_says_so():
    v = Verifier(VerifySettings(sandboxed=False))
    try:
        source = source_notebook("01_hidden_state")
        verdict = v.verify(source, source)
    finally:
        v.close()
    assert verdict.sandboxed is False and all(p.passed for p in verdict.parts.values())


def test_without_a_sandbox_the_verifier_refuses_unless_told(monkeypatch):
    monkeypatch.setattr(availability, "available", lambda: False)
    monkeypatch.setattr(availability, "unavailable_reason", lambda: "bwrap is missing")
    with pytest.raises(availability.Unsandboxed, match="bwrap is missing"):
        Verifier(VerifySettings())
    Verifier(VerifySettings(sandboxed=False)).close()
    assert json.dumps(NotebookVerdict({}, [], [], False).to_json())


# The body of an honest recurrent_parameter_count (the signature comes first in each test's code).
COUNT_BODY = '''    if mode not in ("RNN", "GRU", "LSTM") or not 0 <= proj_size < hidden_size or (proj_size and mode != "LSTM"):
        raise ValueError(mode)
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[mode] * hidden_size
    out, directions = proj_size or hidden_size, 1 + bidirectional
    return sum(directions * (gates * (input_size if n == 0 else directions * out) + gates * out + 2 * gates * bias
                             + proj_size * hidden_size) for n in range(num_layers))
'''


@pytest.mark.slow
@needs_sandbox
def test_runners_forked_from_the_template_cannot_see_one_another(verifier):
    """A first submission leaves files and reads the filesystem; a second one finds nothing of it."""
    leave = '''import os
def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    for path in ("/tmp/left-behind", "/dev/shm/left-behind", os.path.expanduser("~/left-behind")):
        try:
            open(path, "w").write("answers of the first student")
        except OSError:
            pass
''' + COUNT_BODY
    look = '''import os
def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    found = [p for p in ("/tmp/left-behind", "/dev/shm/left-behind", os.path.expanduser("~/left-behind"))
             if os.path.exists(p)]
    if found or os.listdir("/jobs") or os.getuid() == 0:
        raise RuntimeError(f"leak: {found} {os.listdir('/jobs')} {os.getuid()}")
''' + COUNT_BODY
    source = source_notebook("01_hidden_state")
    first = verifier.verify(_with("01_hidden_state", recurrent_parameter_count=leave), source)
    second = verifier.verify(_with("01_hidden_state", recurrent_parameter_count=look), source)
    assert first.parts["test_recurrent_parameter_count"].passed
    assert second.parts["test_recurrent_parameter_count"].passed, second.parts["test_recurrent_parameter_count"].message
    if verifier.template is not None:
        assert verifier.template_problem is None and verifier.template.alive


@pytest.mark.slow
@needs_sandbox
def test_without_the_template_each_notebook_gets_a_sandboxed_runner_process():
    v = Verifier(VerifySettings(fork=False))
    try:
        source = source_notebook("03_initialization")
        verdict = v.verify(source, source)
        assert v.template is None
    finally:
        v.close()
    assert verdict.sandboxed and all(p.passed for p in verdict.parts.values())
