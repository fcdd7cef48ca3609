"""Headless Debian Chromium, driven by Playwright, for tests of the built book.

No browser is ever downloaded: Playwright is pointed at the system's ``chromium``
(``apt-get install chromium``). If it is missing, browser tests skip, except under CI
(``CI`` set), where they fail so a missing install step cannot hide.
"""

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

# The flags this machine needs: no sandbox as root, and no background calls to the
# network, which is closed here (see the README's testing notes).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path():
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def launch_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory):
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def block_other_hosts(context, origin: str) -> list[str]:
    """Abort every request of ``context`` that does not start with ``origin``; returns the list the
    aborted URLs are appended to (for the test to check it stayed empty)."""
    blocked: list[str] = []

    def only_the_origin(route):
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_origin)
    return blocked


@contextlib.contextmanager
def open_offline(browser, site, path, ignored_errors: tuple[str, ...] = ()):
    """Open ``site/path`` with every request to another origin blocked.

    Yields the Playwright page once loaded. On leaving, fails the test if the page
    logged a console error (other than those containing one of ``ignored_errors``), threw, or
    tried to reach another host.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors = []
    blocked = block_other_hosts(context, site)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{site}/{path}", wait_until="networkidle")
        yield page
        assert not blocked, f"{path} tried to reach other hosts: {blocked}"
        errors = [error for error in errors if not any(ignored in error for ignored in ignored_errors)]
        assert not errors, f"{path} logged errors: {errors}"
    finally:
        context.close()


# What a page's student content would leave behind had any of it run (see tests/hostile/pages.py).
RAN = """() => ({pwned: window.__pwned || null, title: document.title, scripts: document.scripts.length,
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on'))
     .map(a => e.tagName + ' ' + a.name))})"""
UNLOADED_IMAGES = """() => [...document.images].filter(i => i.getAttribute('src') !== null)
  .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60))"""


def assert_page_inert(browser, site, path) -> int:
    """Open ``site/path`` offline, hover its links, and fail if any script ran or exists, any
    element has an event handler, the page reached another host or logged an error, or an image
    failed to load. Returns the number of images on the page.

    The Content-Security-Policy must have had nothing to refuse: the sanitizer removed it all.
    Bootstrap's icon font, which nbgrader's feedback CSS names but never ships, is the one error
    allowed (it is refused instead of missing).
    """
    with open_offline(browser, site, path, ignored_errors=("glyphicons-halflings",)) as page:
        for link in page.locator("a[href]").all()[:50]:  # a link the reader points at runs nothing either
            link.hover()
        state = page.evaluate(RAN)
        assert state["pwned"] is None and not state["title"].startswith("PWNED"), (path, state)
        assert state["scripts"] == 0 and state["handlers"] == [], (path, state)
        assert page.evaluate(UNLOADED_IMAGES) == [], path
        return page.evaluate("() => document.images.length")
