"""grader.integrity.frames and .judge on forged data (quick): what a runner sends is read and judged strictly,
and an honest result gets check()'s own words."""

from __future__ import annotations

import io
import json
import queue
import struct

import pytest

from grader.checks import CHECKS, CheckFailure, run_check
from grader.checks.core import Foreign, Outcome, outcome_tree
from grader.integrity import definitions, judge
from grader.integrity.expectations import Expectations
from grader.integrity.frames import read_frames
from grader.integrity.plan import plan_parts
from grader.integrity.runner import MAGIC
from grader.integrity.verdict import PartVerdict

from exercise_helpers import source_notebook

# ----------------------------------------------------------------------------- frames


def frame(header: dict, *payloads: bytes) -> bytes:
    data = json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(data)) + data + b"".join(payloads)


def events(data: bytes, limit: int = 1 << 20) -> list:
    found: queue.Queue = queue.Queue()
    read_frames(io.BytesIO(data), limit, found)
    return [found.get_nowait() for _ in range(found.qsize())]


def test_frames_and_their_payloads_are_read_until_the_end():
    result = frame({"kind": "result", "part": "p", "json": 2, "npz": 3}, b"{}", b"abc")
    assert events(frame({"kind": "ready"}) + result) == [
        ("frame", {"kind": "ready"}, []),
        ("frame", {"kind": "result", "part": "p", "json": 2, "npz": 3}, [b"{}", b"abc"]),
        ("eof", None)]
    assert events(result[:-1]) == [("eof", None)]  # cut off in a payload: only the end


@pytest.mark.parametrize("data, why", [
    (b"HSR2" + struct.pack(">I", 2) + b"{}", "not in the expected format"),
    (MAGIC + struct.pack(">I", (1 << 20) + 1), "too large"),
    (MAGIC + struct.pack(">I", 5) + b"{nope", "not valid JSON"),
    (frame({"kind": "result", "json": "x"}), "not valid JSON"),
    (frame([1, 2]), "not valid JSON"),
    (frame({"kind": "result", "json": -1, "npz": 0}), "malformed frame header"),
])
def test_a_frame_not_in_the_format_ends_the_channel_as_corrupt(data, why):
    found = events(frame({"kind": "ready"}) + data + frame({"kind": "end"}))
    assert found[0][0] == "frame" and found[1][0] == "corrupt" and why in found[1][1]
    assert found[2:] == [("eof", None)]


def test_more_output_than_the_limit_is_an_overflow():
    big = frame({"kind": "result", "part": "p", "json": 0, "npz": 3 << 20}, b"\0" * (3 << 20))
    found = events(big, limit=2 << 20)
    assert [e[0] for e in found] == ["overflow", "eof"] and "more than 2 MiB" in found[0][1]


# ----------------------------------------------------------------------------- judging a part


@pytest.fixture(scope="module")
def part():
    source = source_notebook("01_hidden_state")
    plan = next(p for p in plan_parts(source) if p.name == "recurrent_parameter_count")
    return plan, CHECKS[plan.name], definitions.extract(source, source), Expectations()


def decide(part, raw) -> PartVerdict:
    plan, check, defs, expectations = part
    verdict = PartVerdict(plan.grade_id, plan.name, False, "not_run", "")
    judge.judge_part(verdict, check, plan, raw, defs, [], expectations)
    return verdict


def ran(outcomes) -> dict:
    return {"status": "ran", "outcomes": [outcome_tree(o) for o in outcomes], "tampering": []}


def outcomes_of(part, fn) -> list:
    plan, check, _, expectations = part
    return [check.call(fn, case, student=False) for case in expectations.flat(check, plan)]


def test_an_honest_result_passes_with_the_lines_check_prints(part, capsys):
    plan, check, _, _ = part
    verdict = decide(part, ran(outcomes_of(part, check.reference)))
    for seeds, hidden in plan.calls:
        run_check(check, check.reference, seeds=seeds, hidden=hidden, enforce_rules=False)
    assert verdict.passed and verdict.kind == "pass" and verdict.suspicious == []
    assert verdict.message == capsys.readouterr().out.strip()


def test_a_mistake_gets_check_s_message(part):
    plan, check, _, _ = part
    mistake = check.mistakes()[0]
    verdict = decide(part, ran(outcomes_of(part, mistake.fn)))
    with pytest.raises(CheckFailure) as raised:
        run_check(check, mistake.fn, seeds=plan.calls[0][0], enforce_rules=False, quiet=True)
    assert not verdict.passed and verdict.ename == "CheckFailure" and verdict.message == str(raised.value)


def test_forged_results_fail_and_are_suspicious(part):
    honest = outcomes_of(part, part[1].reference)
    for raw, words in [("broken", "could not be verified: broken"), ({"status": "won"}, "malformed data"),
                       ({"status": "runner_error", "detail": "boom"}, "could not be verified: boom"),
                       (ran(honest[:-1]), "wrong number of outcomes"),
                       ({**ran(honest), "outcomes": [{"value": 1}] * len(honest)}, "malformed outcome")]:
        verdict = decide(part, raw)
        assert not verdict.passed and words in verdict.message and verdict.suspicious, raw


def test_forbidden_calls_and_counterfeit_values_count_against_the_student(part):
    honest = outcomes_of(part, part[1].reference)
    seen = [Outcome(value=o.value, forbidden=["torch.nn.RNN"]) for o in honest[:1]] + honest[1:]
    verdict = decide(part, ran(seen))
    assert verdict.kind == "forbidden" and verdict.ename == "ForbiddenCall" and "torch.nn.RNN" in verdict.message
    fake = [Outcome(value=Foreign("__submission__.Int"))] + honest[1:]
    verdict = decide(part, {**ran(fake), "tampering": ["called sys.setprofile()", 3]})
    assert not verdict.passed and "got a __submission__.Int" in verdict.message
    assert verdict.suspicious == ["called sys.setprofile()",
                                  "returned an object of its own class Int (a counterfeit value)"]


def test_a_value_compare_cannot_read_fails_once_as_malformed(part):
    plan, check, defs, expectations = part

    class Unreadable(type(check)):
        def compare(self, case, got, expected):
            raise TypeError("unreadable")

    verdict = PartVerdict(plan.grade_id, plan.name, False, "not_run", "")
    judge.judge_part(verdict, Unreadable(), plan, ran(outcomes_of(part, check.reference)), defs, [], expectations)
    assert "could not be compared (TypeError)" in verdict.message
    assert verdict.suspicious == ["the runner sent a malformed outcome"]
