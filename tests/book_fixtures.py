"""Session fixtures for the book tests: one build, one web server, one browser."""

import subprocess
from pathlib import Path

import pytest

from browser import launch_browser, serve_directory

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"


@pytest.fixture(scope="session")
def build_log():
    """Run the README's book command once; return its combined output."""
    result = subprocess.run(["make", "book"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = result.stdout
    assert result.returncode == 0, f"`make book` failed:\n{log[-6000:]}"
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
