"""An answer cell's top-level statements, parsed one by one when the cell as a whole does not parse.

So that a syntax error costs only the statement it is in: ``def f(:`` in a cell leaves the
cell's other functions, constants and imports to the verification. Nothing here runs code;
the work is bounded (:data:`MAX_PIECES`, :data:`PARSE_BUDGET`), since the cell may be hostile.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field


@dataclass
class Broken:
    """A top-level statement of an answer cell that does not parse: it alone is skipped."""

    line: int                    # its first line in the cell
    message: str                 # "SyntaxError: invalid syntax (line 4)"
    names: list[str] = field(default_factory=list)   # what it looks like it defines



MAX_PIECES = 300  # a cell that does not parse is parsed statement by statement up to this many statements
PARSE_BUDGET = 5_000_000  # characters parsed in all, so that a hostile cell cannot make this take long


def _starts(lines: list[str]) -> list[int]:
    """Indexes of the lines that may begin a top-level statement (a decorator and its ``def`` go together)."""
    starts = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "#", ")", "]", "}")
              and not re.match(r"(else|elif|except|finally)\b", line)]
    starts = [i for k, i in enumerate(starts) if k == 0 or not lines[starts[k - 1]].startswith("@")]
    return [0] + [i for i in starts if i != 0]


def statements(text: str) -> tuple[list, list[Broken]]:
    """The top-level statements of ``text`` (line numbers as in ``text``); when the whole does not parse,
    each statement is parsed on its own, so that only the ones that do not parse are skipped."""
    try:
        return ast.parse(text).body, []
    except SyntaxError as exc:
        whole = exc
    lines = text.split("\n")
    starts = _starts(lines)
    if len(starts) > MAX_PIECES:
        return [], [Broken(whole.lineno or 1, f"SyntaxError: {whole.msg} (line {whole.lineno})")]
    ends = starts[1:] + [len(lines)]
    body, broken, k, budget = [], [], 0, PARSE_BUDGET
    while k < len(starts):
        for end in range(k, len(starts)):  # the shortest run of pieces from here that parses
            chunk = "\n".join(lines[starts[k]:ends[end]])
            budget -= len(chunk)
            if budget < 0:  # the rest counts as one statement that does not parse
                rest = "\n".join(lines[starts[k]:])
                broken.append(Broken(starts[k] + 1, f"SyntaxError: {whole.msg} (line {whole.lineno})",
                                     _looks_like_it_defines(rest)))
                return body, broken
            try:
                tree = ast.parse(chunk)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            ast.increment_lineno(tree, starts[k])
            body += tree.body
            k = end + 1
            break
        else:
            piece = "\n".join(lines[starts[k]:ends[k]])
            broken.append(Broken(starts[k] + 1, _syntax_error(piece, starts[k]), _looks_like_it_defines(piece)))
            k += 1
    return body, broken


def _syntax_error(piece: str, offset: int) -> str:
    try:
        ast.parse(piece)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {(exc.lineno or 1) + offset})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"it cannot be parsed ({type(exc).__name__})"
    return "SyntaxError"


def _looks_like_it_defines(piece: str) -> list[str]:
    names = []
    for line in piece.split("\n"):
        match = re.match(r"(?:async\s+def|def|class)\s+(\w+)|(\w+)\s*(?::[^=]*)?=(?!=)", line)
        if match:
            names.append(match.group(1) or match.group(2))
    return names
