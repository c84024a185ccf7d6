"""Plain-text decoding: bytes in any common encoding -> str, deterministically.

Order of evidence: byte-order mark; strict UTF-8; UTF-16 without a BOM (NUL-byte
parity); an explicitly declared charset (HTTP parameter or HTML ``<meta>``) when it
decodes cleanly; otherwise every candidate legacy encoding is scored on a sample and
the least implausible decoding wins (ties go to the earlier candidate), with
charset-normalizer's guess as one of the candidates. Short texts are where
charset-normalizer alone goes wrong (a French sentence in ISO-8859-1 comes back as
cp1006, cp1252 quotes as cp437), hence the script-consistency scoring on top.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from functools import lru_cache

import charset_normalizer

SAMPLE_BYTES = 32 * 1024
SCORE_BYTES = 16 * 1024  # legacy-encoding scoring looks at this much

# Tried in this order; on equal scores the earlier one wins.
_LEGACY = (
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1256",
    "iso8859_6",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1257",
    "koi8_r",
    "koi8_u",
    "cp874",
    "cp1258",
)
_MULTIBYTE = ("cp932", "gb18030", "big5", "euc_kr", "euc_jp")
_ISOLATION = list(_LEGACY + _MULTIBYTE) + ["iso8859_2", "iso8859_5", "iso8859_7", "iso8859_8", "iso8859_15"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_PUBLIC_NAMES = {
    "utf-8-sig": "utf-8",
    "utf_8": "utf-8",
    "cp932": "shift_jis",
    "koi8_r": "koi8-r",
    "koi8_u": "koi8-u",
    "euc_kr": "euc-kr",
    "euc_jp": "euc-jp",
}
# Control bytes that never appear in text (TAB, LF, VT, FF, CR and ESC excluded).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_C0_CHARS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_WORDS = re.compile(r"[^\W\d_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_OK_SYMBOLS = set("©®°™№€£¥¢₪₽₹﷼×÷±§¶•·«»‹›…–—‘’‚“”„†‡‰¿¡¬")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.I)


def public_name(codec: str) -> str:
    """The IANA-style name we report for a Python codec name."""
    name = _PUBLIC_NAMES.get(codec)
    if name:
        return name
    if codec.startswith("cp125"):
        return "windows-" + codec[2:]
    if codec.startswith(("iso8859_", "iso8859-")):
        return "iso-8859-" + codec[8:]
    return codecs.lookup(codec).name.replace("_", "-")


def control_ratio(sample: bytes) -> float:
    if not sample:
        return 0.0
    return (len(sample) - len(sample.translate(None, _CONTROL_BYTES))) / len(sample)


def _refuse_binary(text: str) -> None:
    """Decoded text that is still mostly controls, unassigned or private-use code
    points (or replacement characters) was not text in this encoding."""
    head = text[:SAMPLE_BYTES]
    if not head:
        return
    odd = len(_C0_CHARS.findall(head)) + head.count("\ufffd")
    odd += sum(1 for ch in head if ch > "\x7f" and unicodedata.category(ch) in ("Cn", "Co", "Cs"))
    if odd / len(head) > 0.1:
        raise ValueError("binary")


def _lookup(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    # A declared "utf-16" without BOM or any non-text codec is not trusted.
    if name in ("utf-16", "utf-32") or name.endswith("_codec") or name in ("rot-13", "idna", "punycode"):
        return None
    return name


def _utf16_without_bom(sample: bytes) -> str | None:
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0) / (len(sample) / 2)
    odd = sample[1::2].count(0) / (len(sample) / 2)
    if odd >= 0.1 and even <= 0.02:
        return "utf-16-le"
    if even >= 0.1 and odd <= 0.02:
        return "utf-16-be"
    return None


@lru_cache(maxsize=4096)
def _char_info(ch: str) -> tuple[float, str | None]:
    """(badness, script) of one non-ASCII character."""
    cat = unicodedata.category(ch)
    if ch == "\ufffd":
        return 3.0, None
    if cat in ("Cc", "Co", "Cn", "Cs", "Lm", "Sk"):
        return 1.0, None
    if cat[0] in "SN" and cat != "Nd" and ch not in _OK_SYMBOLS:
        return (0.5 if cat == "No" else 1.0), None
    if "\uff61" <= ch <= "\uff9f":  # half-width katakana: legacy, rare, typical of mojibake
        return 0.5, "CJK"
    if cat[0] == "L":
        first = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
        if first in ("CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH", "FULLWIDTH", "IDEOGRAPHIC"):
            first = "CJK"
        return 0.0, first
    return 0.0, None


def badness(text: str) -> float:
    """How implausible a decoding looks: bad symbols, words mixing scripts, case
    flipping inside words, Latin words made almost only of accented letters
    (the look of Arabic or Greek read as cp1252). 0 is perfect."""
    counts = Counter(_NON_ASCII.findall(text))
    total = sum(counts.values())
    if not total:
        return 0.0
    bad = sum(_char_info(ch)[0] * n for ch, n in counts.items())
    # Combining marks (Arabic harakat, Thai vowels, accents) only ever follow a letter.
    marks = [ch for ch in counts if unicodedata.category(ch) == "Mn"]
    if marks:
        for match in re.finditer("[" + "".join(marks) + "]", text):
            i = match.start()
            prev = text[i - 1] if i else " "
            if not (prev.isalpha() or unicodedata.category(prev) == "Mn"):
                bad += 1
    words = Counter(w for w in _WORDS.findall(text) if not w.isascii())
    for word, n in words.items():
        scripts = {"LATIN" if c.isascii() else _char_info(c)[1] for c in word}
        scripts.discard(None)
        penalty = 2 if len(scripts) > 1 else 0
        if any(a.islower() and b.isupper() for a, b in zip(word, word[1:])):
            penalty += 1
        if scripts == {"LATIN"} and len(word) >= 4:
            if sum(1 for c in word if not c.isascii()) / len(word) >= 0.75:
                penalty += 1
        bad += penalty * n
    return bad / total


def _decode_sample(sample: bytes, codec: str) -> str | None:
    try:
        return sample.decode(codec)
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample boundary is fine.
        if exc.start >= len(sample) - 4:
            return sample[: exc.start].decode(codec, errors="replace")
        return None
    except LookupError:
        return None


def _guess_legacy(sample: bytes) -> tuple[str, float] | None:
    candidates = list(_LEGACY)
    try:
        best = charset_normalizer.from_bytes(sample, cp_isolation=_ISOLATION).best()
    except Exception:  # noqa: BLE001 - a guesser failure is not the client's fault
        best = None
    guess = _lookup(best.encoding) if best is not None else None
    if guess in ("utf-8", "ascii"):
        guess = None
    if guess and guess not in candidates:
        candidates.append(guess)
    candidates.extend(c for c in _MULTIBYTE if c not in candidates)
    scored: list[tuple[float, int, str]] = []
    for index, codec in enumerate(candidates):
        decoded = _decode_sample(sample, codec)
        if decoded is not None:
            scored.append((badness(decoded), index, codec))
    if not scored:
        return None
    score, _, codec = min(scored)
    # Among (near-)ties: windows-1252 (by far the most common legacy encoding, and
    # Latin variants often decode short texts without visible errors), then
    # charset-normalizer's frequency-based pick, then the candidate order.
    for preferred in ("cp1252", guess):
        for other_score, _, other in scored:
            if other == preferred and other_score <= score + 0.02:
                return other, other_score
    return codec, score


def decode(data: bytes, *, declared_charset: str | None = None, html: bool = False) -> tuple[str, str]:
    """Decode ``data``; returns ``(text, public encoding name)``.

    Raises ``ValueError`` when the bytes do not look like text in any encoding (the
    caller turns that into a 415)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(codec.replace("-sig", ""), errors="replace")
            _refuse_binary(text)
            return text, public_name(codec)

    sample = data[:SAMPLE_BYTES]
    utf16 = _utf16_without_bom(sample)
    if utf16:
        text = data.decode(utf16, errors="replace")
        _refuse_binary(text)
        return text, utf16

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if control_ratio(data[:SAMPLE_BYTES]) > 0.3:
            raise ValueError("binary")
        return text, "utf-8"

    # Mostly valid UTF-8 with a few broken bytes: keep UTF-8, replace the bad bytes.
    def mostly_utf8(chunk: bytes) -> str | None:
        lenient = chunk.decode("utf-8", errors="replace")
        broken = lenient.count("\ufffd")
        multibyte = len(lenient) - len(lenient.encode("ascii", errors="ignore")) - broken
        return lenient if multibyte > 0 and broken * 10 <= multibyte else None

    if mostly_utf8(sample) is not None:
        lenient = mostly_utf8(data)
        if lenient is not None:
            if control_ratio(sample) > 0.05:
                raise ValueError("binary")
            return lenient, "utf-8"

    if control_ratio(sample) > 0.05:
        raise ValueError("binary")

    declared = [_lookup(declared_charset)]
    if html:
        match = _META_CHARSET.search(data[:4096])
        declared.append(_lookup(match.group(1).decode("ascii")) if match else None)
    for codec in declared:
        if codec and codec not in ("utf-8", "utf-16", "utf-32"):
            try:
                return data.decode(codec), public_name(codec)
            except (UnicodeDecodeError, LookupError):
                continue

    guess = _guess_legacy(sample[:SCORE_BYTES])
    if guess is None or guess[1] > 1.0:
        raise ValueError("no plausible text encoding")
    codec = guess[0]
    return data.decode(codec, errors="replace"), public_name(codec)
