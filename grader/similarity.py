"""Code compared as code: does a graded part's implementation, or a near copy of it, appear in a text?

Used where an answer must never be: the built book and its downloads, and the student kit. Two tests,
both blind to names, docstrings, comments and formatting:

* **the same code**: every function or class of the text, normalized (docstrings dropped, every name
  it binds renamed to a placeholder in order of appearance, formatting by ``ast.unparse``), equal to a
  graded implementation normalized the same way;
* **a near copy**: the share of the graded implementation's fingerprints found in one code block of
  the text (its *containment*) reaches :data:`NEAR_COPY`. Fingerprints are winnowed hashes of runs of
  :data:`K` tokens (as in MOSS: Schleimer, Wilkerson and Aiken 2003), over tokens in which every name
  is one symbol and attributes (``.chunk``, ``.T``: the API used) keep theirs. Graded code shorter than
  :data:`MIN_TOKENS` tokens is judged by the first test only: a handful of tokens is shared by chance.

Text that does not parse as Python (Markdown, HTML fragments, a cell with a magic) is still
tokenized, so a copy pasted into prose is found too.
"""

from __future__ import annotations

import ast
import hashlib
import keyword
import re
from dataclasses import dataclass

K = 12               # tokens per fingerprinted run: about one line of code
WINDOW = 6           # winnowing window: keeps at least one fingerprint in every 6 consecutive runs
NEAR_COPY = 0.7      # containment at which a block counts as a near copy (calibrated in tests/test_similarity.py)
MIN_TOKENS = 40      # graded code shorter than this is compared exactly only

_TOKEN = re.compile(r"""
    (?P<string>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<comment>\#[^\n]*)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<number>\d[\w.]*)
  | (?P<op>\*\*=?|//=?|->|:=|[<>!=]=|<<=?|>>=?|[-+*/%@&|^]=|[-+*/%@&|^~<>=.,:;()\[\]{}])
""", re.VERBOSE)


# ----------------------------------------------------------------------------- normalizing


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]


class _Renamer(ast.NodeTransformer):
    """Every name, argument and def/class name to ``v0, v1, ...`` in order of first appearance."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def _definition(self, node):
        node.name = self._new(node.name)
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition


def normalized(code: str) -> str | None:
    """``code`` with docstrings, comments, names and formatting normalized away; ``None`` if it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    _strip_docstrings(tree)
    return ast.unparse(_Renamer().visit(tree))


def definitions(code: str) -> list[str]:
    """The normalized text of every function and class defined in ``code`` (nested ones too)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append(normalized(ast.unparse(node)))
    return [text for text in found if text]


def tokens(code: str) -> list[str]:
    """Tokens of ``code`` for fingerprinting: names as one symbol, attributes and keywords kept, strings as one
    symbol, no comments or docstrings. Formatting is normalized first when ``code`` parses."""
    try:
        tree = ast.parse(code)
        _strip_docstrings(tree)
        code = ast.unparse(tree)
    except (SyntaxError, ValueError):
        pass
    found, previous = [], ""
    for match in _TOKEN.finditer(code):
        kind, text = match.lastgroup, match.group()
        if kind == "comment":
            continue
        if kind == "string":
            text = "S"
        elif kind == "name" and not keyword.iskeyword(text) and previous != ".":
            text = "N"
        found.append(text)
        previous = text
    return found


def fingerprints(token_list: list[str], k: int = K, window: int = WINDOW) -> set[int]:
    """The winnowed hashes of the runs of ``k`` tokens (all of them for fewer than ``window`` runs)."""
    runs = [" ".join(token_list[i:i + k]) for i in range(max(len(token_list) - k + 1, 0))]
    hashes = [int.from_bytes(hashlib.blake2b(run.encode(), digest_size=8).digest(), "big") for run in runs]
    if len(hashes) <= window:
        return set(hashes)
    return {min(hashes[i:i + window]) for i in range(len(hashes) - window + 1)}


# ----------------------------------------------------------------------------- finding copies


@dataclass(frozen=True)
class Graded:
    """One graded implementation to look for: ``part`` (e.g. ``"rnn_bptt"``), where it comes from, its code."""

    part: str
    origin: str
    code: str


@dataclass(frozen=True)
class Match:
    """A place where a graded implementation appears: the same code, or a near copy with its containment."""

    part: str
    origin: str
    where: str
    kind: str          # "same code" or "near copy"
    containment: float

    def __str__(self):
        return f"{self.where}: {self.kind} of {self.part} ({self.origin}; containment {self.containment:.0%})"


class Detector:
    """Looks for a fixed set of graded implementations in texts; each implementation is prepared once."""

    def __init__(self, graded: list[Graded], near_copy: float = NEAR_COPY):
        self.near_copy = near_copy
        self.graded = []
        for item in graded:
            token_list = tokens(item.code)
            prints = fingerprints(token_list) if len(token_list) >= MIN_TOKENS else set()
            self.graded.append((item, set(definitions(item.code)), prints))

    def scan(self, where: str, code: str) -> list[Match]:
        """The graded implementations found in ``code`` (one block of code or of text), best match per part."""
        own_definitions = set(definitions(code))
        own_prints = fingerprints(tokens(code))
        matches = []
        for item, graded_definitions, graded_prints in self.graded:
            containment = len(graded_prints & own_prints) / len(graded_prints) if graded_prints else 0.0
            if graded_definitions & own_definitions:
                matches.append(Match(item.part, item.origin, where, "same code", 1.0))
            elif graded_prints and containment >= self.near_copy:
                matches.append(Match(item.part, item.origin, where, "near copy", containment))
        return matches

    def containment(self, code: str) -> dict[str, float]:
        """part -> the largest containment of any of its graded implementations in ``code`` (for calibration)."""
        own_prints = fingerprints(tokens(code))
        best: dict[str, float] = {}
        for item, _, graded_prints in self.graded:
            if graded_prints:
                value = len(graded_prints & own_prints) / len(graded_prints)
                best[item.part] = max(best.get(item.part, 0.0), value)
        return best
