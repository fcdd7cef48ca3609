"""Where the answers must never be: the built book (its pages and downloads) and the student kit.

:func:`graded_implementations` collects, for every graded part, the code that answers it: the
reference's implementation (``grader.answers``) and the solution cell of the source notebook. The
scans read every text file of a folder as the reader or the student gets it (the code blocks of HTML
pages, the code cells of notebooks, Python and other text files whole) and look for those
implementations with :class:`grader.similarity.Detector`.
"""

from __future__ import annotations

import html.parser
import inspect
import json
from pathlib import Path

from grader import coursework, similarity

TEXT_SUFFIXES = {".py", ".md", ".txt", ".rst", ".json", ".toml", ".cfg", ".js", ".css", ".yml", ".yaml"}


def graded_parts(root: Path = coursework.ROOT) -> dict[str, list[str]]:
    """assignment -> its graded parts (the answer cells of its source notebook), in notebook order."""
    from grader.release import assignments

    return {assignment: list(coursework.solution_cells(coursework.source_notebook(assignment, root)))
            for assignment in assignments(root)}


def graded_implementations(root: Path = coursework.ROOT) -> list[similarity.Graded]:
    """The code of every graded part: its reference implementation and its solution cell."""
    from grader import answers

    found = []
    for assignment, parts in graded_parts(root).items():
        solutions = coursework.solved_sources(assignment, root)
        for part in parts:
            found.append(similarity.Graded(part, f"solutions/{assignment}", solutions[part]))
            answer = answers.answers().get(part)
            if answer is not None:
                found.append(similarity.Graded(part, "grader.answers", inspect.getsource(answer.reference)))
    return found


class _CodeBlocks(html.parser.HTMLParser):
    """The text of every ``<pre>`` element of an HTML page (Sphinx puts each code block in one)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self._depth += 1
            if self._depth == 1:
                self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "pre" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def text_blocks(path: Path) -> list[str]:
    """The pieces of ``path`` to compare: code blocks of a page, code cells of a notebook, else the whole text."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".html", ".htm"):
        parser = _CodeBlocks()
        parser.feed(text)
        return parser.blocks
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except (json.JSONDecodeError, AttributeError):
            return [text]
        return ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                for c in cells if isinstance(c, dict)]
    return [text]


def scan(folder: Path, detector: similarity.Detector, suffixes=None) -> list[similarity.Match]:
    """Every graded implementation found in the text files below ``folder``."""
    suffixes = suffixes or TEXT_SUFFIXES | {".html", ".htm", ".ipynb"}
    matches = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            blocks = text_blocks(path)
            for index, block in enumerate(blocks):
                where = str(path.relative_to(folder)) + (f", block {index + 1}" if len(blocks) > 1 else "")
                matches += detector.scan(where, block)
    return matches


def closest(folder: Path, detector: similarity.Detector) -> dict[str, tuple[float, str]]:
    """part -> the largest containment of its graded code in any block below ``folder``, and where."""
    best: dict[str, tuple[float, str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES | {".html", ".htm", ".ipynb"}:
            for block in text_blocks(path):
                for part, value in detector.containment(block).items():
                    if value > best.get(part, (-1.0, ""))[0]:
                        best[part] = (value, str(path.relative_to(folder)))
    return best


def main(argv=None) -> int:
    """``python -m grader.leaks [FOLDER ...]``: list the graded implementations found (default: the built book)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.leaks", description=main.__doc__)
    parser.add_argument("folders", nargs="*", type=Path, default=[coursework.ROOT / "book" / "_build" / "html"])
    parser.add_argument("--closest", action="store_true",
                        help="also print, per part, the largest containment found and where")
    args = parser.parse_args(argv)
    detector = similarity.Detector(graded_implementations())
    found = []
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder (build the book first: make book)")
        found += scan(folder, detector)
        if args.closest:
            for part, (value, where) in sorted(closest(folder, detector).items()):
                print(f"{part}: {value:.0%} in {where}")
    for match in found:
        print(match)
    print(f"{len(found)} matches; {len({m.part for m in found})} graded parts shown "
          f"(near copy at {similarity.NEAR_COPY:.0%} containment)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
