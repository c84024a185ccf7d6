"""Rule-based, multilingual sentence segmentation with exact code-point offsets.

``split_sentences(text, language=None)`` returns ``[(start, end), ...]``: Python string
indices (Unicode code points, end exclusive), whitespace trimmed, in document order and
non-overlapping, so ``text[start:end]`` is the sentence.

One linear pass over the text; no models, no downloads. The rules:

* Terminators: ``. ! ? …`` (Latin, Cyrillic, Greek, Hebrew, Arabic-script text), the
  Arabic question mark ``؟``, the Urdu full stop ``۔``, Devanagari ``। ॥``, Armenian
  ``։``, Ethiopic ``።``, Myanmar ``။`` and the CJK full-width ``。！？｡．``. Closing
  quotes and brackets right after a terminator stay with the sentence (``."`` ``.»``
  ``。」``). Latin-style terminators need whitespace (or the end) after them, so
  ``3.5``, ``www.example.com`` and ``ب.وايت`` never split; CJK terminators do not.
* The Arabic comma ``،`` and the semicolon ``؛`` are never boundaries.
* Nothing splits inside ``«…»`` / ``‹…›`` guillemets or CJK ``「…」『…』`` brackets (nor
  inside ``“…”`` when the quote holds CJK sentence punctuation). Unbalanced quotes
  (no closer within ``_QUOTE_SPAN`` characters or before a paragraph break) are ignored.
* A period does not end a sentence after: a single letter (initials, ``J. K.``), a
  dotted acronym (``U.S.``, ``z.B.``, ``т.д.``, ``EE.UU.``) unless a typical
  sentence opener follows, a known abbreviation (``Mr.``, ``Dr.``, ``Prof.``, ``No.``
  before a number, ``bzw.``, ``Sr.``, ``г.``, ...), or an ordinal number in languages
  that write ordinals with a dot (``am 3. Oktober``), or a list number at the start of
  a line or after a sentence (``1. Open the box.``). An elision ``[...]`` is not a
  boundary. Any terminator followed by a
  lowercase letter does not end a sentence (``etc. and``, ``“Why?” he asked``).
* A blank line always ends a sentence (headlines, paragraphs). A single line break ends
  one too, unless the next line starts with a lowercase letter or the line ends with a
  comma, hyphen or similar continuation mark (hard-wrapped text).
"""

from __future__ import annotations

import bisect
import re

__all__ = ["split_sentences"]

# Latin-style terminators: need whitespace or the end of text after them.
_TERM_SPACED = ".!?…؟۔।॥։።။‼⁇⁈⁉"
# CJK full-width terminators: a boundary even with no space after.
_TERM_CJK = "。！？｡．"
_CLOSERS = "\"'”’»›)]}」』）】〉》〕＂＇"

_BOUNDARY_RE = re.compile(
    r"(?P<term>[" + re.escape(_TERM_SPACED + _TERM_CJK) + r"]+)"
    r"(?P<close>[" + re.escape(_CLOSERS) + r"]*)"
    r"|(?P<nl>[ \t\r\f\v\u00a0]*\n(?:[ \t\r\f\v\u00a0]*\n)*)"
)

_QUOTE_SPAN = 1500  # longest quote that still suppresses boundaries inside it

_QUOTE_PAIRS = {"«": "»", "‹": "›", "「": "」", "『": "』", "“": "”"}

# Abbreviations that are followed by a capitalised word or a number (titles, units,
# months...). Lower-cased, without the final period. Words that often end sentences
# (Inc., Ltd., Co.) are not listed: a lowercase continuation already keeps them inside.
_ABBREV_COMMON = {
    # English
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "col", "lt", "sgt",
    "capt", "cmdr", "adm", "maj", "gov", "sen", "rep", "rev", "hon", "pres", "fr",
    "vs", "etc", "approx", "dept", "est", "fig", "figs", "vol", "vols", "pp", "ed",
    "eds", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "mt", "ft", "ave", "blvd", "rd", "cf", "al", "ca", "esp", "viz",
    # German
    "bzw", "usw", "vgl", "nr", "hr", "fa", "str", "geb", "gest", "inkl", "evtl",
    "ggf", "sog", "u.a", "z.b", "d.h", "abs", "bd", "jh", "jhd",
    # French / Italian / Spanish / Portuguese / Catalan
    "mme", "mlle", "mm", "sig", "sigg", "dott", "ing", "avv", "ecc", "sra", "srta",
    "dra", "ud", "uds", "av", "pág", "págs", "núm", "art", "ee.uu", "eeuu", "sres",
    "dña", "dª", "lic", "arq",
    # Dutch / Scandinavian
    "dhr", "mevr", "bijv", "enz", "o.a", "ir", "drs", "mw", "bl", "kl", "ds",
    # Polish / Czech
    "np", "itd", "itp", "tzw", "ul", "mgr", "inż", "godz", "tj", "ok", "wg",
    # Turkish
    "vb", "yy", "doç", "yrd", "sn", "av", "müh",
    # Russian / Ukrainian
    "т.д", "т.п", "т.е", "т.к", "т.н", "им", "ул", "пр", "проф", "акад", "млн",
    "млрд", "тыс", "руб", "грн", "см", "рис", "стр", "гл", "обл", "вул", "просп",
    "ім", "тис", "див", "напр", "доц",
    # Greek
    "κ", "κα",
}
# Abbreviations that only stay inside when a number follows (No. 5, p. 12, Art. 3).
_ABBREV_BEFORE_NUMBER = {
    "no", "nos", "p", "pp", "art", "n", "nº", "op", "ch", "sec", "c", "s", "ст", "п", "пп", "ч", "abs", "lit",
}

# Languages that write ordinal numbers with a dot ("am 3. Oktober", "1. maja").
_ORDINAL_DOT_LANGS = {"de", "da", "no", "nb", "nn", "fi", "et", "lv", "hu", "cs", "sk",
                      "pl", "sl", "hr", "sr", "bs", "is", "tr", "fo"}

# Words that, after a dotted acronym ("in the U.S. The ..."), signal a new sentence.
_OPENERS = {
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "this", "that",
    "these", "those", "there", "but", "and", "however", "in", "on", "at", "for",
    "his", "her", "their", "its", "our", "my", "if", "when", "while", "after",
    "as", "so", "yet", "meanwhile", "mr", "ms", "mrs", "dr",
}

_WORD_BEFORE_RE = re.compile(r"[^\s\"'“‘«‹(\[{]+$")
_NEXT_WORD_RE = re.compile(r"\w+")
_DOTTED_ACRONYM_RE = re.compile(r"^(?:\w{1,2}\.)+\w{1,2}$")
_CONTINUATION_END = ",-‐‑–—،;؛/&+"


def _quote_regions(text: str) -> tuple[list[int], list[int]]:
    """Outermost balanced quote spans, as parallel sorted lists of (open, close) index."""
    starts: list[int] = []
    ends: list[int] = []
    stack: list[tuple[int, str]] = []  # (position, expected closer)
    closers = {v: k for k, v in _QUOTE_PAIRS.items()}
    for m in re.finditer(r"[«»‹›「」『』“”]|\n[ \t\r]*\n", text):
        ch = m.group()
        pos = m.start()
        if ch[0] == "\n":  # paragraph break: quotes do not span paragraphs
            stack.clear()
            continue
        if stack and pos - stack[0][0] > _QUOTE_SPAN:
            stack.clear()
        if ch in _QUOTE_PAIRS and not (ch == "“" and stack and stack[-1][1] == "“"):
            stack.append((pos, _QUOTE_PAIRS[ch]))
            continue
        if ch in closers:
            # pop to the matching opener, dropping unmatched inner openers
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][1] == ch:
                    open_pos = stack[k][0]
                    del stack[k:]
                    if not stack:
                        if ch == "”" and not re.search(
                            "[" + _TERM_CJK + "]", text[open_pos:pos]
                        ):
                            break  # Western curly quotes: normal sentence rules apply
                        starts.append(open_pos)
                        ends.append(pos)
                    break
    return starts, ends


def _inside_quote(pos: int, starts: list[int], ends: list[int]) -> bool:
    k = bisect.bisect_right(starts, pos - 1) - 1
    return k >= 0 and starts[k] < pos <= ends[k]


def _is_lower_start(text: str, pos: int) -> bool:
    n = len(text)
    while pos < n and text[pos] in "\"'“‘«‹(¿¡[ \t":
        pos += 1
    return pos < n and text[pos].islower()


def _period_continues(text: str, term_start: int, after: int, language: str | None) -> bool:
    """True when the single period at ``term_start`` does not end the sentence."""
    m = _WORD_BEFORE_RE.search(text, max(0, term_start - 40), term_start)
    if m is None:
        return False
    word = m.group()
    # strip leading punctuation glued to the word, keep inner dots
    word = word.lstrip("-–—/")
    if not word:
        return False
    low = word.lower()
    nxt = _NEXT_WORD_RE.search(text, after, min(len(text), after + 60))
    next_word = nxt.group() if nxt else ""
    next_is_number = bool(next_word) and next_word[0].isdigit() and nxt.start() - after <= 2
    if len(word) == 1 and word.isalpha():
        return True  # initial: "J. K. Rowling", "روبرت ب. وايت"
    if low in _ABBREV_COMMON:
        return True
    if low in _ABBREV_BEFORE_NUMBER and next_is_number:
        return True
    if "." in word and _DOTTED_ACRONYM_RE.match(word):
        # "U.S. officials" stays, "in the U.S. The next day" splits
        return next_word.lower() not in _OPENERS
    if word.isdigit() and len(word) <= 3:
        k = m.start() - 1
        while k >= 0 and text[k] in " \t":
            k -= 1
        if k < 0 or text[k] == "\n" or text[k] in _TERM_SPACED + _TERM_CJK + _CLOSERS:
            return True  # list marker: "1. Open the box.", "... añadió. 3. ¿Quiénes?"
    if (
        language in _ORDINAL_DOT_LANGS
        and word.isdigit()
        and len(word) <= 3
        and next_word
        and not next_word[0].isdigit()
    ):
        return True
    return False


def split_sentences(text: str, language: str | None = None) -> list[tuple[int, int]]:
    """Split ``text`` into sentence spans ``(start, end)`` (code-point offsets).

    ``language`` is an ISO 639-1 code or ``None`` (language-neutral rules). Only the
    abbreviation-with-ordinal rule depends on it; everything else works on scripts.
    """
    if not text:
        return []
    lang = (language or "").lower().split("-")[0] or None
    n = len(text)
    q_starts, q_ends = _quote_regions(text)
    cuts: list[int] = []

    for m in _BOUNDARY_RE.finditer(text):
        if m.group("nl") is not None:
            nl = m.group("nl")
            cut = m.start()
            if nl.count("\n") >= 2:
                cuts.append(cut)  # blank line: always a boundary
                continue
            if _inside_quote(cut, q_starts, q_ends):
                continue
            # single line break: a boundary unless the text clearly continues
            k = cut - 1
            while k >= 0 and text[k] in " \t":
                k -= 1
            if k >= 0 and text[k] in _CONTINUATION_END:
                continue
            if _is_lower_start(text, m.end()):
                continue
            cuts.append(cut)
            continue

        term = m.group("term")
        end = m.end()
        if m.start() > 0 and text[m.start() - 1] in "[(" and len(term) > 1:
            continue  # elision marker "[...]" / "(...)" inside a sentence
        cjk = term[-1] in _TERM_CJK
        if not cjk and end < n and not text[end].isspace():
            continue  # "3.5", "a.m.", "ب.وايت", "Yahoo!Inc"
        if _inside_quote(end, q_starts, q_ends):
            continue
        if end < n and _is_lower_start(text, end):
            continue
        if term == "." and not m.group("close") and _period_continues(text, m.start(), end, lang):
            continue
        cuts.append(end)

    spans: list[tuple[int, int]] = []
    prev = 0
    for cut in cuts + [n]:
        if cut <= prev:
            continue
        s, e = prev, cut
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        prev = cut
    return spans
