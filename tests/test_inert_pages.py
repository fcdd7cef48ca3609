"""No student content runs in the pages the grader writes: the sanitizer, and the real pages in Chromium.

The hostile submissions are in ``tests/hostile``. The unit tests render them through the feedback
exporter and the report without a kernel; tests/test_hostile_class.py grades them in a whole class
with ``python -m grader grade`` and opens every page it wrote in Debian's Chromium.
"""

from __future__ import annotations

import html
import html.parser
import json
import re
from pathlib import Path

import grading_class as g
import pytest
from hostile import pages as hostile
import nbformat

from grader.grading import feedback, mathml, report
from grader.grading.course import load_spec
from grader.grading.inert import CSP, InertNotebook, clean_html
from grader.grading.results import Note, PartResult, Row, SubmissionResult

ROOT = Path(__file__).resolve().parents[1]
A = "01_hidden_state"
URL_ATTRIBUTES = {"src", "href", "action", "data", "srcdoc", "formaction", "xlink:href", "background", "poster"}


class Elements(html.parser.HTMLParser):
    """Every start tag of a page, with its attributes, and the text of its <title>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def elements(page: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def live_parts(page: str, allowed_scripts: int = 0) -> list[str]:
    """What in ``page`` could run script or reach another place, as readable findings."""
    found = []
    for tag, attrs in elements(page):
        if tag in ("script", "iframe", "object", "embed", "base", "form", "frame", "link") or \
                (tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh"):
            found.append(f"<{tag} {attrs}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and not (value.startswith(("data:image/", "#", "https://", "http://"))
                                               and hostile.MARKER not in value) and tag != "a":
                found.append(f"<{tag} {name}={value[:80]!r}>")
            if name in URL_ATTRIBUTES and re.match(r"\s*(javascript|vbscript|data):", value, re.IGNORECASE) and tag == "a":
                found.append(f"<a {name}={value[:80]!r}>")
    return found


def images(page: str) -> list[str]:
    return [attrs.get("src", "") for tag, attrs in elements(page) if tag == "img"]


def assert_csp_first(page: str) -> None:
    head = page[page.index("<head>") + len("<head>"):].lstrip()
    assert head.startswith(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'), head[:200]
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'none'" and "script-src" not in directives  # so no script at all


# ----------------------------------------------------------------------------- the sanitizer


def test_clean_html_keeps_markup_and_images_but_nothing_that_runs():
    cleaned = clean_html(hostile.html_attack("unit"))
    assert live_parts(cleaned) == [] and "pwned" not in cleaned.lower().replace("pwned.invalid", "")
    assert "<b>bold stays</b>" in cleaned and "a javascript: link" in cleaned
    image = f'<img src="data:image/png;base64,{hostile.PNG_B64}" alt="dot">'
    assert images(clean_html(image)) == [f"data:image/png;base64,{hostile.PNG_B64}"]
    assert images(clean_html('<img src="data:text/html;base64,PHNjcmlwdD4=">')) == [""]  # the src went
    assert 'href="https://example.org"' in clean_html('<a href="https://example.org">x</a>')
    assert "href" not in clean_html('<a href="data:text/html,&lt;script&gt;">x</a>')
    assert "href" not in clean_html('<a href=" JaVaScRiPt:alert(1)">x</a>')


def as_node(nb: dict):
    """``nb`` as nbformat reads it from a file (sources joined)."""
    return nbformat.reads(json.dumps(nb), as_version=4)


def render_feedback(nb: dict) -> str:
    """The feedback page of ``nb`` as ``GenerateFeedback`` writes it, less ``GetGrades`` (no gradebook)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    feedback.configure_exporter(config)
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)  # its template set-up
    exporter = feedback.exporter_class()(config=converter.config)
    for preprocessor in (CSSHTMLHeaderPreprocessor, InertNotebook):
        exporter.register_preprocessor(preprocessor, enabled=True)
    resources = {"nbgrader": {"notebook": A, "score": 1.0, "max_score": 6.0, "late_penalty": 0}}
    node = as_node(nb)
    for cell in node.cells:  # what GetGrades would add from the gradebook
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.nbgrader.score = 0.0
    page, _ = exporter.from_notebook_node(node, resources=resources)
    return page


def test_feedback_of_a_hostile_notebook_is_inert():
    page = render_feedback(hostile.hostile_notebook(A))
    assert live_parts(page) == []
    assert hostile.MARKER not in page
    assert_csp_first(page)
    assert "<script" not in page.lower() and "cdnjs" not in page.lower()
    # honest content is still there: markup, images (valid PNGs only), text, errors
    assert "My notes" in page and "<b>bold stays</b>" in page and "<strong>md</strong>" in page
    shown = images(page)
    assert len([src for src in shown if src.startswith("data:image/png;base64,")]) >= hostile.IMAGES, shown
    assert all(src.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for src in shown if src)
    assert "an output of type application/javascript is not shown here" in page
    assert "an output of type application/vnd.jupyter.widget-view+json is not shown here" in page
    assert "&lt;script&gt;" in page  # printed text and error names are shown, as text


def test_inert_notebook_reduces_values_nbconvert_writes_raw():
    nb = as_node(hostile.hostile_notebook(A))
    hostile.invalid_values(nb)
    nb, _ = InertNotebook().preprocess(nb, {})
    cell = nb.cells[-1]
    assert cell.execution_count is None and cell.id == f"cell-{len(nb.cells) - 1}"
    assert cell.metadata.nbgrader.grade_id == f"cell-{len(nb.cells) - 1}"
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in cell.outputs]
    assert all(mime in ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/svg+xml")
               for _, mimes in kinds for mime in mimes), kinds
    sized = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(sized) == 1 and sized[0].metadata == {"image/png": {"height": 4}}
    assert [o.name for o in cell.outputs if o.output_type == "stream"] == ["stdout"]
    assert "widgets" not in nb.metadata and "title" not in nb.metadata
    markdown = next(c for c in nb.cells if c.get("id") == "hostile-markdown")
    assert markdown.attachments == {"dot.png": {"image/png": hostile.PNG_B64}, "evil.html": {"text/plain": ""}}
    assert markdown.metadata.tags == []


def test_report_and_not_graded_pages_are_inert():
    evil = hostile.html_attack("report")
    parts = [PartResult(notebook=A, grade_id="p1", column=f"{A}:p1", max_score=2, message=f"ValueError: {evil}")]
    rows = [Row(SubmissionResult(student=hostile.STUDENT_ID_ATTACK, assignment=A, parts=parts,
                                 notes=[Note("suspicious", evil)], feedback=[f"feedback/x/{A}/{A}.html"]))]
    spec = load_spec(A, ROOT / "solutions" / A, ROOT / "exercises" / A, "test")
    page = report.render(rows, {A: spec}, [evil], {"limits": evil})
    assert live_parts(page) == []
    assert html.escape(hostile.STUDENT_ID_ATTACK) in page  # shown, as text
    assert_csp_first(page)
    missing = feedback.not_graded_page(A, A, [evil], 6)
    assert live_parts(missing) == []
    assert_csp_first(missing)


def render_formgrade(nb: dict, student: str = "ada") -> str:
    """A submission's page as nbgrader's formgrader renders it: its own ``HTMLExporter``, built from
    the course's ``nbgrader_config.py`` and formgrader's template settings (nbgrader's
    ``FormgradeExtension.build_extra_config`` and ``SubmissionHandler.get``)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    from grader.grading.course import Course

    config = Course(ROOT).config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": A, "notebook_id": A, "submission_id": "s1", "index": 0, "total": 1,
                 "base_url": "", "student": student, "last_name": None, "first_name": None, "notebook_path": "x"}
    page, _ = HTMLExporter(config=config).from_notebook_node(as_node(nb), resources=resources)
    return page


def test_formgrader_never_gets_an_id_with_markup_from_the_gradebook():
    """Formgrader writes the gradebook's student id into its page as it is; the grade command
    stores an id holding markup as its folder name (``gradebook_id``)."""
    from grader.grading.gradebook import gradebook_id

    student = '<img src=x onerror="window.__pwned=1">'
    honest = live_parts(render_formgrade(g.solution(A)))
    assert len(live_parts(render_formgrade(g.solution(A), student))) > len(honest)  # the exact id runs
    assert live_parts(render_formgrade(g.solution(A), gradebook_id(student))) == honest
    assert gradebook_id("ada") == "ada" and gradebook_id("José") == "José"


def test_formgrader_with_the_course_config_shows_the_hostile_notebook_inert():
    honest = live_parts(render_formgrade(g.solution(A)))  # formgrader's own scripts and stylesheet
    assert honest
    page = render_formgrade(hostile.hostile_notebook(A))
    # markdown image syntax stays an image of its path (a GET to the Jupyter server) or of a dropped
    # attachment's empty text: an <img> runs no script
    added = [part for part in live_parts(page) if part not in ("<img src='/etc/passwd'>",
                                                               "<img src='data:text/plain;base64,'>")]
    assert sorted(added) == sorted(honest), "the student's notebook added something live"
    assert hostile.MARKER not in page and "<b>bold stays</b>" in page and "My notes" in page


# ----------------------------------------------------------------------------- math, as MathML

MATH_MARKDOWN = (r"The state: $h_t = \tanh(W h_{t-1})$, displayed $$c_t = f_t \odot c_{t-1}$$"
                 "\n\n" r"and \(x_t\), \[y = \frac{1}{2}\]; in code `$q$` stays TeX." "\n\n```\n$fenced$\n```\n")
HOSTILE_TEX = [r"$\href{javascript:alert(1)}{x}$", r"$<img src=x onerror=alert(1)>$", r"$\unknowncommand{$",
               r"$\text{<img src=x onerror=alert(1)>}$", r"\(\href{javascript:alert(2)}{y}\)"]


def math_notebook(markdown: str) -> dict:
    """A notebook with one markdown cell, and a code cell whose source and markdown output hold TeX."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "math", "metadata": {}, "source": markdown + "\n\nthe end of the cell"},
        {"cell_type": "code", "id": "code", "metadata": {}, "execution_count": 1, "source": "print('$s_t$')",
         "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "output $z_t$"}}]},
    ]}


def markdown_cell_html(page: str) -> str:
    return page[page.index("The state") if "The state" in page else page.index("text_cell_render"):
                page.index("the end of the cell")]


def urls_outside_css_comments(page: str) -> list[str]:
    return re.findall(r"https?://\S+", re.sub(r"/\*.*?\*/", "", page, flags=re.DOTALL))


def test_feedback_renders_the_math_of_markdown_cells_as_mathml_with_no_script_and_no_cdn():
    page = render_feedback(math_notebook(MATH_MARKDOWN))
    cell = markdown_cell_html(page)
    assert cell.count("<math") == 4, cell  # $...$, $$...$$, \(...\), \[...\]
    assert '<math display="block">' in cell and "<mfrac>" in cell and "<mi>tanh</mi>" in cell
    assert "<code>$q$</code>" in cell and "$fenced$" in cell  # code spans and code blocks keep their TeX
    assert page.count("<math") == 4 and "output $z_t$" in page and "$s_t$" in page  # outputs and code too
    assert "<script" not in page.lower() and "cdn" not in page.lower() and urls_outside_css_comments(page) == []
    assert live_parts(page) == []
    assert_csp_first(page)


def test_hostile_tex_renders_inert_and_malformed_tex_shows_as_text():
    page = render_feedback(math_notebook(" and ".join(HOSTILE_TEX)))
    cell = markdown_cell_html(page)
    assert live_parts(page) == [] and "javascript:" not in cell and "<img" not in cell
    assert "onerror=" not in cell.replace(r"$\text{&lt;img src=x onerror=alert(1)&gt;}$", "")
    assert not [tag for tag, _ in elements(cell) if tag not in mathml.MATHML_TAGS | {"p", "div"}], cell
    assert r"$\unknowncommand{$" in cell  # shown as its source
    assert r"$\text{&lt;img src=x onerror=alert(1)&gt;}$" in cell  # markup in \text: shown as source
    assert cell.count("<math") == 3 and "the end of the cell" in page


def test_clean_html_keeps_presentation_mathml_only():
    kept = '<math display="block"><mfrac linethickness="0"><mi mathvariant="bold">a</mi><mn>2</mn></mfrac></math>'
    assert clean_html(kept) == kept
    hostile_math = ('<math><mi href="javascript:alert(1)" onclick="alert(1)" style="x" xlink:href="javascript:y">a</mi>'
                    '<annotation-xml encoding="text/html"><img src=x onerror=alert(1)></annotation-xml>'
                    '<semantics><annotation>TeX</annotation></semantics><maction actiontype="statusline">b</maction>'
                    '<mglyph src="https://pwned.invalid/x.png"/><mtext><img src=x onerror=alert(1)>'
                    '<a href="javascript:alert(1)">l</a></mtext></math>')
    cleaned = clean_html(hostile_math)
    assert live_parts(cleaned) == [] and "javascript" not in cleaned and "pwned" not in cleaned
    assert not {"annotation-xml", "maction", "mglyph", "annotation", "semantics"} & {t for t, _ in elements(cleaned)}
    assert [attrs for tag, attrs in elements(cleaned) if tag == "mi"] == [{}]
    assert mathml.tex_to_mathml(r"\frac{", display=False) is None
    assert mathml.tex_to_mathml(r"\text{<b>x</b>}", display=False) is None  # not MathML only
    assert mathml.tex_to_mathml("x^2", display=True).startswith("<math")


@pytest.mark.slow
def test_feedback_math_renders_as_mathml_in_chromium(tmp_path, browser):
    from browser import assert_page_inert, open_offline, serve_directory

    (tmp_path / "math.html").write_text(render_feedback(math_notebook(MATH_MARKDOWN + " ".join(HOSTILE_TEX))),
                                        encoding="utf-8")
    with serve_directory(tmp_path) as site:
        assert_page_inert(browser, site, "math.html")
        with open_offline(browser, site, "math.html", ignored_errors=("glyphicons-halflings",)) as page:
            shown = page.evaluate("""() => [...document.querySelectorAll('math')].map(m => ({
                ns: m.namespaceURI, display: getComputedStyle(m).display, width: m.getBoundingClientRect().width}))""")
            fraction = page.evaluate("() => document.querySelector('mfrac').getBoundingClientRect().height")
            text = page.evaluate("() => document.querySelector('.text_cell_render').innerText")
    assert len(shown) == 7, shown
    assert all(m["ns"] == "http://www.w3.org/1998/Math/MathML" and "math" in m["display"] and m["width"] > 0
               for m in shown), shown  # laid out by the browser's own MathML engine
    assert fraction > 20  # a fraction stacks its numerator over its denominator
    assert "$" not in text.split("in code")[0]  # no TeX source left before the code span
