"""HTML -> visible plain text with selectolax (lexbor).

Dropped: <head>, <script>, <style>, <noscript>, <template>, embedded SVG/MathML,
iframes/objects, comments, elements with the ``hidden`` attribute or an inline
``display:none``. Block-level elements become line breaks (paragraph-like ones a
blank line), table cells are separated by a tab, <br> is a line break, <pre> keeps
its whitespace, everything else has HTML whitespace collapsing. Entities are decoded
by the parser. The walk is iterative, so deeply nested markup cannot overflow the stack.
"""

from __future__ import annotations

import html as _html
import re

from selectolax.lexbor import LexborHTMLParser

from services.nlp.formats.common import TextBuilder

_SKIP = frozenset(
    {
        "head", "title", "script", "style", "noscript", "template", "svg", "math",
        "iframe", "object", "embed", "canvas", "audio", "video", "map", "meta",
        "link", "base", "img", "input", "textarea", "select", "button", "-comment",
        "-doctype",
    }
)
_PARAGRAPH = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul",
        "ol", "dl", "figure", "address", "hr", "article", "section", "header",
        "footer", "main", "aside", "nav", "fieldset", "details", "form",
    }
)
_LINE = frozenset(
    {
        "div", "li", "tr", "dt", "dd", "caption", "figcaption", "legend", "summary",
        "thead", "tbody", "tfoot", "option", "center", "body", "html", "menu", "dir",
        "hgroup", "search", "dialog",
    }
)
_CELL = frozenset({"td", "th"})
_HTML_WS = re.compile(r"[ \t\n\r\f]+")
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.I)


def _hidden(node) -> bool:  # noqa: ANN001 - selectolax node
    attrs = node.attributes
    if not attrs:
        return False
    if "hidden" in attrs:
        return True
    style = attrs.get("style")
    return bool(style and _DISPLAY_NONE.search(style))


# Nesting guard: lexbor's tree construction is quadratic in the depth of nested
# block elements (50 000 nested <div>s take seconds), so markup nested deeper than
# this goes through a flat, linear tag stripper instead.
MAX_DEPTH = 2_000
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr", "keygen", "frame", "basefont", "isindex"}
)
_AUTO_CLOSED = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody",
     "tfoot", "colgroup", "caption", "rb", "rt", "rp", "rtc"}
)
_RAW_START = re.compile(r"<!--|<(script|style|noscript|template|head|title|svg|math|textarea)\b", re.I)


def _too_deep(html: str) -> bool:
    depth = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID or name in _AUTO_CLOSED or match.group(0).endswith("/>"):
            continue
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > MAX_DEPTH:
                return True
    return False


def _flat_html_to_text(html: str, out: TextBuilder) -> str:
    """Linear fallback: drop raw-text elements and comments, turn block tags into
    breaks, strip the other tags, decode entities."""
    lower = html.lower()
    kept: list[str] = []
    pos = 0
    while True:
        match = _RAW_START.search(lower, pos)
        if match is None:
            kept.append(html[pos:])
            break
        kept.append(html[pos : match.start()])
        if match.group(1) is None:
            end = lower.find("-->", match.end())
            pos = len(html) if end < 0 else end + 3
        else:
            end = lower.find("</" + match.group(1), match.end())
            end = -1 if end < 0 else lower.find(">", end)
            pos = len(html) if end < 0 else end + 1
    flat = "".join(kept)
    pos = 0
    for match in _TAG.finditer(flat):
        out.text(_HTML_WS.sub(" ", _html.unescape(flat[pos : match.start()])))
        pos = match.end()
        name = match.group(2).lower()
        if name == "br":
            out.newline(1, additive=True)
        elif name in _PARAGRAPH:
            out.newline(2)
        elif name in _LINE:
            out.newline(1)
        elif name in _CELL and match.group(1):
            out.separator("\t")
    out.text(_HTML_WS.sub(" ", _html.unescape(flat[pos:])))
    return out.getvalue()


def html_to_text(html: str, *, max_chars: int) -> str:
    if _too_deep(html):
        return _flat_html_to_text(html, TextBuilder(max_chars))
    tree = LexborHTMLParser(html)
    root = tree.body if tree.body is not None else tree.root
    out = TextBuilder(max_chars)
    if root is None:
        return ""
    # Stack of (node, closing): closing entries emit the element's trailing break.
    stack: list[tuple[object, bool]] = [(root, False)]
    pre_depth = 0
    while stack:
        node, closing = stack.pop()
        tag = node.tag
        if closing:
            if tag == "pre":
                pre_depth -= 1
            if tag in _PARAGRAPH:
                out.newline(2)
            elif tag in _LINE:
                out.newline(1)
            elif tag in _CELL:
                out.separator("\t")
            continue
        if node.is_text_node:
            value = node.text_content or ""
            if pre_depth:
                out.raw(value)
            else:
                out.text(_HTML_WS.sub(" ", value))
            continue
        if tag in _SKIP or not node.is_element_node and not node.is_document_node:
            continue
        if _hidden(node):
            continue
        if tag == "br":
            out.newline(1, additive=True)
            continue
        if tag in _PARAGRAPH:
            out.newline(2)
        elif tag in _LINE:
            out.newline(1)
        if tag == "pre":
            pre_depth += 1
        stack.append((node, True))
        children = []
        child = node.first_child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, False) for c in reversed(children))
    return out.getvalue()
