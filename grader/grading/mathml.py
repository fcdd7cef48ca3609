"""TeX math in markdown cells, rendered to MathML when the feedback page is written (no script, no CDN).

The feedback pages run no script (:data:`.inert.CSP`), so MathJax cannot typeset them; Chromium
and Firefox render MathML natively. :func:`markdown_to_html` is nbconvert's markdown rendering
(mistune, with nbconvert's math-aware parser, so ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``
and ``\\begin{env}...\\end{env}`` are found outside code spans and code blocks only) with each piece
of math converted by ``latex2mathml``, in Python, at export time.

The converter's output is used only if it is well-formed XML made of MathML elements alone
(:data:`MATHML_TAGS`): TeX that does not convert (malformed, an unknown command) or that would
put other markup into the math (``\\text{<b>}``) is shown as its escaped source, as before. The
page's sanitizer (:func:`.inert.clean_html`) then keeps only those elements and
:data:`MATHML_ATTRIBUTES` (presentation attributes: no ``href``, no event handler, no
``<annotation-xml>``, no ``<maction>``), like any other markup.
"""

from __future__ import annotations

import functools
import html
import xml.etree.ElementTree as ElementTree

MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
# MathML Core's presentation elements, plus <menclose> (which latex2mathml writes for \boxed).
MATHML_TAGS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot", "mstyle", "merror",
    "mpadded", "mphantom", "msub", "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts",
    "mprescripts", "none", "mtable", "mtr", "mtd", "menclose",
})
MATHML_ATTRIBUTES = frozenset({
    "display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor", "mathbackground", "dir",
    "form", "fence", "separator", "stretchy", "symmetric", "largeop", "movablelimits", "accent", "accentunder",
    "lspace", "rspace", "minsize", "maxsize", "linethickness", "width", "height", "depth", "voffset",
    "linebreak", "notation", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
    "rowlines", "frame", "framespacing", "columnspan", "rowspan",
})


def _only_mathml(mathml: str) -> bool:
    """Whether ``mathml`` is well-formed XML whose every element is an allow-listed MathML one."""
    try:
        root = ElementTree.fromstring(mathml)
    except ElementTree.ParseError:
        return False
    return all(element.tag.startswith(MATHML_NS) and element.tag[len(MATHML_NS):] in MATHML_TAGS
               for element in root.iter())


def tex_to_mathml(tex: str, display: bool) -> str | None:
    """``tex`` as a ``<math>`` element, or ``None`` if it does not convert to plain MathML."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - the converter raises many kinds on malformed TeX; the source is shown
        return None
    return mathml if _only_mathml(mathml) else None


def math_html(tex: str, display: bool, source: str) -> str:
    """The MathML of ``tex``, or, if it does not convert, ``source`` (the TeX with its delimiters) as text."""
    return tex_to_mathml(tex, display) or html.escape(source, quote=False)


@functools.lru_cache(maxsize=1)
def renderer_class():
    """nbconvert's markdown renderer, with math written as MathML instead of TeX for MathJax."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return math_html(body, True, f"$${body}$$")

        def inline_math(self, body: str) -> str:
            return math_html(body, False, f"${body}$")

        def latex_environment(self, name: str, body: str) -> str:
            tex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
            return math_html(tex, True, tex)

    return MathMLRenderer


# \(...\) and \[...\] with single backslashes, as notebooks write them (nbconvert's parser knows
# them only doubled, \\( ... \\), as markdown escapes them); not after a backslash.
INLINE_PAREN = r"(?s:(?<!\\)\\\((?P<paren_tex>.+?)(?<!\\)\\\))"
DISPLAY_BRACKET = r"(?s:(?<!\\)\\\[(?P<bracket_tex>.+?)(?<!\\)\\\])"
DISPLAY_BRACKET_BLOCK = r"(?s:(?<!\\)\\\[.+?(?<!\\)\\\])"  # the same, without the group


@functools.lru_cache(maxsize=1)
def parser_classes():
    """nbconvert's math-aware block and inline parsers, also finding single-backslash delimiters."""
    from nbconvert.filters.markdown_mistune import MathBlockParser, MathInlineParser

    class BlockParser(MathBlockParser):
        # a display \[ ... \] spanning lines is one paragraph, as nbconvert's other display math
        SPECIFICATION = {**MathBlockParser.SPECIFICATION,
                         "multiline_math": f"{MathBlockParser.MULTILINE_MATH}|{DISPLAY_BRACKET_BLOCK}"}

    class InlineParser(MathInlineParser):
        SPECIFICATION = {**MathInlineParser.SPECIFICATION, "math_inline_paren": INLINE_PAREN,
                         "math_block_bracket": DISPLAY_BRACKET}
        DEFAULT_RULES = ("math_block_bracket", "math_inline_paren", *MathInlineParser.DEFAULT_RULES)

        def parse_math_inline_paren(self, m, state) -> int:
            state.append_token({"type": "inline_math", "raw": m.group("paren_tex")})
            return m.end()

        def parse_math_block_bracket(self, m, state) -> int:
            state.append_token({"type": "block_math", "raw": m.group("bracket_tex")})
            return m.end()

    return BlockParser, InlineParser


def markdown_to_html(exporter, context, source: str) -> str:
    """nbconvert's ``HTMLExporter.markdown2html`` (same renderer options), with math as MathML."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    block, inline = parser_classes()
    cell = context.get("cell", {})
    renderer = renderer_class()(
        escape=False,
        attachments=cell.get("attachments", {}),
        embed_images=exporter.embed_images,
        path=context.get("resources", {}).get("metadata", {}).get("path", ""),
        anchor_link_text=exporter.anchor_link_text,
        exclude_anchor_links=exporter.exclude_anchor_links,
        **exporter.lexer_options,
    )
    return MarkdownWithMath(renderer=renderer, block=block(), inline=inline(hard_wrap=False)).render(source)


def is_markdown_cell_source(context, source: str) -> bool:
    """Whether the template is rendering a markdown cell's own source (not an output, not a comment)."""
    cell = context.get("cell") or {}
    return cell.get("cell_type") == "markdown" and source == cell.get("source")
