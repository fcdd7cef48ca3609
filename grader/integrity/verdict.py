"""The trusted verification's verdicts: one per graded part, one per notebook, and their JSON form.

A :class:`NotebookVerdict` travels as JSON (:meth:`~NotebookVerdict.to_json`) in the autograded
notebook's metadata; the grading worker reads it back with :meth:`~NotebookVerdict.from_json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class PartVerdict:
    grade_id: str
    name: str
    passed: bool
    kind: str            # "pass", "fail", "forbidden", "not_run"
    message: str         # the failure message (as check() words it), or the pass summary
    ename: str = ""      # the exception name a failing check() would raise
    suspicious: list = field(default_factory=list)
    cases: int = 0
    advice: list = field(default_factory=list)   # why a name the part needs is missing here (see judge.advice)
    lost_in_runner: bool = False  # it passed in the submitted notebook and failed only in the verification


@dataclass
class NotebookVerdict:
    parts: dict                       # grade id -> PartVerdict
    suspicious: list                  # notebook-level reasons
    ignored: list                     # statements of the answer cells the verification did not run
    sandboxed: bool
    seconds: float = 0.0              # the whole verification of this notebook
    runner_seconds: float = 0.0       # time the sandboxed runner(s) took, after start-up
    startup_wait: float = 0.0         # time spent waiting for a runner to be ready
    runners: int = 0                  # sandboxed processes used (more than 1 after a crash or a timeout)

    def all_suspicious(self) -> list[str]:
        reasons = list(self.suspicious)
        for verdict in self.parts.values():
            reasons += [f"{verdict.name}: {reason}" for reason in verdict.suspicious]
        return reasons

    def to_json(self) -> dict:
        data = asdict(self)
        data["parts"] = {key: asdict(value) for key, value in self.parts.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "NotebookVerdict":
        data = dict(data)
        data["parts"] = {key: PartVerdict(**value) for key, value in data["parts"].items()}
        return cls(**data)
