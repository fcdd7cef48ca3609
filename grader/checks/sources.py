"""Where a check's cases, expected outcomes and known mistakes come from.

* :data:`LIVE` (:class:`LiveSource`): generated from the seed by the check, and computed by running the
  reference implementation and the known mistakes of ``grader.answers``. The instructor's side: the
  hidden tests, the trusted verification, the tests of the course.
* :class:`RecordedSource`: read from recordings, one :mod:`grader.codec` bundle per check
  (``<check name>.json`` and ``.npz``: plain data, never pickle), made by :func:`record` from the live
  source when the student kit is built. The student kit's only source: it holds no reference
  implementation of a graded part and no mistake's code, only their outcomes on the visible seeds.

A bundle's tree::

    {"format": 1, "check": name,
     "mistakes": [{"name", "explanation", "error_pattern"}, ...],
     "seeds": [[seed, [{"case": case_tree, "expected": outcome_tree, "variants": [outcome_tree per mistake]}]]]}

:func:`default` picks the source ``check()`` uses: live where ``grader.answers`` exists, else recorded;
``HIDDEN_STATE_CHECKS=recorded`` (or ``live``) forces one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Protocol

from .base import Check
from .core import VISIBLE_SEEDS, Case, Mistake, Outcome, case_from_tree, case_tree, outcome_tree, to_outcome

RECORDED = Path(__file__).with_name("recorded")  # where the student kit keeps the recordings
FORMAT = 1


class Source(Protocol):
    def cases(self, check: Check, seed: int, hidden: bool) -> list[Case]: ...

    def expected(self, check: Check, case: Case) -> Outcome: ...

    def mistakes(self, check: Check) -> list[Mistake]: ...

    def variant(self, check: Check, mistake: Mistake, case: Case) -> Outcome: ...


class LiveSource:
    """Cases from the check's generator; outcomes by running the reference and the mistakes (trusted code)."""

    def cases(self, check, seed, hidden):
        return check.cases(seed, hidden)

    def expected(self, check, case):
        return check.expected(case)

    def mistakes(self, check):
        return check.mistakes()

    def variant(self, check, mistake, case):
        return check.call(mistake.fn, case, student=False)


LIVE = LiveSource()


class RecordingError(RuntimeError):
    """A recording is missing or cannot be read; the message names the file and the problem."""


class RecordedSource:
    """Cases and outcomes read from the recordings in ``folder`` (each check's read once, then kept)."""

    def __init__(self, folder: Path = RECORDED):
        self.folder = Path(folder)
        self._recordings: dict[str, dict] = {}

    def _recording(self, check: Check) -> dict:
        if check.name not in self._recordings:
            self._recordings[check.name] = _read(self.folder, check.name)
        return self._recordings[check.name]

    def cases(self, check, seed, hidden):
        recording = self._recording(check)
        if hidden or seed not in recording["seeds"]:
            recorded = ", ".join(str(s) for s in recording["seeds"])
            asked = "the hidden cases" if hidden else f"seed {seed}"
            raise ValueError(f"check({check.name}): the student kit holds the cases of seeds {recorded} only, "
                             f"not {asked}: other cases are generated from the course's reference "
                             f"implementation, which the kit does not include.")
        return recording["seeds"][seed]

    def _entry(self, check, case) -> dict:
        try:
            return self._recording(check)["entries"][id(case)]
        except KeyError:
            raise ValueError(f"check({check.name}): this case is not one of the recorded cases") from None

    def expected(self, check, case):
        return self._entry(check, case)["expected"]

    def mistakes(self, check):
        return self._recording(check)["mistakes"]

    def variant(self, check, mistake, case):
        return self._entry(check, case)["variants"][mistake.name]


def _read(folder: Path, name: str) -> dict:
    """A check's recording, validated: cases per seed, and each case's entry by the case's identity."""
    from grader import codec

    where = folder / f"{name}.json"
    try:
        tree = codec.read_bundle(folder, name)
    except codec.BundleError as exc:
        raise RecordingError(f"{where}: the recorded cases of check({name}) cannot be read: {exc}") from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT or tree.get("check") != name:
        raise RecordingError(f"{where}: not a recording of check({name}) in format {FORMAT}")
    mistakes = [Mistake(m["name"], m["explanation"], None, m["error_pattern"]) for m in tree["mistakes"]]
    seeds, entries = {}, {}
    for seed, items in tree["seeds"]:
        cases = []
        for item in items:
            case = case_from_tree(item["case"])
            outcomes = [to_outcome(o) for o in [item["expected"], *item["variants"]]]
            if any(o is None for o in outcomes) or len(outcomes) != len(mistakes) + 1:
                raise RecordingError(f"{where}: a malformed outcome for seed {seed}")
            entries[id(case)] = {"expected": outcomes[0],
                                 "variants": {m.name: o for m, o in zip(mistakes, outcomes[1:])}}
            cases.append(case)
        seeds[seed] = cases
    return {"seeds": seeds, "entries": entries, "mistakes": mistakes}


def record(checks: list[Check], folder: Path, seeds=VISIBLE_SEEDS) -> dict[str, int]:
    """Write each check's recording for ``seeds`` into ``folder``, from the live source.

    Returns check name -> number of recorded cases.
    """
    from grader import codec

    from .running import plain_cpu_kernels

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for check in checks:
        mistakes = LIVE.mistakes(check)
        by_seed = []
        with plain_cpu_kernels():
            for seed in seeds:
                items = []
                for case in LIVE.cases(check, seed, False):
                    items.append({"case": case_tree(case),
                                  "expected": outcome_tree(LIVE.expected(check, case)),
                                  "variants": [outcome_tree(LIVE.variant(check, m, case)) for m in mistakes]})
                by_seed.append([seed, items])
        tree = {"format": FORMAT, "check": check.name,
                "mistakes": [{"name": m.name, "explanation": m.explanation, "error_pattern": m.error_pattern}
                             for m in mistakes],
                "seeds": by_seed}
        codec.write_bundle(folder, check.name, tree)
        counts[check.name] = sum(len(items) for _, items in by_seed)
    return counts


def default() -> Source:
    """The source ``check()`` uses (see the module's docstring)."""
    forced = os.environ.get("HIDDEN_STATE_CHECKS", "")
    if forced not in ("", "live", "recorded"):
        raise ValueError(f"HIDDEN_STATE_CHECKS must be 'live' or 'recorded', got {forced!r}")
    if forced == "recorded" or (not forced and importlib.util.find_spec("grader.answers") is None):
        return _recorded_source()
    return LIVE


_RECORDED_SOURCES: dict[Path, RecordedSource] = {}


def _recorded_source(folder: Path | None = None) -> RecordedSource:
    folder = Path(os.environ.get("HIDDEN_STATE_RECORDED", "") or (folder or RECORDED))
    if folder not in _RECORDED_SOURCES:
        _RECORDED_SOURCES[folder] = RecordedSource(folder)
    return _RECORDED_SOURCES[folder]
