"""Markdown -> plain text with markdown-it-py (CommonMark + tables + strikethrough).

Headings, paragraphs and list items each end up on their own lines; emphasis, link
URLs, images, raw inline HTML and code-fence markers are dropped; link text, code
spans and code-block contents are kept; raw HTML blocks go through the HTML
extractor. Soft line breaks stay line breaks (the source layout is kept).
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from services.nlp.formats.common import TextBuilder
from services.nlp.formats.html import html_to_text

_md = MarkdownIt("commonmark", {"typographer": False, "linkify": False}).enable(["table", "strikethrough"])

_BLOCK_BREAK = {
    "heading_close": 2,
    "list_item_close": 1,
    "bullet_list_close": 2,
    "ordered_list_close": 2,
    "blockquote_close": 2,
    "table_close": 2,
    "tr_close": 1,
    "hr": 2,
}


def _inline(children, out: TextBuilder) -> None:  # noqa: ANN001 - markdown-it tokens
    for tok in children or ():
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            out.raw(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            out.newline(1, additive=True)
        # image, html_inline, *_open/*_close markup: nothing


# markdown-it-py spends ~30 us per markup character; past this many, a document is
# dense machine-made markup (or an attack) and goes through the linear fallback.
MAX_MARKUP_CHARS = 40_000
_MARKUP = re.compile(r"[\[\]*_`<>|!\\&~#]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_IMAGE = re.compile(r"!\[[^\[\]\n]{0,1000}\]\([^()\[\]\n]{0,2000}\)")
_LINK = re.compile(r"\[([^\[\]\n]{0,1000})\]\([^()\[\]\n]{0,2000}\)")
_BLOCK_PREFIX = re.compile(r"^ {0,3}(?:(?:>\s?)+|#{1,6}(?=\s|$)|[-*+](?=\s)|\d{1,9}[.)](?=\s))\s*")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE_MARKS = re.compile(r"\*+|~~|`+|<[^<>\n]{1,200}>")


def _fallback(source: str, out: TextBuilder) -> str:
    """Linear line-based clean-up for pathological markup (see MAX_MARKUP_CHARS)."""
    in_fence = False
    for line in source.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            out.newline(1)
            continue
        if in_fence:
            out.raw(line)
            out.newline(1)
            continue
        if not line.strip():
            out.newline(2)
            continue
        if _TABLE_RULE.match(line) and "-" in line:
            continue
        line = _BLOCK_PREFIX.sub("", line)
        line = _LINK.sub(r"\1", _IMAGE.sub("", line))
        line = html.unescape(_INLINE_MARKS.sub("", line))
        if line.strip().startswith("|") or line.strip().endswith("|"):
            line = "\t".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        out.raw(line.strip())
        out.newline(1)
    return out.getvalue()


def markdown_to_text(source: str, *, max_chars: int) -> str:
    out = TextBuilder(max_chars)
    if len(_MARKUP.findall(source)) > MAX_MARKUP_CHARS:
        return _fallback(source, out)
    text = _render(source, out, max_chars)
    if not text.strip() and any(ch.isalnum() for ch in source):
        # markdown-it drops what lies beyond its nesting limit (e.g. "> > > ... x")
        return _fallback(source, TextBuilder(max_chars))
    return text


def _render(source: str, out: TextBuilder, max_chars: int) -> str:
    for tok in _md.parse(source):
        kind = tok.type
        if kind == "inline":
            _inline(tok.children, out)
        elif kind == "paragraph_close":
            out.newline(1 if tok.hidden else 2)
        elif kind in ("fence", "code_block"):
            out.newline(2)
            out.raw(tok.content.rstrip("\n"))
            out.newline(2)
        elif kind == "html_block":
            out.newline(2)
            out.raw(html_to_text(tok.content, max_chars=max_chars))
            out.newline(2)
        elif kind in ("th_close", "td_close"):
            out.separator("\t")
        elif kind in _BLOCK_BREAK:
            out.newline(_BLOCK_BREAK[kind])
    return out.getvalue()
