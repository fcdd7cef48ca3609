"""The tampering corpus: one file per attack on the grading, each a realistic attempt on a wrong or missing answer.

Every attack is a module of this folder with a docstring saying what it tries and a function
``build(solution, release) -> notebook`` that makes the submitted notebook from copies of the source
(solution) and release notebooks of its assignment. ``manifest.json`` lists every attack with its
assignment, the graded cells it attacks (they must score zero), a text the reason it is flagged
suspicious must contain, and whether it fools stock nbgrader (checked by a test, to prove the
tests can fail). Every part an attack does not attack keeps the solution's answer and full marks.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent


@dataclass
class Attack:
    name: str
    assignment: str
    attacks: list          # grade ids of the graded cells it attacks
    reason: str            # a text the suspicious reasons must contain
    fools_stock: bool      # does it get points it should not in stock nbgrader?
    description: str

    def build(self, solution: dict, release: dict) -> dict:
        module = importlib.import_module(f"tampering.{self.name}")
        return module.build(json.loads(json.dumps(solution)), json.loads(json.dumps(release)))


def manifest() -> list[Attack]:
    entries = json.loads((FOLDER / "manifest.json").read_text(encoding="utf-8"))
    attacks = []
    for entry in entries:
        module = importlib.import_module(f"tampering.{entry['name']}")
        attacks.append(Attack(description=(module.__doc__ or "").strip().splitlines()[0], **entry))
    return attacks


def attack_files() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.py") if not p.name.startswith("_"))
