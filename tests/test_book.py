"""The built book: it builds with the README's command, covers its topics, and works offline.

The build runs once per test session (``make book``, exactly what the README says); later
tests read its output in ``book/_build/html``.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from book_topics import CHAPTER_TOPICS, CITATIONS

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"

pytestmark = pytest.mark.slow


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page's main article (scripts and styles dropped)."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_text(page):
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    article = re.search(r"<article.*?</article>", html, re.S)
    extractor = _TextExtractor()
    extractor.feed(article.group(0) if article else html)
    return re.sub(r"\s+", " ", " ".join(extractor.parts))


def test_book_builds_without_warnings(build_log):
    sphinx_output = build_log[build_log.index("jupyter-book build"):]  # skip the venv set-up
    warnings = [line for line in sphinx_output.splitlines()
                if re.search(r"\bWARNING\b", line) and "Kernel is running over TCP" not in line]
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)


@pytest.mark.parametrize("page", sorted(CHAPTER_TOPICS))
def test_chapter_covers_its_topics(build_log, page):
    text = page_text(page).lower()
    missing = [topic for topic, phrases in CHAPTER_TOPICS[page].items()
               if not any(phrase.lower() in text for phrase in phrases)]
    assert not missing, f"{page} does not cover: {missing}"


@pytest.mark.parametrize("page", sorted(CHAPTER_TOPICS))
def test_chapter_has_objectives_summary_figures_and_exercise_link(build_log, page):
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    headings = [re.sub(r"^[\d.\s]+", "", re.sub(r"<[^>]+>", "", heading))  # drop tags, then "1.1."
                for heading in re.findall(r"<h2>(.*?)<a class=\"headerlink", html)]
    assert "Learning objectives" in headings, f"{page}: no 'Learning objectives' section in {headings}"
    assert "Summary" in headings, f"{page}: no 'Summary' section in {headings}"
    exercise = page.replace("chapters/", "exercises/")
    assert f'href="../{exercise}.html' in html, f"{page}: no link to {exercise}"
    figures = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+)"', html)
    assert figures, f"{page}: no figure"
    for src in figures:
        assert (HTML / "chapters" / src).resolve().is_file(), f"{page}: missing image {src}"
    assert "<figcaption" in html, f"{page}: figures have no captions"


def test_every_required_paper_is_cited_in_a_chapter(build_log):
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "book" / "chapters").glob("*.md"))
    cited = set(re.findall(r"\{cite:[pt]\}`([^`]+)`", sources))
    cited = {key.strip() for group in cited for key in group.split(",")}
    missing = [key for key in CITATIONS if key not in cited]
    assert not missing, f"never cited in a chapter: {missing}"
    bibliography = page_text("bibliography")
    for surname in ("Elman", "Bengio", "Hochreiter", "Cho", "Pascanu", "Jozefowicz", "Merity"):
        assert surname in bibliography


@pytest.mark.parametrize("page", sorted(CHAPTER_TOPICS))
def test_chapter_downloads_as_ipynb(build_log, page):
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    notebook = HTML / "_sources" / f"{page}.ipynb"
    assert f"_sources/{page}.ipynb" in html, f"{page}: no .ipynb download link"
    assert notebook.is_file() and '"outputs"' in notebook.read_text(encoding="utf-8")


EXTERNAL_REFERENCE = re.compile(
    r"""(?:<script[^>]+src|<link[^>]+href|<img[^>]+src)=["'](?:https?:)?//|url\(["']?(?:https?:)?//""", re.I)


def test_pages_load_nothing_from_other_hosts(build_log):
    offenders = []
    for path in list(HTML.rglob("*.html")) + list(HTML.rglob("*.css")):
        for match in EXTERNAL_REFERENCE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{path.relative_to(HTML)}: {match.group(0)}")
    assert not offenders, "external assets referenced:\n" + "\n".join(offenders[:20])


def test_math_is_served_by_the_site(build_log):
    html = (HTML / "chapters" / "01_hidden_state.html").read_text(encoding="utf-8")
    assert "../mathjax/tex-chtml.js" in html.replace("_static/../", "")
    assert (HTML / "mathjax" / "tex-chtml.js").is_file()
    assert list((HTML / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
