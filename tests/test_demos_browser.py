"""The widget demos in the built book, opened with no kernel and no network but the site's own.

Each chapter page is opened in headless Chromium with every request to another host
blocked (``open_offline``, which also fails the test on any console error). For its demo
the test checks that it renders with the default controls, then moves every control in
turn and checks that the page shows the frame ``grader.reference`` gives for the new
positions: the readouts' numbers and texts, and the length of every plotted series.
Screenshots before and after go to test-artifacts/demos/, with a JSON file of each
page's added size and time to interactive.

Separately, the built HTML must embed the widget state and load the widget runtime, the
math and the fonts from the site itself, never from a CDN.
"""

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from browser import ARTIFACTS, open_offline
from grader.demos import DEMOS
from grader.demos._widget import format_readout

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
SHOTS = ARTIFACTS / "demos"
WIDGET_SCRIPTS = ["widgets/require.js", "widgets/require-config.js", "widgets/embed-amd.js"]
WIDGET_FILES = [*WIDGET_SCRIPTS, "widgets/anywidget.js"]
THEBE = re.compile(r'const THEBE_JS_URL = "[^"]*";')
STATE = re.compile(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S)
CDN = re.compile(r"cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|fonts\.gstatic\.com"
                 r"|cdn\.mathjax\.org|data-jupyter-widgets-cdn|https?://cdn\.", re.I)


@lru_cache(maxsize=None)
def expected_frame(chapter, indices):
    """The frame grader.reference gives for these control positions (computed afresh)."""
    return DEMOS[chapter]().frame(indices)


def record(chapter, **values):
    """Add measurements of one chapter to test-artifacts/demos/measurements.json."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(chapter, {}).update(values)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def move(root, control, target):
    """Move one control to option ``target`` as a reader would: arrow keys on a slider, a click on a button."""
    box = root.locator(f'[data-control="{control.name}"]')
    if control.kind == "slider":
        slider = box.locator('input[type="range"]')
        current = int(slider.input_value())
        slider.focus()
        for _ in range(abs(target - current)):
            slider.press("ArrowRight" if target > current else "ArrowLeft")
    else:
        box.locator(f'button[data-option="{target}"]').click()


def check_frame(page, root, chapter, demo, indices):
    """The demo shows the frame of ``indices``: key, readouts (value and text), every series' length."""
    key = demo.key(indices)
    page.wait_for_function("([el, key]) => el.dataset.key === key", arg=[root.element_handle(), key], timeout=5000)
    frame = expected_frame(chapter, tuple(indices))
    for readout in demo.readouts:
        item = root.locator(f'[data-readout="{readout.name}"]')
        want = frame["readouts"][readout.name]
        got = item.get_attribute("data-value")
        assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-300), f"{chapter} {key}: {readout.name}"
        text = item.locator(".hs-value").inner_text()
        assert text == format_readout(want, readout.format, readout.unit, readout.cap), f"{readout.name}: {text}"
    for panel in demo.panels:
        svg = root.locator(f'[data-panel="{panel.id}"] svg')
        if panel.spec()["kind"] == "heatmap":
            assert svg.locator("image").count() == 1, f"{chapter}: heatmap {panel.id} not drawn"
            continue
        length = frame["panels"][panel.id]["shape"][-1]
        points = svg.locator("polyline").evaluate_all("ls => ls.map(l => l.getAttribute('points').split(' ').length)")
        assert points == [length] * len(panel.series), f"{chapter} {key}: {panel.id} drew {points}"
    for control, index in zip(demo.controls, indices):
        box = root.locator(f'[data-control="{control.name}"]')
        label = control.spec()["labels"][index]
        if control.kind == "slider":
            assert box.locator("output").inner_text() == label
        else:
            assert box.locator(f'button[data-option="{index}"]').get_attribute("aria-pressed") == "true"


@pytest.mark.parametrize("chapter", sorted(DEMOS))
def test_demo_is_interactive_without_kernel_or_network(browser, site, chapter):
    demo = DEMOS[chapter]()
    with open_offline(browser, site, f"chapters/{chapter}.html") as page:
        root = page.locator(f'.hs-demo[data-demo="{demo.name}"]')
        root.wait_for(timeout=30_000)
        ready_ms = float(root.get_attribute("data-ready-ms"))
        root.scroll_into_view_if_needed()
        indices = list(demo.default_indices())
        check_frame(page, root, chapter, demo, indices)
        assert "No kernel" in root.locator(".hs-status").inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        root.screenshot(path=str(SHOTS / f"{chapter}__before.png"))
        render_ms = []
        for c, control in enumerate(demo.controls):
            panels_before = root.locator(".hs-panels").inner_html()
            target = indices[c] + 1 if indices[c] + 1 < len(control.options) else indices[c] - 1
            move(root, control, target)
            indices[c] = target
            check_frame(page, root, chapter, demo, indices)
            assert root.locator(".hs-panels").inner_html() != panels_before, f"{control.name}: nothing redrawn"
            render_ms.append(float(root.get_attribute("data-render-ms")))
        root.screenshot(path=str(SHOTS / f"{chapter}__after.png"))
        assert root.get_attribute("data-source") == "table"
    record(chapter, time_to_interactive_ms=ready_ms, redraw_ms_max=max(render_ms),
           redraw_ms=render_ms, controls_moved=len(demo.controls))


@pytest.mark.parametrize("chapter", sorted(DEMOS))
def test_demo_page_embeds_its_state_and_loads_everything_from_the_site(build_log, chapter):
    html = (HTML / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
    states = STATE.findall(html)
    assert len(states) == 1, f"{chapter}: expected one embedded widget state"
    models = json.loads(states[0])["state"].values()
    demos = [m["state"] for m in models if m["model_module"] == "anywidget"]
    assert [d["spec"]["name"] for d in demos] == [DEMOS[chapter].name]
    assert len(demos[0]["frames"]) == len(list(DEMOS[chapter]().grid()))
    assert 'application/vnd.jupyter.widget-view+json' in html
    # The widget runtime, in order, from the site itself; it and MathJax exist in the site.
    sources = [s.replace("_static/../", "") for s in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)]
    local = [re.sub(r"^(\.\./)+|\?.*$", "", s) for s in sources]
    assert [s for s in local if s.startswith("widgets/")] == WIDGET_SCRIPTS
    assert not [s for s in sources if "//" in s], f"{chapter}: scripts from elsewhere: {sources}"
    for path in [*WIDGET_FILES, "mathjax/tex-chtml.js"]:
        assert (HTML / path).is_file(), f"{path} is not in the site"
    assert "../mathjax/tex-chtml.js" in html.replace("_static/../", "")
    # No CDN named anywhere in the page (widgets, math or fonts), outside the frames' data. (Jupyter
    # Book's sphinx-thebe names unpkg in a variable that only a launch button would use: none here.)
    page = THEBE.sub("", STATE.sub("", html))
    assert not CDN.findall(page), f"{chapter}: names a CDN: {set(CDN.findall(page))}"
    state_bytes = len(states[0].encode())
    record(chapter, page_kb=round(len(html.encode()) / 1024, 1), widget_state_kb=round(state_bytes / 1024, 1),
           widget_state_gzip_kb=round(len(gzip.compress(states[0].encode())) / 1024, 1))


def test_widget_runtime_names_no_cdn_it_would_use(build_log):
    """The config maps every module the demos need; the fonts of the widget CSS are in the site."""
    config = (HTML / "widgets" / "require-config.js").read_text(encoding="utf-8")
    assert "anywidget" in config and not CDN.search(config)
    embed = (HTML / "widgets" / "embed-amd.js").read_text(encoding="utf-8")
    fonts = set(re.findall(r'"([0-9a-f]{20}\.(?:woff2?|ttf|eot|svg))"', embed))
    assert fonts and all((HTML / "widgets" / font).is_file() for font in fonts)
    shared = {path: (HTML / path).stat().st_size for path in WIDGET_FILES}
    shared_gzip = {path: len(gzip.compress((HTML / path).read_bytes())) for path in WIDGET_FILES}
    record("shared", runtime_kb=round(sum(shared.values()) / 1024, 1),
           runtime_gzip_kb=round(sum(shared_gzip.values()) / 1024, 1),
           files_kb={path: round(size / 1024, 1) for path, size in shared.items()})
