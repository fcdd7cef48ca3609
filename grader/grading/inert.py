"""Student content made inert in every page the grader writes for a person to open.

A notebook is the student's: its outputs (``text/html``, ``text/markdown``, ``application/javascript``,
widget views, SVG, image bytes and their metadata), its markdown and raw cells, attachments,
cell ids, tags, prompts and notebook metadata can all carry markup that runs when the page is opened.
nbconvert copies most of them into the page verbatim, some into unquoted attributes. Here:

* :class:`InertNotebook`, a preprocessor run on a notebook before it becomes HTML, keeps only what
  can be rendered safely: HTML outputs and raw cells are cleaned with :func:`clean_html`; images are
  kept only as valid base64 PNG/JPEG (or SVG, which nbconvert shows as an ``<img>``, where it cannot
  run script); every other output type is replaced by a line of text naming it; prompts, stream
  names, ids, tags, image sizes and nbgrader grade ids are reduced to plain values; widget state
  and notebook titles are dropped;
* :func:`clean_html` is the one sanitizer (``nh3``, the binding of the Rust ``ammonia``
  sanitizer; no hand-written patterns): a fixed list of harmless tags and attributes (with the
  MathML presentation elements and attributes of :mod:`.mathml`, for the math feedback renders;
  no ``href`` or event handler on them), links only to ``http``, ``https`` and ``mailto``, images
  only as ``data:image/...`` URIs;
* :data:`CSP` is the Content-Security-Policy of every page: no script, no frames, no request to
  any other place (images and fonts only from ``data:``, styles only inline).

Markdown is rendered to HTML when the template runs, so the feedback exporter cleans the rendered
HTML (``feedback.exporter_class``); cleaning the markdown source (``clean_markdown_source``) is
for exporters that cannot be changed, such as nbgrader's formgrader: lossier, as safe.
"""

from __future__ import annotations

import base64
import binascii
import re

import nh3
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from .mathml import MATHML_ATTRIBUTES, MATHML_TAGS
from .outputs import error_output

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
       "base-uri 'none'; form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'

IMAGE_URI = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*\Z")
URL_ATTRIBUTES = {"href", "src", "cite", "longdesc", "srcset", "poster", "action", "formaction", "data",
                  "background", "xlink:href"}
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")
IMAGE_MIMES = ("image/png", "image/jpeg")
MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
KEPT_MIMES = {"text/plain", "text/html", "text/markdown", "text/latex", "image/svg+xml", *IMAGE_MIMES}
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def _only_data_images(tag: str, attribute: str, value: str) -> str | None:
    """ammonia's attribute filter: an image's ``src`` survives only as an inline image, and no other
    URL may be a ``data:`` one (ammonia then checks every URL's scheme)."""
    if tag == "img" and attribute == "src":
        return value if IMAGE_URI.match(value) else None
    if attribute in URL_ATTRIBUTES and value.strip().lower().startswith("data:"):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=nh3.ALLOWED_TAGS | MATHML_TAGS,
    attributes={**nh3.ALLOWED_ATTRIBUTES, **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS}},
    url_schemes={"http", "https", "mailto", "data"},
    attribute_filter=_only_data_images,
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def clean_html(fragment: str) -> str:
    """``fragment`` with everything that could run, load or submit removed (see the module doc)."""
    return _CLEANER.clean(str(fragment))


def plain_value(value, fallback: str) -> str:
    """``value`` if it is a short plain token (letters, digits, ``_.-``), else ``fallback``."""
    return value if isinstance(value, str) and PLAIN_VALUE.match(value) else fallback


def _count(value) -> int | None:
    """An execution count, or ``None`` for anything that is not a plain integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def valid_image(mime: str, value) -> str | None:
    """Canonical base64 of an image output, or ``None`` if it is not base64 of that image type."""
    try:
        data = base64.b64decode(re.sub(r"\s", "", _text(value)), validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(data).decode("ascii") if data.startswith(MAGIC[mime]) else None


def _size(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e5 \
        else None


def _image_metadata(metadata, mime: str) -> dict:
    """Only a positive width and height survive (nbconvert writes them into unquoted attributes)."""
    given = metadata.get(mime) if isinstance(metadata, dict) else None
    given = given if isinstance(given, dict) else {}
    sizes = {key: _size(given.get(key)) for key in ("width", "height")}
    return {key: value for key, value in sizes.items() if value is not None}


def inert_data(data: dict, metadata) -> tuple[dict, dict]:
    """The displayable part of a display/execute output's ``data``, and its safe metadata."""
    kept, safe_metadata = {}, {}
    for mime, value in data.items():
        if mime not in KEPT_MIMES:
            continue
        if mime in IMAGE_MIMES:
            image = valid_image(mime, value)
            if image is not None:
                kept[mime] = image
                if size := _image_metadata(metadata, mime):
                    safe_metadata[mime] = size
        elif mime == "text/html":
            kept[mime] = clean_html(_text(value))
        else:
            kept[mime] = _text(value)
    dropped = sorted(set(data) - set(kept))
    if dropped and not kept:
        kept["text/plain"] = f"[an output of type {', '.join(dropped)} is not shown here]"
    return kept, safe_metadata


def inert_output(output) -> dict | None:
    """A rebuilt copy of one output with only safe fields, or ``None`` if it is not a known kind."""
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(output.get("text", ""))}
    if kind == "error":
        traceback = output.get("traceback", [])
        return error_output(_text(output.get("ename", "Error")), _text(output.get("evalue", "")),
                            [_text(line) for line in traceback] if isinstance(traceback, list) else [])
    if kind in ("display_data", "execute_result"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        kept, metadata = inert_data(data, output.get("metadata"))
        rebuilt = {"output_type": kind, "data": kept, "metadata": metadata}
        if kind == "execute_result":
            rebuilt["execution_count"] = _count(output.get("execution_count"))
        return rebuilt
    return None


def inert_attachments(attachments) -> dict:
    """Markdown attachments, PNG/JPEG only (nbconvert turns them into ``data:`` URIs of their key's type).

    Any other attachment keeps its name (nbconvert fails on a reference to a missing one) with empty
    text, which becomes an image without a source, showing its alt text.
    """
    kept = {}
    for name, bundle in (attachments or {}).items():
        bundle = bundle if isinstance(bundle, dict) else {}
        images = ((mime, valid_image(mime, bundle[mime])) for mime in IMAGE_MIMES if mime in bundle)
        mime, image = next(((mime, image) for mime, image in images if image is not None), ("text/plain", ""))
        kept[str(name)] = {mime: image}
    return kept


class InertNotebook(NbGraderPreprocessor):
    """Reduce a notebook to content that renders inert (see the module doc); run it last."""

    clean_markdown_source = Bool(
        False, help="Also clean the markdown cells' source (for exporters whose markdown rendering "
                    "cannot be cleaned afterwards, e.g. nbgrader's formgrader)").tag(config=True)

    def preprocess(self, nb, resources):
        from nbformat import from_dict

        language = nb.metadata.get("language_info") or {}
        nb.metadata = from_dict({key: value for key, value in nb.metadata.items() if key in ("kernelspec", "nbgrader")})
        nb.metadata.language_info = from_dict({"name": "python", "pygments_lexer": "ipython3"}
                                              if language.get("name", "python") == "python" else {"name": "text"})
        for index, cell in enumerate(nb.cells):
            self._cell(cell, index)
        return nb, resources

    def _cell(self, cell, index: int) -> None:
        from nbformat import from_dict

        if "id" in cell:
            cell.id = plain_value(cell.id, f"cell-{index}")
        tags = cell.metadata.get("tags")
        cell.metadata.tags = [tag for tag in tags if plain_value(tag, "") ] if isinstance(tags, list) else []
        grading = cell.metadata.get("nbgrader")
        if isinstance(grading, dict) and "grade_id" in grading:
            grading["grade_id"] = plain_value(grading["grade_id"], f"cell-{index}")
        if cell.cell_type == "code":
            cell.execution_count = _count(cell.get("execution_count"))
            outputs = [inert_output(output) for output in cell.get("outputs", [])]
            cell.outputs = [from_dict(output) for output in outputs if output is not None]
            if self.clean_markdown_source:
                for output in cell.outputs:
                    if "text/markdown" in output.get("data", {}):
                        output.data["text/markdown"] = clean_html(output.data["text/markdown"])
        elif cell.cell_type == "markdown":
            if "attachments" in cell:
                cell.attachments = from_dict(inert_attachments(cell.attachments))
            if self.clean_markdown_source:
                cell.source = clean_html(cell.source)
        else:
            cell.source = clean_html(cell.source)
