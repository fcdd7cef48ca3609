"""Judging one graded part on the trusted side, from what a sandboxed runner sent back.

:func:`judge_part` validates the runner's result for the part strictly (its status, the number and
form of the outcomes, see :func:`grader.checks.core.to_outcome`), counts forbidden calls the runner
recorded only *against* the student, names values of the student's own classes (:func:`counterfeit`),
and then decides with the checks' own :func:`grader.checks.running.judge`, on the trusted
expectations (:mod:`.expectations`): the same comparison, diagnosis and messages as ``check()`` in
the notebook. :func:`before_running` gives a part's verdict before anything runs (forbidden uses
read in its code, or still to run), :func:`stopped` the verdict of a part whose runner stopped.

:func:`explain` then says, in a failing part's message, why a name the part needed was missing in
the verification, and flags a part whose own test cell had passed in the submitted notebook.
"""

from __future__ import annotations

import itertools
import re

from . import static
from .runner import MODULE
from .verdict import PartVerdict

MISSING_NAME = re.compile(r"name '(\w+)' is not defined")
RESULT_STATUSES = ("ran", "undefined", "runner_error")


# ----------------------------------------------------------------------------- before and instead of running


def before_running(plan, check, defs, suspicious: list) -> PartVerdict:
    """The part's verdict before the runner: ``forbidden`` if its code uses what the check's rules forbid,
    else ``not_run`` (still to be decided). ``suspicious``: what reading the notebook found for the part."""
    uses = static.forbidden_uses(defs, plan.name, check.rules, skip=tuple(check.substitutes))
    if uses:
        from grader.checks import forbidden

        return PartVerdict(plan.grade_id, plan.name, False, "forbidden", forbidden.message(plan.name, uses, check.rules),
                           ename="ForbiddenCall", suspicious=list(suspicious) + [f"uses {', '.join(uses)}"])
    return PartVerdict(plan.grade_id, plan.name, False, "not_run", "", suspicious=list(suspicious))


def stopped(verdict: PartVerdict, reason: str, is_suspicious: bool) -> None:
    """The part could not be decided: the process running it stopped (for ``reason``)."""
    verdict.kind, verdict.ename = "fail", "CheckFailure"
    verdict.message = f"{verdict.name} could not be verified: the process running it stopped ({reason})."
    if is_suspicious:
        verdict.suspicious.append(f"the verification process ended while running it ({reason})")


# ----------------------------------------------------------------------------- deciding one part


def judge_part(verdict: PartVerdict, check, plan, raw, defs, cell_reports, expectations) -> None:
    """Decide ``verdict`` from ``raw``, the runner's (untrusted) result for the part."""
    verdict.ename = "CheckFailure"
    verdict.kind = "fail"
    if not _well_formed(verdict, raw):
        return
    if raw["status"] == "runner_error":
        verdict.message = f"{plan.name} could not be verified: {str(raw.get('detail', ''))[:300]}"
        verdict.suspicious.append("the runner failed while running it")
        return
    if raw["status"] == "undefined":
        _undefined(verdict, defs, cell_reports)
        return
    outcomes = _outcomes(verdict, raw.get("outcomes"), len(expectations.flat(check, plan)))
    if outcomes is None or _forbidden_calls(verdict, check, outcomes):
        return
    for outcome in outcomes:
        for name in counterfeit(outcome.value):
            reason = f"returned an object of its own class {name} (a counterfeit value)"
            if reason not in verdict.suspicious:
                verdict.suspicious.append(reason)
    _decide(verdict, check, plan, outcomes, expectations, defs)


def _well_formed(verdict: PartVerdict, raw) -> bool:
    """Whether ``raw`` is a result dict of a known status; notes its tampering reports."""
    if isinstance(raw, str) or not isinstance(raw, dict) or raw.get("status") not in RESULT_STATUSES:
        verdict.message = f"{verdict.name} could not be verified: {raw if isinstance(raw, str) else 'malformed data'}."
        verdict.suspicious.append(f"the runner sent malformed data ({str(raw)[:200]})")
        return False
    notes = raw.get("tampering") if isinstance(raw.get("tampering"), list) else []
    verdict.suspicious += [note[:300] for note in notes if isinstance(note, str)]
    return True


def _undefined(verdict: PartVerdict, defs, cell_reports) -> None:
    """The part's function was not defined after running the answer cells' definitions."""
    verdict.ename = "NameError"
    verdict.message = undefined_message(verdict.name, defs, cell_reports)
    verdict.advice = [why for why in [defs.why_missing(verdict.name)] if why] or \
        advice(defs, [r.get("error") for r in cell_reports or [] if isinstance(r, dict)])


def _outcomes(verdict: PartVerdict, items, expected_count: int) -> list | None:
    """The outcomes of ``items``, validated; ``None`` (and the verdict says why) when they cannot be read."""
    from grader.checks.core import to_outcome

    if not isinstance(items, list) or len(items) != expected_count:
        verdict.message = f"{verdict.name} could not be verified: the runner sent the wrong number of outcomes."
        verdict.suspicious.append("the runner sent the wrong number of outcomes")
        return None
    outcomes = [to_outcome(item) for item in items]
    if any(outcome is None for outcome in outcomes):
        verdict.message = f"{verdict.name} could not be verified: the runner sent a malformed outcome."
        verdict.suspicious.append("the runner sent a malformed outcome")
        return None
    return outcomes


def _forbidden_calls(verdict: PartVerdict, check, outcomes: list) -> bool:
    """Whether the runner recorded forbidden calls (then the verdict is ``forbidden``)."""
    from grader.checks import forbidden

    uses = list(dict.fromkeys(what for outcome in outcomes for what in outcome.forbidden))
    if not uses:
        return False
    verdict.kind, verdict.ename = "forbidden", "ForbiddenCall"
    verdict.message = forbidden.message(verdict.name, uses, check.rules)
    verdict.suspicious.append(f"called {', '.join(uses)} while running")
    return True


def _decide(verdict: PartVerdict, check, plan, outcomes: list, expectations, defs) -> None:
    """The checks' decision, call by call of the test cell, as ``check()`` makes it in the notebook."""
    from grader.checks.running import judge

    remaining = iter(outcomes)  # in the order of expectations.flat
    lines, total = [], 0
    for seeds, hidden in plan.calls:
        judgement = judge(check, seeds, hidden, _trials(expectations, check, hidden, remaining),
                          compare=_guarded_compare(check, verdict), diagnose_failures=_diagnosis)
        if judgement.failure is not None:
            verdict.message = judgement.failure
            verdict.advice = advice(defs, [judgement.failed.error[1]] if judgement.failed.error else [])
            verdict.cases = total + judgement.passed
            return
        total += judgement.passed
        lines.append(judgement.summary)
    verdict.passed, verdict.kind, verdict.ename, verdict.cases = True, "pass", "", total
    verdict.message = "\n".join(lines)


def _trials(expectations, check, hidden: bool, outcomes):
    """``trials(seed)`` for the checks' judge: each case, the runner's outcome on it, the reference's."""
    def trials(seed: int):
        cases, expected = expectations.seed(check, seed, hidden)
        return zip(cases, itertools.islice(outcomes, len(cases)), expected)

    return trials


def _guarded_compare(check, verdict: PartVerdict):
    """``check.compare`` on data from the sandbox, which it may be unable to read (a failure, and suspicious)."""
    def compare(case, got, expected):
        try:
            return check.compare(case, got, expected)
        except Exception as exc:  # noqa: BLE001 - data from the sandbox that compare cannot read
            if "malformed outcome" not in " ".join(verdict.suspicious):
                verdict.suspicious.append("the runner sent a malformed outcome")
            return f"the returned values could not be compared ({type(exc).__name__})"

    return compare


def _diagnosis(check, failures):
    """The checks' diagnosis (live source), or none for data it cannot read."""
    from grader.checks.running import diagnose, plain_cpu_kernels

    try:
        with plain_cpu_kernels():
            return diagnose(check, failures)
    except Exception:  # noqa: BLE001 - no diagnosis for data it cannot read
        return [], []


def counterfeit(value, depth=0) -> list[str]:
    """Type names of values the student's own code defined (``__submission__.X``), found in a snapshot."""
    from grader.checks.core import Foreign

    if depth > 20:
        return []
    if isinstance(value, Foreign):
        return [value.type_name.split(".", 1)[1]] if value.type_name.startswith(MODULE + ".") else []
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in counterfeit(item, depth + 1)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in counterfeit(item, depth + 1)]
    return []


# ----------------------------------------------------------------------------- what the student can do


def advice(defs, texts) -> list[str]:
    """For each ``name '...' is not defined`` in ``texts``: why the verification lacks it (see
    :meth:`~.definitions.Definitions.why_missing`), when that is known."""
    found = []
    for text in texts:
        for name in MISSING_NAME.findall(str(text)):
            why = defs.why_missing(name)
            if why and why not in found:
                found.append(why)
    return found


def _definition_problems(defs, cell_reports: list) -> list[str]:
    """What went wrong extracting or running the answer cells' definitions."""
    problems = [cell.error for cell in defs.cells if cell.error]
    for report in cell_reports or []:
        if isinstance(report, dict) and report.get("error"):
            problems.append(f"running the definitions of answer cell {report.get('grade_id')!r} raised "
                            f"{str(report['error'])[:200]}")
            problems += advice(defs, [report["error"]])
    return problems


def undefined_message(name: str, defs, cell_reports: list) -> str:
    """The message of a part whose function the answer cells' definitions did not define."""
    why = defs.why_missing(name)
    if why:
        return f"name {name!r} is not defined: {why}."
    problems = _definition_problems(defs, cell_reports)
    if not defs.defining(name):
        text = f"name {name!r} is not defined: no answer cell defines {name}."
    else:
        text = f"name {name!r} is not defined after running the answer cells' definitions."
    if problems:
        text += " " + " ".join(p.rstrip(".") + "." for p in problems[:3])
    return text


def explain(verdict: PartVerdict, defs, submitted_nb) -> None:
    """Say, in a failing part's message, what the student can do when the verification lacked a
    name their notebook had; flag the part when their own test cell had passed."""
    if verdict.passed:
        return
    verdict.lost_in_runner = passed_in_notebook(submitted_nb, verdict.grade_id)
    extra = [why.rstrip(".") + "." for why in verdict.advice if why not in verdict.message]
    if verdict.lost_in_runner:
        extra.insert(0, "It passed in your notebook, but the grader runs only the answer cells' imports, "
                        "definitions and plain assignments" + (":" if extra else " (see above)."))
    if extra:
        verdict.message += "\n" + " ".join(extra)


def _test_cell(raw_nb, grade_id: str):
    """The code cell ``grade_id`` of a notebook as the student handed it in (any part may be malformed)."""
    cells = raw_nb.get("cells") if isinstance(raw_nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(nbgrader, dict) and nbgrader.get("grade_id") == grade_id and cell.get("cell_type") == "code":
            return cell
    return None


def _output_text(output) -> str | None:
    """A cell output's text; ``None`` for an error (or malformed) output."""
    if not isinstance(output, dict) or output.get("output_type") == "error":
        return None
    text = output.get("text", "")
    return "".join(t for t in text if isinstance(t, str)) if isinstance(text, list) else str(text)


def passed_in_notebook(raw_nb, grade_id: str) -> bool:
    """Whether the submitted notebook's own test cell ``grade_id`` showed check()'s pass summary (and no
    error). ``raw_nb`` is the file as the student handed it in: any part of it may be malformed."""
    cell = _test_cell(raw_nb, grade_id)
    if cell is None:
        return False
    outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
    texts = [_output_text(output) for output in outputs]
    if any(text is None for text in texts):
        return False
    return "cases pass (" in "".join(texts)
