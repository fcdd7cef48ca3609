"""Feedback for students: nbgrader's ``GenerateFeedback``, without the hidden tests.

The autograded notebook holds the full test source (nbgrader put the hidden tests back to run
them), so nbgrader's stock feedback shows them. Here its ``GenerateFeedback`` converter (its
``GetGrades`` preprocessor and HTML template) runs with three more preprocessors:

* :class:`RedactHiddenTests` removes every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
  region from the cells' source (tolerantly: an unterminated region runs to the end of the cell);
* :class:`ReduceTracebacks` replaces every traceback by its last line, ``ErrorName: message``:
  the failure message stays, the frames (which quote the test code) go;
* :class:`ScrubHiddenText` replaces any line of the hidden tests that still appears in an output
  (e.g. printed by student code that inspects its caller) with ``[hidden test]``;
* :class:`~.inert.InertNotebook` (last) makes the student's content inert (see :mod:`.inert`).

The exporter renders the math of markdown cells to MathML (:mod:`.mathml`, in Python: the page
needs no MathJax and no network), cleans the HTML that markdown renders to, writes no ``<script>``
(its template, ``templates/inert_feedback``, is nbgrader's feedback template without MathJax) and
puts the pages' Content-Security-Policy (:data:`.inert.CSP`) first in the head.

A notebook that could not be graded (missing, unreadable) gets a short page saying why.
"""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from grader.notebooks import HIDDEN_BEGIN, HIDDEN_END, redact_hidden

from . import mathml
from .inert import CSP_META, InertNotebook, clean_html

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = "inert_feedback"

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RedactHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test regions from every cell's source."""

    placeholder = Unicode("# (hidden tests are not shown)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if HIDDEN_BEGIN in cell.source or HIDDEN_END in cell.source:
            cell.source = redact_hidden(cell.source, self.placeholder)
        return cell, resources


class ReduceTracebacks(NbGraderPreprocessor):
    """Keep only ``ErrorName: message`` of every error output."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename = ANSI.sub("", str(output.get("ename", "Error")))
                evalue = ANSI.sub("", str(output.get("evalue", "")))
                output["traceback"] = [f"{ename}: {evalue}" if evalue else ename]
        return cell, resources


class ScrubHiddenText(NbGraderPreprocessor):
    """Replace lines of the hidden tests wherever they appear in outputs."""

    hidden_lines = List(Unicode(), default_value=[]).tag(config=True)
    replacement = Unicode("[hidden test]").tag(config=True)

    def _scrub(self, text: str) -> str:
        for line in self._lines:
            if line in text:
                text = text.replace(line, self.replacement)
        return text

    def preprocess(self, nb, resources):
        # Longest first, so that a line containing a shorter one is replaced whole.
        self._lines = sorted({line for line in self.hidden_lines if len(line) >= 6}, key=len, reverse=True)
        if not self._lines:
            return nb, resources
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if "text" in output and isinstance(output["text"], str):
                output["text"] = self._scrub(output["text"])
            if output.get("output_type") == "error":
                output["evalue"] = self._scrub(str(output.get("evalue", "")))
                output["traceback"] = [self._scrub(str(line)) for line in output.get("traceback", [])]
            data = output.get("data")
            if isinstance(data, dict):
                for mime, value in list(data.items()):
                    if isinstance(value, str):
                        data[mime] = self._scrub(value)
                    elif isinstance(value, list):
                        data[mime] = [self._scrub(v) if isinstance(v, str) else v for v in value]
        return cell, resources


def exporter_class():
    """nbconvert's HTML exporter, with its Jinja environment (and compiled templates) built once per process.

    ``GenerateFeedback`` makes a new exporter for every notebook, and compiling the feedback
    template is a good part of the cost of feedback; the environment only depends on the
    template configuration, which is the same for every notebook of a run.
    """
    global _FeedbackExporter
    if _FeedbackExporter is None:
        from jinja2 import pass_context
        from nbconvert.exporters import HTMLExporter
        from nbconvert.filters.markdown_mistune import InvalidNotebook

        class FeedbackExporter(HTMLExporter):
            _shared_environments: dict = {}

            def _create_environment(self):
                key = (tuple(self.template_paths), self.template_name, self.template_extension)
                environment = self._shared_environments.get(key)
                if environment is None:
                    environment = self._shared_environments[key] = super()._create_environment()
                return environment

            @pass_context  # as nbconvert's: the filter reads the cell's attachments from the context
            def markdown2html(self, context, source):
                try:
                    if mathml.is_markdown_cell_source(context, source):  # math as MathML, in cells only
                        return clean_html(mathml.markdown_to_html(self, context, source))
                    return clean_html(super().markdown2html(context, source))
                except InvalidNotebook:  # a reference to an attachment that is not there: show the text
                    return f"<pre>{html.escape(source)}</pre>"

            def from_notebook_node(self, nb, resources=None, **kw):
                page, resources = super().from_notebook_node(nb, resources, **kw)
                return with_csp(page), resources

        _FeedbackExporter = FeedbackExporter
    return _FeedbackExporter


_FeedbackExporter = None


def feedback_preprocessors() -> list:
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    return [GetGrades, RedactHiddenTests, ReduceTracebacks, ScrubHiddenText, CSSHTMLHeaderPreprocessor, InertNotebook]


def with_csp(page: str) -> str:
    """``page`` with the Content-Security-Policy as the first element of its head."""
    head = page.find("<head>")
    if head < 0:
        raise ValueError("the feedback template wrote a page without <head>: cannot add its Content-Security-Policy")
    head += len("<head>")
    return page[:head] + "\n" + CSP_META + page[head:]


def configure_exporter(config) -> None:
    """The feedback template, and nbgrader's own templates to extend (nbgrader sets them only when unset)."""
    from nbgrader.converters import generate_feedback

    nbgrader_templates = Path(generate_feedback.__file__).parents[1] / "server_extensions" / "formgrader" / "templates"
    config.HTMLExporter.template_name = TEMPLATE
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    config.HTMLExporter.skip_svg_encoding = False  # SVG only as an <img>, where it cannot run script
    # nbgrader_config.py gives formgrader's exporter InertNotebook on the markdown source; feedback
    # runs it last itself (feedback_preprocessors) and cleans the rendered markdown instead.
    config.HTMLExporter.preprocessors = []
    config.InertNotebook.clean_markdown_source = False


def generate(config, coursedir_kwargs: dict, hidden_lines: list[str], log) -> None:
    """Run nbgrader's ``GenerateFeedback`` for one student's notebook (``coursedir_kwargs`` say which)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = copy.deepcopy(config)
    for key, value in coursedir_kwargs.items():
        setattr(config.CourseDirectory, key, value)
    config.GenerateFeedback.preprocessors = feedback_preprocessors()
    config.GenerateFeedback.exporter_class = exporter_class()
    configure_exporter(config)
    config.ScrubHiddenText.hidden_lines = list(hidden_lines)
    config.BaseConverter.force = True
    coursedir = CourseDirectory(config=config, log=log)
    GenerateFeedback(coursedir=coursedir, config=config, log=log).start()


def not_graded_page(notebook: str, assignment: str, reasons: list[str], max_score: float) -> str:
    """A small feedback page for a notebook that could not be run."""
    items = "".join(f"<li>{html.escape(reason)}</li>" for reason in reasons) or "<li>not graded</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head>{CSP_META}<meta charset="utf-8"><title>{html.escape(notebook)}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}</style></head>
<body><h1>{html.escape(assignment)}: {html.escape(notebook)}.ipynb (Score: 0 / {max_score:g})</h1>
<p>This notebook could not be graded:</p><ul>{items}</ul>
<p>Submit <code>{html.escape(notebook)}.ipynb</code>, saved from Jupyter, in the folder
<code>{html.escape(assignment)}/</code>.</p></body></html>
"""
