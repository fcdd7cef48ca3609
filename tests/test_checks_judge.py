"""grader.checks.running.judge: the one decision of a check, fed by check() here or by the trusted verification;
and Check.call's substitutes, passed to a call rather than set on the shared check."""

from __future__ import annotations

import pytest
import torch

from grader.checks import CHECKS, CheckFailure, run_check
from grader.checks.base import Check
from grader.checks.core import VISIBLE_SEEDS, Case, Outcome
from grader.checks.running import judge, pass_line

CHECK = CHECKS["recurrent_parameter_count"]


def _trials(check, fn):
    """Outcomes of ``fn`` computed ahead, as the sandboxed runner would send them."""
    def trials(seed):
        return [(case, check.call(fn, case, student=False), check.expected(case)) for case in check.cases(seed)]

    return trials


def test_the_judge_passes_the_reference_with_check_s_own_line(capsys):
    judgement = judge(CHECK, VISIBLE_SEEDS, False, _trials(CHECK, CHECK.reference))
    run_check(CHECK, CHECK.reference, enforce_rules=False)
    assert judgement.failure is None and judgement.passed == sum(len(CHECK.cases(s)) for s in VISIBLE_SEEDS)
    assert judgement.summary == pass_line(CHECK, judgement.passed, False) == capsys.readouterr().out.strip()


@pytest.mark.parametrize("index", range(len(CHECK.mistakes())))
def test_the_judge_words_a_known_mistake_as_check_does(index):
    mistake = CHECK.mistakes()[index]
    judgement = judge(CHECK, VISIBLE_SEEDS, False, _trials(CHECK, mistake.fn))
    with pytest.raises(CheckFailure) as raised:
        run_check(CHECK, mistake.fn, enforce_rules=False, quiet=True)
    assert judgement.failure == str(raised.value) and mistake.name in judgement.failure
    assert judgement.failed is not None and judgement.summary == ""


def test_the_judge_counts_the_cases_passed_up_to_the_failing_seed_and_uses_the_given_steps():
    def trials(seed):  # the reference's outcomes, but a wrong one for the first case of seed 1
        for index, (case, got, expected) in enumerate(_trials(CHECK, CHECK.reference)(seed)):
            yield case, (Outcome(value=-1) if (seed, index) == (1, 0) else got), expected

    diagnosed = []
    judgement = judge(CHECK, VISIBLE_SEEDS, False, trials,
                      diagnose_failures=lambda check, failures: diagnosed.append(failures) or ([], []))
    assert judgement.passed == len(CHECK.cases(0)) + len(CHECK.cases(1)) - 1
    assert "case 1 of" in judgement.failure and "for seed 1" in judgement.failure
    assert "likely mistake" not in judgement.failure and len(diagnosed) == 1 and judgement.failed.value == -1
    refused = judge(CHECK, [0], False, _trials(CHECK, CHECK.reference), compare=lambda case, got, expected: "no.")
    assert refused.passed == 0 and "problem: no." in refused.failure


class _Helped(Check):
    name = "helped"
    rules = None

    def cases(self, seed, hidden=False):
        return [Case(label="x", args={"x": torch.ones(2)})]


def test_substitutes_are_given_to_one_call_and_never_set_on_the_check():
    namespace = {"helper": lambda x: x * 0}
    exec("def helped(x):\n    return helper(x)\n", namespace)
    check, case = _Helped(), _Helped().cases(0)[0]
    doubled = check.call(namespace["helped"], case, student=True, substitutes={"helper": lambda x: x * 2})
    assert torch.equal(doubled.value, torch.full((2,), 2.0))
    assert check.substitutes == {} and _Helped.substitutes == {}
    assert torch.equal(check.call(namespace["helped"], case, student=True).value, torch.zeros(2))
    assert check.helpers({"a": len}) == {"a": len} and check.helpers() is check.substitutes


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_check_s_call_step_takes_substitutes(name):
    check = CHECKS[name]
    case = check.cases(0)[0]
    got = check.call(check.reference, case, student=False, substitutes={})
    assert check.compare(case, got, check.expected(case)) is None
