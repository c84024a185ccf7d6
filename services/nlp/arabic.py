"""Arabic text helpers for the entity engine: normalisation, proclitic handling and an
offset-exact tokenizer.

Plain Python (plus spaCy's registry so that trained pipelines can name the tokenizer and
the lexical-feature callback in their ``config.cfg``). Importing this module registers:

* ``docenrich.ArabicTokenizer.v1`` (``@tokenizers``): splits on whitespace and detaches
  punctuation (``«»()،؛؟`` ...), keeps every word whole, *including* attached proclitics
  (و ب ل ك ف ال). This is the convention of the gold data (ANERcorp and AQMAR tag the
  whole space-delimited word, e.g. ``وإسرائيل`` = B-LOC), so entity spans include the
  proclitic and offsets stay exact; the per-document entity groups strip it instead.
* ``docenrich.arabic_lex_attrs.v1`` (``@callbacks``, used as ``nlp.after_creation``):
  lexical features the hashed embeddings see. NORM = normalised word with proclitics
  stripped (so ``وإيران``/``بإيران``/``إيران`` share a row), LOWER = normalised full word,
  PREFIX = first two normalised letters (captures the clitic), SUFFIX = last three.

Token.idx values are exact code-point offsets into the input string: ``doc.text`` is
byte-for-byte the input (extra whitespace becomes whitespace tokens, as in spaCy).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

# Harakat, tanwin, shadda, sukun, superscript alef, Quranic marks.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")
TATWEEL = "\u0640"
_CHAR_MAP = str.maketrans(
    {
        "\u0622": "\u0627",  # آ -> ا
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0649": "\u064a",  # ى -> ي
        "\u0640": None,  # tatweel
    }
)
_TA_MARBUTA = str.maketrans({"\u0629": "\u0647"})  # ة -> ه (feature form only)

_ARABIC_LETTER = re.compile("[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]")


def has_arabic(text: str) -> bool:
    return bool(_ARABIC_LETTER.search(text))


def strip_diacritics(text: str) -> str:
    """Remove harakat/tanwin/shadda/sukun and tatweel; nothing else changes."""
    return _DIACRITICS.sub("", text).replace(TATWEEL, "")


def normalize(text: str) -> str:
    """Display-safe normal form: no diacritics, no tatweel, alef variants -> ا, ى -> ي."""
    return _DIACRITICS.sub("", text).translate(_CHAR_MAP)


@lru_cache(maxsize=200_000)
def feature_form(word: str) -> str:
    """Aggressive form for hashing features (also ة -> ه)."""
    return normalize(word).translate(_TA_MARBUTA)


# Clitic + article sequences that are (almost) never the start of a bare word.
_ARTICLE_PREFIXES = ("وبال", "فبال", "وكال", "فكال", "وال", "فال", "بال", "كال")
_LIL_PREFIXES = ("ولل", "فلل", "لل")


def strip_article_clitics(word: str) -> str:
    """``بالعراق`` -> ``العراق``, ``للعراق`` -> ``العراق`` (word already normalised).

    Only clitic+article sequences are removed here; they are unambiguous enough when at
    least three letters follow the article."""
    for p in _ARTICLE_PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 3:
            return "ال" + word[len(p):]
    for p in _LIL_PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 3:
            return "ال" + word[len(p):]
    return word


def proclitic_candidates(word: str) -> list[str]:
    """Forms of ``word`` with one or two single-letter proclitics (و ف then ب ل ك)
    removed, longest first. The caller decides whether a candidate is attested."""
    out = []
    w = word
    if len(w) > 3 and w[0] in "وف":
        w = w[1:]
        out.append(w)
    if len(w) > 3 and w[0] in "بلك":
        out.append(w[1:])
    return out


@lru_cache(maxsize=200_000)
def feature_stem(word: str) -> str:
    """Proclitic-stripped feature form used as NORM (a hashing feature, so a wrong
    strip only merges two rows; the full form is still seen through LOWER)."""
    w = strip_article_clitics(feature_form(word))
    if w.startswith("ال"):
        return w
    cands = proclitic_candidates(w)
    return cands[-1] if cands else w


# --------------------------------------------------------------------------- tokenizer

_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0300-\u036f"
# A word: letters/digits/marks/tatweel, with internal apostrophes or hyphens between
# letters (Latin names such as O'Brien), or numbers with internal separators.
_TOKEN_RE = re.compile(
    rf"\d+(?:[.,٫٬]\d+)*"
    rf"|[^\W\d_][\w{_MARKS}]*(?:['’\-][^\W\d_][\w{_MARKS}]*)*"
    rf"|[\w{_MARKS}]+"
    rf"|\S"
)
_WS_RE = re.compile(r"\s+")


def tokenize_spans(text: str) -> list[tuple[int, int]]:
    """Non-whitespace token spans (start, end) in code points."""
    return [m.span() for m in _TOKEN_RE.finditer(text)]


class ArabicTokenizer:
    """spaCy tokenizer: whitespace + punctuation split, words kept whole."""

    def __init__(self, vocab):
        self.vocab = vocab

    def __call__(self, text: str):
        from spacy.tokens import Doc

        words: list[str] = []
        spaces: list[bool] = []

        def gap(ws: str) -> None:
            # whitespace between tokens: one leading space belongs to the previous token,
            # the rest becomes a whitespace token (spaCy's convention)
            if words and not spaces[-1] and ws[0] == " ":
                spaces[-1] = True
                ws = ws[1:]
            if ws:
                words.append(ws)
                spaces.append(False)

        pos = 0
        for m in _TOKEN_RE.finditer(text):
            s, e = m.span()
            if s > pos:
                gap(text[pos:s])
            words.append(text[s:e])
            spaces.append(False)
            pos = e
        if pos < len(text):
            gap(text[pos:])
        return Doc(self.vocab, words=words, spaces=spaces)

    def pipe(self, texts, batch_size=1000):
        for t in texts:
            yield self(t)

    # Nothing to serialise: the rules live in code.
    def to_bytes(self, **kwargs):
        return b""

    def from_bytes(self, _bytes_data, **kwargs):
        return self

    def to_disk(self, _path, **kwargs):
        return None

    def from_disk(self, _path, **kwargs):
        return self


def _register() -> None:
    from spacy.attrs import LOWER, NORM, PREFIX, SUFFIX
    from spacy.util import registry

    @registry.tokenizers("docenrich.ArabicTokenizer.v1")
    def create_arabic_tokenizer() -> Callable:
        def make(nlp):
            return ArabicTokenizer(nlp.vocab)

        return make

    @registry.callbacks("docenrich.arabic_lex_attrs.v1")
    def create_lex_attrs() -> Callable:
        def apply(nlp):
            getters = dict(nlp.vocab.lex_attr_getters or {})
            getters[NORM] = feature_stem
            getters[LOWER] = lambda s: feature_form(s).lower()
            getters[PREFIX] = lambda s: feature_form(s)[:2]
            getters[SUFFIX] = lambda s: feature_form(s)[-3:]
            nlp.vocab.lex_attr_getters = getters
            return nlp

        return apply


try:  # spaCy is a hard dependency of the service, but keep the helpers importable.
    _register()
except ImportError:  # pragma: no cover
    pass


# --------------------------------------------------------------------------- CRF features
# Used by the Arabic CRF entity model (training/ner/train_crf.py trains it, entities.py
# runs it); the same function on both sides keeps training and serving identical.

_LATIN = re.compile(r"[A-Za-z]")
_PUNCT_ONLY = re.compile(r"^[^\w]+$")


@lru_cache(maxsize=200_000)
def _word_feats(w: str) -> dict[str, str]:
    """Cached per word: callers must not mutate the returned dict."""
    n = feature_form(w)
    s = feature_stem(w)
    d = {"n": n, "s": s}
    if _PUNCT_ONLY.match(w):
        d["p"] = w
    elif w.isdigit() or any(c.isdigit() for c in w):
        d["d"] = "1"
    elif _LATIN.search(w):
        d["lat"] = w.lower()
    return d


_VOWELS = set("اوي")


def _vowel_pattern(s: str) -> str:
    """C/V skeleton of the stem without the article: transliterated foreign names
    (بومبيو, أوبراين) carry many long vowels, native words fewer."""
    if s.startswith("ال"):
        s = s[2:]
    return "".join("V" if c in _VOWELS else "C" for c in s[:10])


def _freq_bucket(count: int) -> str:
    return "r" if count <= 1 else ("m" if count <= 5 else ("f" if count <= 50 else "F"))


@lru_cache(maxsize=200_000)
def _own_feats(w: str) -> tuple[str, ...]:
    """The features of a token that depend on its own word only (cached: news text
    repeats its words, and building these strings was a third of the CRF's time)."""
    f = _word_feats(w)
    n, s = f["n"], f["s"]
    feats = (
        "b", "n=" + n, "s=" + s, "p1=" + n[:1], "p2=" + n[:2], "p3=" + n[:3],
        "x1=" + n[-1:], "x2=" + n[-2:], "x3=" + n[-3:], "sp2=" + s[:2], "sx2=" + s[-2:], "sx3=" + s[-3:],
        "len=" + str(min(len(s), 8)), "al=" + ("1" if s.startswith("ال") else "0"), "cl=" + ("1" if s != n else "0"),
        "p4=" + n[:4], "x4=" + n[-4:], "vp=" + _vowel_pattern(s),
    )
    return feats + tuple(k + "=" + f[k] for k in ("p", "d", "lat") if k in f)


@lru_cache(maxsize=400_000)
def _neighbour_feats(w: str, off: int) -> tuple[str, ...]:
    """The features a token gets from word ``w`` at offset ``off`` (-2, -1, 1, 2)."""
    g = _word_feats(w)
    feats = (f"{off}n=" + g["n"], f"{off}s=" + g["s"])
    if off in (-1, 1):
        feats += (f"{off}x3=" + g["s"][-3:], f"{off}p2=" + g["n"][:2], f"{off}vp=" + _vowel_pattern(g["s"]),
                  f"{off}al=" + ("1" if g["s"].startswith("ال") else "0"))
    return feats


def clear_caches() -> None:
    """Drop the per-word caches (normal forms, stems, CRF features). They fill up to ~1M
    entries on a large document; a worker child clears them after one (worker.lifecycle)."""
    for cached in (feature_form, feature_stem, _word_feats, _own_feats, _neighbour_feats):
        cached.cache_clear()


def load_clusters(path) -> dict[str, tuple[str, ...]]:
    """A clusters.json (training/ner/clusters.py) as feature form -> cluster ids, one per
    granularity. Equal id tuples are one object (21k for 97k words): less memory, and
    fewer pages a forked worker's lookups dirty."""
    shared: dict[str, tuple[str, ...]] = {}
    raw = json.loads(Path(path).read_text(encoding="utf-8"))["clusters"]
    return {form: shared.setdefault(ids, tuple(ids.split("|"))) for form, ids in raw.items()}


def _cluster_ids(f: dict[str, str], clusters: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Cluster ids of a word at each granularity: its full form's, else its stem's."""
    return clusters.get(f["n"]) or clusters.get(f["s"]) or ()


def crf_features(words: list[str], freq: dict[str, int] | None = None,
                 clusters: dict[str, tuple[str, ...]] | None = None) -> list[list[str]]:
    """One feature list per token (strings, crfsuite 'name=value' style; crfsuite treats
    them as a set). ``freq`` maps feature stems to their count in the training text
    (shipped with the model): a rare or unseen stem hints at a name in a script without
    capital letters (measured worse on ANERcorp, so the shipped CRF has none).
    ``clusters`` maps feature forms to word-embedding cluster ids at several granularities
    (``load_clusters``): the word's and its neighbours' clusters."""
    infos = [_word_feats(w) for w in words]
    fq = None if freq is None else [_freq_bucket(freq.get(f["s"], 0)) for f in infos]
    cl = None if clusters is None else [_cluster_ids(f, clusters) for f in infos]
    L = len(words)
    out: list[list[str]] = []
    for i, w in enumerate(words):
        feats = list(_own_feats(w))
        if fq is not None:
            feats.append("fq=" + fq[i])
            feats.extend(f"{off}fq=" + fq[i + off] for off in (-1, 1) if 0 <= i + off < L)
        if cl is not None:
            feats.extend(f"c{g}=" + c for g, c in enumerate(cl[i]))
            for off in (-1, 1):
                if 0 <= i + off < L:
                    feats.extend(f"{off}c{g}=" + c for g, c in enumerate(cl[i + off]) if g)
        for off in (-2, -1, 1, 2):
            j = i + off
            if 0 <= j < L:
                feats.extend(_neighbour_feats(words[j], off))
            else:
                feats.append(f"{off}BOS" if j < 0 else f"{off}EOS")
        s = infos[i]["s"]
        if i > 0:
            feats.append("-1s|s=" + infos[i - 1]["s"] + "|" + s)
        if i + 1 < L:
            feats.append("s|+1s=" + s + "|" + infos[i + 1]["s"])
        out.append(feats)
    return out
