"""Open every page of the built book in headless Chromium with all other network blocked.

Each page must render its title, typeset its math with the site's own MathJax, load its
figures and fonts, and log no console errors. Screenshots go to test-artifacts/book/.
"""

import pytest

from book_topics import CHAPTER_TOPICS
from browser import ARTIFACTS, open_offline

pytestmark = pytest.mark.slow

PAGES = ["intro", *sorted(CHAPTER_TOPICS), "glossary", "bibliography",
         *(page.replace("chapters/", "exercises/") for page in sorted(CHAPTER_TOPICS))]

UNLOADED_IMAGES = "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
FONTS = "async () => { await document.fonts.ready; return [...document.fonts].map(f => [f.family, f.status]); }"


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline(browser, site, name):
    with open_offline(browser, site, f"{name}.html") as page:
        assert page.title().strip(), f"{name}: empty <title>"
        assert page.locator("article h1").first.inner_text().strip(), f"{name}: no heading"
        page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
        typeset = page.locator("mjx-container").count()
        if name.startswith("chapters/"):
            assert typeset > 10, f"{name}: only {typeset} formulas typeset"
        assert page.locator("mjx-merror").count() == 0, f"{name}: MathJax reported an error"
        assert page.evaluate(UNLOADED_IMAGES) == [], f"{name}: images failed to load"
        fonts = page.evaluate(FONTS)
        assert not [f for f in fonts if f[1] == "error"], f"{name}: fonts failed: {fonts}"
        if typeset:
            assert any(f[0].startswith("MJX") and f[1] == "loaded" for f in fonts), \
                f"{name}: MathJax fonts not loaded: {fonts}"
        shot = ARTIFACTS / "book" / f"{name.replace('/', '__')}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
