"""The checks from recorded cases (the student kit's source) say exactly what they say from the reference.

The recordings are made here, in a temporary folder, the way the kit's build makes them
(:func:`grader.checks.sources.record`); every check then runs the reference, and every known mistake,
once from the live source and once from the recordings: same case counts, same messages.
"""

import json

import pytest

from grader.checks import CHECKS, CheckFailure, check, run_check, sources
from grader.checks.core import VISIBLE_SEEDS

from exercise_helpers import PARTS, solution_namespace

PART_ASSIGNMENT = {part: a for a, parts in PARTS.items() for part in parts}
MISTAKES = [(name, m.name) for name in sorted(CHECKS) for m in CHECKS[name].mistakes()]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recorded")
    counts = sources.record(list(CHECKS.values()), folder)
    assert set(counts) == set(CHECKS) and min(counts.values()) > 0
    return folder


@pytest.fixture(scope="module")
def recorded(folder):
    return sources.RecordedSource(folder)


def failure_message(name, fn, source):
    with pytest.raises(CheckFailure) as failure:
        run_check(CHECKS[name], fn, enforce_rules=False, quiet=True, source=source)
    return str(failure.value)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_reference_passes_the_same_cases_from_recordings(name, recorded):
    spec = CHECKS[name]
    live = run_check(spec, spec.reference, enforce_rules=False, quiet=True)
    assert run_check(spec, spec.reference, enforce_rules=False, quiet=True, source=recorded) == live > 0


@pytest.mark.parametrize("name, mistake_name", MISTAKES, ids=[f"{n}: {m}" for n, m in MISTAKES])
def test_a_known_mistake_gets_the_same_message_from_recordings(name, mistake_name, recorded):
    mistake = next(m for m in CHECKS[name].mistakes() if m.name == mistake_name)
    message = failure_message(name, mistake.fn, recorded)
    assert message == failure_message(name, mistake.fn, sources.LIVE)
    assert mistake_name in message


def test_check_uses_the_recordings_when_told_to(folder, monkeypatch, capsys):
    monkeypatch.setenv("HIDDEN_STATE_CHECKS", "recorded")
    monkeypatch.setenv("HIDDEN_STATE_RECORDED", str(folder))
    assert isinstance(sources.default(), sources.RecordedSource)
    name = sorted(CHECKS)[0]
    check(solution_namespace(PART_ASSIGNMENT[name])[name])
    assert "visible cases pass" in capsys.readouterr().out
    with pytest.raises(ValueError, match="student kit holds the cases of seeds 0, 1, 2 only"):
        check(solution_namespace(PART_ASSIGNMENT[name])[name], seeds=[7])
    with pytest.raises(ValueError, match="hidden cases"):
        check(solution_namespace(PART_ASSIGNMENT[name])[name], seeds=[0], hidden=True)


def test_without_the_answers_the_recordings_are_the_source(monkeypatch):
    monkeypatch.delenv("HIDDEN_STATE_CHECKS", raising=False)
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    assert isinstance(sources.default(), sources.RecordedSource)
    monkeypatch.setenv("HIDDEN_STATE_CHECKS", "sometimes")
    with pytest.raises(ValueError, match="HIDDEN_STATE_CHECKS"):
        sources.default()


def test_a_damaged_recording_is_named(folder, tmp_path):
    name = sorted(CHECKS)[0]
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / f"{name}.npz").write_bytes((folder / f"{name}.npz").read_bytes())
    (damaged / f"{name}.json").write_text(json.dumps({"version": 1, "tree": {"d": []}}))
    with pytest.raises(sources.RecordingError, match=rf"{name}\.json: not a recording"):
        sources.RecordedSource(damaged).cases(CHECKS[name], 0, False)
    (damaged / f"{name}.json").write_text("{not json")
    with pytest.raises(sources.RecordingError, match="cannot be read"):
        sources.RecordedSource(damaged).cases(CHECKS[name], 0, False)


def test_recordings_cover_the_visible_seeds_only(recorded):
    name = sorted(CHECKS)[0]
    for seed in VISIBLE_SEEDS:
        assert recorded.cases(CHECKS[name], seed, False)
    with pytest.raises(ValueError):
        recorded.cases(CHECKS[name], max(VISIBLE_SEEDS) + 1, False)
