"""The live path: a chapter notebook run in JupyterLab, its demo recomputed by the Python kernel.

The test converts a chapter (MyST Markdown) to a notebook in a temporary folder, starts
JupyterLab there on 127.0.0.1 with a random token, opens the notebook in headless
Chromium (every request to another host blocked), waits until the notebook's kernel is
connected and idle, runs all cells, moves a control of the demo, and checks that the
kernel answered: the widget shows the frame Python recomputed ("Live: recomputed in
Python"), with grader.reference's numbers. The server is shut down in a ``finally``.

Every wait polls a real condition (what JupyterLab shows, and the server's own list of
sessions) and fails early, with the reason, when JupyterLab shows a dialog, a cell raises,
the kernel dies or the server exits. Screenshots go to test-artifacts/demos/; on a failure,
so do a screenshot of the page, the server's log and the browser's console.
"""

import os
import sys
from pathlib import Path

import pytest

from grader.demos import DEMOS
from lab import chapter_notebook, demo_round_trip

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
CHAPTER = "02_cell_state"  # the quickest chapter to run (about 10 s)


def test_demo_is_recomputed_by_the_kernel_in_jupyterlab(browser, tmp_path):
    if "grader.demos" not in (CHAPTERS / f"{CHAPTER}.md").read_text(encoding="utf-8"):
        pytest.fail(f"{CHAPTER} has no demo")
    work = tmp_path / "lab"
    work.mkdir()
    notebook = chapter_notebook(CHAPTER, work)
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    demo_round_trip(browser, tmp_path, sys.executable, notebook, DEMOS[CHAPTER](), f"jupyterlab_{CHAPTER}",
                    env={"PYTHONPATH": pythonpath})
