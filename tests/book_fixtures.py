"""Session fixtures for the book tests: one build, one web server, one browser."""

import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

from browser import launch_browser, serve_directory

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"


@pytest.fixture(scope="session")
def build_log(tmp_path_factory):
    """Run the README's book command once per test run; return its combined output.

    Under pytest-xdist every worker asks for this fixture: the first one runs `make book` (never two
    at once on one checkout) and leaves the log in the run's shared temporary folder for the others.
    """
    shared = tmp_path_factory.getbasetemp().parent  # common to all the workers of one run
    saved = shared / "make-book.log"
    with FileLock(str(shared / "make-book.lock")):
        if not saved.exists():
            result = subprocess.run(["make", "book"], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            saved.write_text(f"{result.returncode}\n{result.stdout}", encoding="utf-8")
        returncode, log = saved.read_text(encoding="utf-8").split("\n", 1)
    assert returncode == "0", f"`make book` failed:\n{log[-6000:]}"
    return log


@pytest.fixture(scope="session")
def site(build_log):
    """Base URL of the built book served on 127.0.0.1."""
    with serve_directory(HTML) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with launch_browser() as chromium:
        yield chromium
