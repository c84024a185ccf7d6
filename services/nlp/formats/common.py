"""Helpers shared by the format modules: text normalisation and a small line-aware
text builder for structured formats (HTML, Markdown, DOCX)."""

from __future__ import annotations

import re

from services.core.errors import PayloadTooLarge

# C0 controls except \t and \n (\r, \f and \v are turned into newlines before this).
_C0 = re.compile(r"[\x00-\x08\x0b-\x1f]")
_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_ASCII_WS = " \t\n\r\f\v"
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_WS = re.compile(r"[ \t]+\n")


def normalize_text(text: str) -> str:
    """The normalisation every extracted text goes through (deterministic):

    leading BOM removed; CRLF, CR, vertical tab and form feed become LF; NUL and the
    other C0 controls except TAB and LF are removed; lone surrogates (which some PDF
    fonts produce and which cannot be encoded as UTF-8) become U+FFFD. Nothing else
    changes: no Unicode normalisation, diacritics and Arabic marks are kept.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = _NEWLINES.sub("\n", text)
    text = _C0.sub("", text)
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text


def tidy_structured(text: str) -> str:
    """Layout clean-up for text *built* from markup (not for plain text uploads):
    no trailing spaces on lines, at most one blank line in a row, no blank lines at
    either end."""
    text = _TRAILING_WS.sub("\n", text + "\n")
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()


def check_budget(count: int, max_chars: int) -> None:
    """Abort a streaming extraction long before the text could materialise in full."""
    if count > 2 * max_chars + 4096:
        raise too_large(max_chars)


def too_large(max_chars: int, chars: int | None = None) -> PayloadTooLarge:
    details: dict[str, int] = {"max_chars": max_chars}
    if chars is not None:
        details["chars"] = chars
    return PayloadTooLarge(
        f"The extracted text is longer than the limit of {max_chars} characters. "
        "Split the document into smaller parts and upload them separately.",
        code="text_too_large",
        details=details,
    )


class TextBuilder:
    """Accumulates text with pending separators, so markup walkers can say "a line
    break here", "a blank line here" or "a cell separator here" without producing
    leading/trailing or doubled whitespace."""

    __slots__ = ("_parts", "_newlines", "_sep", "_started", "size", "_max_chars")

    def __init__(self, max_chars: int) -> None:
        self._parts: list[str] = []
        self._newlines = 0
        self._sep = ""
        self._started = False
        self.size = 0
        self._max_chars = max_chars

    def newline(self, count: int = 1, *, additive: bool = False) -> None:
        if not self._started:
            return
        if additive:
            self._newlines = min(self._newlines + count, 2)
        else:
            self._newlines = max(self._newlines, count)
        self._sep = ""

    def separator(self, sep: str = " ") -> None:
        """A space (or a tab, which wins over a space) before the next text."""
        if not self._started or self._newlines:
            return
        if sep == "\t" or not self._sep:
            self._sep = sep

    def _flush(self) -> None:
        if self._newlines:
            self._parts.append("\n" * self._newlines)
            self.size += self._newlines
        elif self._sep:
            self._parts.append(self._sep)
            self.size += 1
        self._newlines = 0
        self._sep = ""

    def text(self, s: str) -> None:
        """Flowing text: runs of whitespace are significant only as separators."""
        if not s:
            return
        if s[0] in _ASCII_WS:
            self.separator(" ")
        body = s.strip(_ASCII_WS)
        if body:
            self.raw(body)
            if s[-1] in _ASCII_WS:
                self.separator(" ")

    def raw(self, s: str) -> None:
        """Text emitted as is (pre-formatted blocks, already-split words)."""
        if not s:
            return
        if self._started:
            self._flush()
        self._parts.append(s)
        self._started = True
        self.size += len(s)
        check_budget(self.size, self._max_chars)

    def getvalue(self) -> str:
        return "".join(self._parts)
