"""The built book gives no graded answer away: no graded part's implementation, nor a near copy of one,
is in its pages or in the notebooks it offers for download (grader.leaks, on the real build)."""

import ast
import builtins
import importlib
import inspect
import re
import shutil
from pathlib import Path

import pytest

from grader import leaks, similarity

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))


def disguised(code: str) -> str:
    """``code`` as a copier would hide it: every name changed, no docstrings, a comment, another layout."""
    tree = ast.parse(code)
    names: dict[str, str] = {}

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id not in ("torch", "nn", "math") and not hasattr(builtins, node.id):
                node.id = names.setdefault(node.id, f"my_{len(names)}")
            return node

        def visit_arg(self, node):
            node.arg = names.setdefault(node.arg, f"my_{len(names)}")
            return node

        def visit_FunctionDef(self, node):
            node.name = names.setdefault(node.name, f"my_{len(names)}")
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                node.body = node.body[1:] or [ast.Pass()]
            self.generic_visit(node)
            return node

    text = ast.unparse(Rename().visit(tree))
    return "# my own solution\n" + text.replace("    ", "  ")


def test_the_book_shows_no_graded_part(build_log):
    detector = similarity.Detector(leaks.graded_implementations())
    found = leaks.scan(HTML, detector)
    assert not found, "the built book shows graded answers:\n" + "\n".join(map(str, found))


def test_the_scan_reads_the_pages_and_the_downloadable_notebooks(build_log):
    notebooks = [p for p in HTML.rglob("*.ipynb")]
    chapters = {p.stem for p in notebooks if p.parent.name == "chapters"}
    assert chapters >= {p.stem for p in CHAPTERS}, "every chapter is offered as a notebook"
    assert any("exercises" in str(p) or p.parent.parent.name == "_downloads" for p in notebooks)
    assert all(leaks.text_blocks(p) for p in notebooks)


def test_the_scan_finds_every_reference_function_a_chapter_prints(build_log):
    """The positive control on the real pages: what the chapters literalinclude is found, as the same code."""
    for chapter in CHAPTERS:
        included = re.findall(r"literalinclude\} \.\./\.\./grader/reference/(\w+)\.py\n:pyobject: (\w+)",
                              chapter.read_text(encoding="utf-8"))
        if not included:
            continue
        names = [name for _, name in included]
        printed = [similarity.Graded(name, "grader.reference", inspect.getsource(
            getattr(importlib.import_module(f"grader.reference.{module}"), name))) for module, name in included]
        found = leaks.scan(HTML / "chapters", similarity.Detector(printed))
        page = f"{chapter.stem}.html"
        shown = {m.part for m in found if m.where.startswith(page) and m.kind == "same code"}
        assert shown == set(names), f"{page}: not found: {sorted(set(names) - shown)}"


def test_a_disguised_copy_pasted_into_a_built_page_is_found(build_log, tmp_path):
    graded = leaks.graded_implementations()
    detector = similarity.Detector(graded)
    target = tmp_path / "site"
    shutil.copytree(HTML / "chapters", target / "chapters")
    page = target / "chapters" / CHAPTERS[0].with_suffix(".html").name
    long_enough = [g for g in graded if len(similarity.tokens(g.code)) >= similarity.MIN_TOKENS]
    for item in long_enough:
        copy = disguised(item.code)
        html = page.read_text(encoding="utf-8")
        block = '<div class="highlight"><pre>' + copy.replace("&", "&amp;").replace("<", "&lt;") + "</pre></div>"
        page.write_text(html.replace("</article>", block + "</article>", 1), encoding="utf-8")
        found = [m for m in leaks.scan(target, detector) if m.part == item.part]
        assert found, f"a disguised copy of {item.part} ({item.origin}) was not found:\n{copy}"
        shutil.copy(HTML / "chapters" / page.name, page)
