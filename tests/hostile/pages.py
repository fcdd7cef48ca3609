"""Hostile submissions that attack whoever opens the pages the grader writes.

Every attack, if it ran, would leave a mark the browser tests look for: it appends its name to
``window.__pwned``, sets ``document.title`` to ``PWNED <name>``, or asks for a URL on
``pwned.invalid`` (which the tests block and record). Use them:

* :func:`submissions` (``assignment``): :class:`grading_class.Submission` objects, ready for
  :func:`grading_class.write_folder` or :func:`grading_class.write_zip` and ``python -m grader grade``;
  each gets graded (its status is whatever the grader decides; its feedback must be inert);
* :func:`hostile_notebook` (``assignment``): one notebook with every attack already in its outputs,
  cells and metadata (as a notebook that was run), for tests of the sanitizer without a kernel;
* :data:`IMAGES`: how many images in :func:`hostile_notebook` are honest and must still render.

See ``tests/test_inert_pages.py`` for both uses.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import zlib

import grading_class as g

MARKER = "pwned.invalid"


def mark(name: str) -> str:
    """JavaScript (no double quote, no slash) that leaves the mark of attack ``name``."""
    return f"window.__pwned=(window.__pwned||[]).concat(['{name}']);document.title='PWNED {name}'"


def png(width: int = 3, height: int = 2) -> bytes:
    """A small valid red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG_B64 = base64.b64encode(png()).decode()


def html_attack(name: str) -> str:
    """HTML with many ways to run script or load something, each marked ``name-<way>``."""
    def m(way: str) -> str:
        return mark(f"{name}-{way}")
    return (f"<b>bold stays</b><script>{m('script')}</script>"
            f"<img src=x onerror=\"{m('onerror')}\">"
            f"<a href=\"javascript:{m('href')}\">a javascript: link</a>"
            f"<svg onload=\"{m('svg-onload')}\"><script>{m('svg-script')}</script></svg>"
            f"<iframe src=\"javascript:{m('iframe')}\"></iframe>"
            f"<iframe srcdoc=\"&lt;script&gt;parent.{m('srcdoc')}&lt;&#x2F;script&gt;\"></iframe>"
            f"<object data=\"data:text/html;base64,{base64.b64encode(f'<script>{m(chr(111))}</script>'.encode()).decode()}\">"
            "</object>"
            f"<details open ontoggle=\"{m('ontoggle')}\">x</details>"
            f"<input autofocus onfocus=\"{m('onfocus')}\">"
            f"<img src=\"http://{MARKER}/{name}-img.png\">"
            f"<style>@import url(http://{MARKER}/{name}-css);</style>"
            f"<div style=\"background:url(http://{MARKER}/{name}-bg)\">styled</div>"
            f"<meta http-equiv=\"refresh\" content=\"0;url=javascript:{m('refresh')}\">"
            f"<base href=\"http://{MARKER}/\"><form action=\"http://{MARKER}/form\"><button>send</button></form>")


def _attack_code(name: str) -> str:
    """A code cell that displays every hostile output type when it runs."""
    def m(way: str) -> str:
        return mark(f"{name}-{way}")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" onload="{m("svg-output")}">'
           f'<script>{m("svg-output-script")}</script><rect width="8" height="8" fill="blue"/></svg>')
    widget = {"model_id": f"</script><script>{m('widget')}</script>", "version_major": 2, "version_minor": 0}
    outputs = [  # (data, metadata) displayed raw
        ({"application/vnd.jupyter.widget-view+json": widget, "text/plain": "a widget"}, None),
        ({"image/png": f'x" onerror="{m("png-data")}'}, None),
        ({"image/png": PNG_B64}, {"image/png": {"width": f"9 onerror={m('png-width')}", "height": 4}}),
        ({"text/html": html_attack(f"{name}-isolated")}, {"text/html": {"isolated": True}}),
        ({"text/latex": f"$x$</div><script>{m('latex')}</script>"}, None),
        ({"text/vnd.hostile": f"<script>{m('vnd')}</script>"}, None),
    ]
    return "\n".join([
        "import base64",
        "from IPython.display import HTML, SVG, Image, Javascript, Markdown, display",
        f"display(HTML({html_attack(name)!r}))",
        f"display(Markdown({'**markdown output** ' + html_attack(name + '-md') + ' [md link](javascript:' + m('md-link') + ')'!r}))",
        f"display(Javascript({m('javascript')!r}))",
        f"display(SVG({svg!r}))",
        *(f"display({data!r}, raw=True, metadata={metadata!r})" for data, metadata in outputs),
        f"print({'<script>' + m('print') + '</script>'!r})",
        f"display(Image(data=base64.b64decode({PNG_B64!r})))",
    ]) + "\n"


def _markdown_cell(name: str) -> dict:
    dot = {"image/png": PNG_B64}
    evil = {"text/html": base64.b64encode(html_attack(name + "-attachment").encode()).decode()}
    return {"cell_type": "markdown", "id": "hostile-markdown",
            "metadata": {"tags": [f'x" onmouseover="{mark(name + "-tag")}']},
            "attachments": {"dot.png": dot, "evil.html": evil},
            "source": (f"## My notes\n\n{html_attack(name + '-markdown')}\n\n"
                       f"[a markdown link](javascript:{mark(name + '-markdown-link')})\n\n"
                       "![an attached image](attachment:dot.png) ![evil](attachment:evil.html)\n"
                       "![a local file](/etc/passwd)\n")}


def _raw_cells(name: str) -> list[dict]:
    return [{"cell_type": "raw", "id": f"hostile-raw-{i}", "metadata": meta,
             "source": html_attack(f"{name}-raw{i}")}
            for i, meta in enumerate([{}, {"raw_mimetype": "text/html"}, {"format": "text/html"}])]


def _notebook_metadata(name: str) -> dict:
    state = {"state": {}, "version_major": 2, "version_minor": 0,
             "note": f"</script><script>{mark(name + '-widget-state')}</script>"}
    return {"title": f"</title><script>{mark(name + '-title')}</script>",
            "widgets": {"application/vnd.jupyter.widget-state+json": state}}


def _after_first_answer(nb: dict, assignment: str, cells: list[dict]) -> dict:
    nb = copy.deepcopy(nb)
    first = g.solution_ids(assignment)[0]
    index = next(i for i, c in enumerate(nb["cells"]) if g.nbgrader(c).get("grade_id") == first)
    nb["cells"][index + 1:index + 1] = cells
    return nb


def outputs_submission(assignment: str) -> dict:
    """The solution, with a cell that displays every hostile output type."""
    cell = {"cell_type": "code", "execution_count": None, "id": "hostile-outputs", "metadata": {},
            "outputs": [], "source": _attack_code("outputs")}
    return _after_first_answer(g.solution(assignment), assignment, [cell])


def cells_submission(assignment: str) -> dict:
    """The solution, with hostile markdown and raw cells, attachments, tags and notebook metadata."""
    nb = _after_first_answer(g.solution(assignment), assignment, [_markdown_cell("cells"), *_raw_cells("cells")])
    nb["metadata"].update(_notebook_metadata("cells"))
    return nb


def message_submission(assignment: str) -> dict:
    """The first answer raises an exception whose message is HTML: it reaches feedback and the report."""
    nb = g.solution(assignment)
    first = g.solution_ids(assignment)[0]
    for cell in nb["cells"]:
        if g.nbgrader(cell).get("grade_id") == first:
            function = re.search(r"^def (\w+)", g.source(cell), re.MULTILINE).group(1)
            cell["source"] = f"def {function}(*args, **kwargs):\n    raise ValueError({html_attack('message')!r})\n"
    return nb


STUDENT_ID_ATTACK = f"<img src=x onerror={mark('student-id')}>"


def submissions(assignment: str) -> list[g.Submission]:
    """A small hostile class of ``assignment``: outputs, cells, a failure message, a student id, a
    notebook that cannot be read (its "not graded" page). Scores and statuses are not asserted here."""
    name = f"{assignment}.ipynb"
    return [
        g.Submission("hostile-outputs", assignment, {name: g.dumps(outputs_submission(assignment))}, 0, ""),
        g.Submission("hostile-cells", assignment, {name: g.dumps(cells_submission(assignment))}, 0, ""),
        g.Submission("hostile-message", assignment, {name: g.dumps(message_submission(assignment))}, 0, ""),
        g.Submission(STUDENT_ID_ATTACK, assignment, {name: g.dumps(g.solution(assignment))}, 0, ""),
        g.Submission(f'"><svg onload={mark("unreadable")}>', assignment, {name: b"{ not json"}, 0, ""),
    ]


def _ran(nb: dict) -> dict:
    """``nb`` as if it had run: the outputs the hostile cell would have made, written by hand."""
    attack = html_attack("outputs")
    outputs = [
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": attack, "text/plain": "<HTML>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "**md** " + attack}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/javascript": mark("outputs-javascript")}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{mark("outputs-svg")}">'
                             '<rect width="8" height="8"/></svg>'}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.jupyter.widget-view+json": {"model_id": f"</script><script>{mark('w')}</script>"}}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": f'x" onerror="{mark("png")}'}},
        {"output_type": "display_data", "data": {"image/png": PNG_B64},
         "metadata": {"image/png": {"width": f"9 onerror={mark('png-width')}", "height": 4},
                      "filenames": {"image/png": f"http://{MARKER}/file.png"}}},
        {"output_type": "display_data", "metadata": {"text/html": {"isolated": True}}, "data": {"text/html": attack}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/latex": f"</div><script>{mark('l')}</script>"}},
        {"output_type": "stream", "name": f'stdout"><script>{mark("stream")}</script>',
         "text": f"<script>{mark('print')}</script>"},
        {"output_type": "execute_result", "execution_count": 1, "metadata": {},
         "data": {"image/jpeg": f"<script>{mark('jpeg')}</script>", "text/plain": "jpeg"}},
        {"output_type": "error", "ename": f"<script>{mark('ename')}</script>", "evalue": "<b>x</b>",
         "traceback": [f"<script>{mark('traceback')}</script>"]},
    ]
    cell = {"cell_type": "code", "execution_count": 1, "id": "hostile-ran", "metadata": {}, "outputs": outputs,
            "source": "pass"}
    return {**nb, "cells": nb["cells"] + [cell]}


IMAGES = 2  # in hostile_notebook: the attached dot.png and the valid PNG output (with its bad width dropped)


def hostile_notebook(assignment: str) -> dict:
    """Every attack of this module in one notebook, outputs included (for tests without a kernel).

    It is a valid notebook (nbconvert refuses others); :func:`invalid_values` adds what the schema
    forbids but a preprocessor could still meet."""
    return _ran(cells_submission(assignment))


def invalid_values(nb) -> None:
    """Put, in the last cell of ``nb`` (in place), values nbformat's schema forbids: markup as cell id,
    execution counts and grade id."""
    cell = nb.cells[-1]
    cell.id = f'x"><script>{mark("cell-id")}</script>'
    cell.execution_count = f"1<script>{mark('prompt')}</script>"
    for output in cell.outputs:
        if output.output_type == "execute_result":
            output.execution_count = f"<script>{mark('count')}</script>"
    cell.metadata.nbgrader = {"grade_id": f'x"><script>{mark("grade-id")}</script>', "grade": True, "points": 1}
