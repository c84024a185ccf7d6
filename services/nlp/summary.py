"""Multilingual extractive summarization (position-aware centrality), with an optional
abstractive backend on an OpenAI-compatible chat-completions server.

``summarize(text, language=None, *, sentences=None, ratio=None, backend="extractive", ...)``
returns ``{"method", "text", "sentences": [{"text", "start", "end", "score"}]}`` with
sentences in document order and exact code-point offsets (``text[start:end]``).

Extractive method (``pacsum-tfidf-v2``), language-neutral:

1. Sentences from :func:`services.nlp.sentences.split_sentences`.
2. Terms: Unicode words, case-folded, Arabic diacritics/tatweel removed and alef/yaa/
   taa-marbuta forms unified, Hebrew points removed, words cut to a fixed prefix (a
   crude stemmer that needs no language resources); Han/Kana text (no spaces between
   words) gives character unigrams plus bigrams. Weights are sentence-level TF-IDF computed on the document itself.
3. PacSum-style directed centrality (Zheng & Lapata 2019): edge weights are cosine
   similarities minus a threshold ``beta`` of the similarity range; a sentence earns
   credit from the sentences *after* it and loses some for the ones *before* it.
4. Combined (z-scored) with the similarity to the rest of the document, a position
   prior, a capped length reward, and penalties for very short and for overlong
   (run-together) sentences and for questions/colon lead-ins; greedy selection with a redundancy filter; output in
   document order.

Cost: segmentation, tokenisation and the document statistics are linear. The pairwise
centrality runs on at most ``_MAX_PAIRWISE`` candidate sentences (the lead of the
document plus the sentences closest to the document centroid), so a 1 MB text stays
near-linear.
"""

from __future__ import annotations

import math
import operator
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from services.core.errors import InvalidField
from services.nlp.sentences import split_sentences

__all__ = ["summarize", "default_sentence_count", "METHOD"]

METHOD = "pacsum-tfidf-v2"
_MAX_PAIRWISE = 300  # candidates in the all-pairs centrality step
_LEAD_CANDIDATES = 150  # of which always the first ones of the document
_MAX_TOKENS_PER_SENTENCE = 800  # Han/Kana give ~2 terms per character
_MAX_SENTENCES = 50  # hard cap on a requested summary length
_MAX_SENTENCE_CHARS = 1000  # longer "sentences" (no punctuation) are cut at spaces


@dataclass(frozen=True)
class Params:
    """Knobs of the scorer. Defaults were chosen on the dev sets (see
    ``evaluation/summary.py``) and checked on split halves for stability."""

    beta: float = 0.3  # edge threshold: min + beta * (max - min) of the similarities
    lambda_before: float = -0.3  # weight of edges to earlier sentences
    lambda_after: float = 1.0  # weight of edges to later sentences
    centroid_weight: float = 0.5  # similarity to the rest of the document
    position_weight: float = 2.5  # weight of the position prior (all terms z-scored)
    position_weight_long: float = 4.0  # ... for summaries of 3 or more sentences
    position_decay: float = 0.3  # prior = 1 / (1 + i) ** decay
    length_weight: float = 0.9  # reward log(1 + min(length, length_cap))
    length_cap: int = 25
    overlong_penalty: float = 1.0  # subtract log(1 + length - overlong_from) beyond ...
    overlong_from: int = 50  # ... this many units: such "sentences" are merged ones
    min_tokens: int = 6  # sentences shorter than this are penalised
    question_penalty: float = 1.0  # sentences ending in ? or : rarely summarize
    prefix: int = 6  # word prefix length used as a stem (0 = whole word)
    redundancy: float = 0.6  # skip a sentence this similar to one already chosen


DEFAULT_PARAMS = Params()

# --------------------------------------------------------------------------- terms

_AR_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_HE_POINTS = re.compile("[\u0591-\u05c7]")
_AR_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_WORD_RE = re.compile(r"\w+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_QUESTION_END_RE = re.compile("[?؟？:：][\"'”’»」』)）]*$")


def _terms(sentence: str, prefix: int) -> list[str]:
    s = unicodedata.normalize("NFKC", sentence).casefold()
    s = _AR_DIACRITICS.sub("", s)
    s = _HE_POINTS.sub("", s).translate(_AR_FOLD)
    out: list[str] = []
    for w in _WORD_RE.findall(s):
        if _CJK_RE.search(w):
            # split runs of Han/Kana into characters plus character bigrams
            # (there are no spaces to find words); keep embedded Latin/digit runs
            # as words
            for part in re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", w):
                if _CJK_RE.match(part):
                    # characters and character bigrams: a Han/Kana word is one to
                    # three characters, so single characters carry the shared
                    # vocabulary and bigrams the phrases
                    out.extend(part)
                    if len(part) > 1:
                        out.extend(part[i : i + 2] for i in range(len(part) - 1))
                else:
                    out.append(part[:prefix] if prefix else part)
        elif w.isdigit():
            out.append(w)
        else:
            out.append(w[:prefix] if prefix and len(w) > prefix else w)
        if len(out) >= _MAX_TOKENS_PER_SENTENCE:
            break
    return out


def _length_units(sentence: str) -> int:
    """Rough content length: words, or characters/2 for Han/Kana text."""
    cjk = len(_CJK_RE.findall(sentence))
    return len(_WORD_RE.findall(sentence)) + cjk // 2


# --------------------------------------------------------------------------- scoring


def _tfidf(token_lists: list[list[str]]) -> tuple[list[dict[str, float]], Counter]:
    n = len(token_lists)
    df: Counter = Counter()
    for toks in token_lists:
        df.update(set(toks))
    vecs: list[dict[str, float]] = []
    for toks in token_lists:
        tf = Counter(toks)
        v = {t: (1.0 + math.log(c)) * math.log((n + 1) / (df[t] + 0.5)) for t, c in tf.items()}
        v = {t: w for t, w in v.items() if w > 0}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        vecs.append({t: w / norm for t, w in v.items()})
    return vecs, df


def _similarity_matrix(vecs: list[dict[str, float]]) -> np.ndarray:
    """Cosine similarities of L2-normalised sparse vectors via term postings."""
    n = len(vecs)
    postings: dict[str, tuple[list[int], list[float]]] = {}
    for i, v in enumerate(vecs):
        for t, w in v.items():
            p = postings.get(t)
            if p is None:
                postings[t] = ([i], [w])
            else:
                p[0].append(i)
                p[1].append(w)
    sim = np.zeros((n, n), dtype=np.float64)
    for idx, ws in postings.values():
        if len(idx) < 2:
            continue
        ia = np.asarray(idx)
        wa = np.asarray(ws)
        sim[np.ix_(ia, ia)] += np.outer(wa, wa)
    np.fill_diagonal(sim, 0.0)
    return sim


def _zscore(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def score_sentences(
    sentence_texts: list[str], params: Params = DEFAULT_PARAMS, k: int = 1
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Score every sentence (higher = more summary-worthy) for a summary of ``k``
    sentences; also return the tf-idf vectors used (for the redundancy filter).
    Non-candidates score ``-inf``.

    Longer summaries lean more on the lead (news is written as an inverted pyramid,
    and multi-sentence references follow it): from 3 sentences on the position prior
    weighs ``position_weight_long`` instead of ``position_weight``."""
    n = len(sentence_texts)
    toks = [_terms(s, params.prefix) for s in sentence_texts]
    vecs, _ = _tfidf(toks)

    # similarity of each sentence to the rest of the document (linear)
    centroid: dict[str, float] = {}
    for v in vecs:
        for t, w in v.items():
            centroid[t] = centroid.get(t, 0.0) + w
    closeness = np.asarray(
        [sum(w * (centroid[t] - w) for t, w in v.items()) for v in vecs], dtype=np.float64
    )

    # candidate set for the quadratic step: the lead plus the most central of the rest
    if n > _MAX_PAIRWISE:
        rest = np.arange(_LEAD_CANDIDATES, n)
        best = rest[np.argsort(-closeness[rest], kind="stable")[: _MAX_PAIRWISE - _LEAD_CANDIDATES]]
        cand = list(range(_LEAD_CANDIDATES)) + sorted(int(i) for i in best)
    else:
        cand = list(range(n))
    m = len(cand)
    cand_arr = np.asarray(cand, dtype=np.int64)
    sim = _similarity_matrix([vecs[i] for i in cand])

    if m > 1:
        off = sim[~np.eye(m, dtype=bool)]
        lo, hi = float(off.min()), float(off.max())
        edges = np.maximum(sim - (lo + params.beta * (hi - lo)), 0.0)
        before = np.tril(edges, -1).sum(axis=1)  # edges to earlier sentences
        after = np.triu(edges, 1).sum(axis=1)  # edges to later sentences
        centrality = _zscore(params.lambda_before * before + params.lambda_after * after)
        central = _zscore(closeness[cand_arr])
    else:
        centrality = np.zeros(m)
        central = np.zeros(m)

    # position among the document's sentences (not among candidates)
    prior = 1.0 / np.power(1.0 + cand_arr.astype(np.float64), params.position_decay)
    prior = _zscore(prior) if m > 1 else prior
    pos_w = params.position_weight_long if k >= 3 else params.position_weight
    score = centrality + params.centroid_weight * central + pos_w * prior

    lengths = np.asarray([_length_units(sentence_texts[i]) for i in cand], dtype=np.float64)
    short = lengths < params.min_tokens
    score = score - np.where(short, 2.0 + (params.min_tokens - lengths) * 0.3, 0.0)
    score = score + params.length_weight * np.log1p(np.minimum(lengths, params.length_cap))
    # a "sentence" of more than ~50 words is usually several run together (a photo
    # caption glued to the first sentence, a list, missing punctuation): it dilutes a
    # short summary
    score = score - params.overlong_penalty * np.log1p(np.maximum(lengths - params.overlong_from, 0.0))
    asks = np.asarray([_QUESTION_END_RE.search(sentence_texts[i]) is not None for i in cand])
    score = score - params.question_penalty * asks

    full = np.full(n, -np.inf)
    full[cand_arr] = score
    return full, vecs


def _cos(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def select(scores: np.ndarray, vecs: list[dict[str, float]], k: int, redundancy: float) -> list[int]:
    """Greedy top-k by score, skipping near-duplicates of chosen sentences."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= k:
            break
        if any(_cos(vecs[i], vecs[j]) > redundancy for j in chosen):
            continue
        chosen.append(i)
    if len(chosen) < k:  # everything left was redundant: fill by score
        for i in order:
            if len(chosen) >= k:
                break
            if i not in chosen:
                chosen.append(i)
    return sorted(chosen)


# --------------------------------------------------------------------------- options


def default_sentence_count(n_sentences: int) -> int:
    """Summary length when the caller gives neither ``sentences`` nor ``ratio``:
    1 for up to 3 sentences, 2 up to 8, 3 up to 40 (a news article), then growing
    with the logarithm of the length, at most 10."""
    if n_sentences <= 3:
        return 1
    if n_sentences <= 8:
        return 2
    if n_sentences <= 40:
        return 3
    return min(10, int(round(3 + 2 * math.log2(n_sentences / 40))))


def _resolve_count(n_sentences: int, sentences: int | None, ratio: float | None) -> int:
    if sentences is not None and ratio is not None:
        raise InvalidField(
            "Give either 'sentences' or 'ratio', not both.",
            details={"field": "ratio", "reason": "mutually_exclusive_with_sentences"},
        )
    if sentences is not None:
        try:
            if isinstance(sentences, bool):
                raise TypeError
            sentences = operator.index(sentences)  # ints, numpy ints; not floats/str
        except TypeError:
            raise InvalidField("'sentences' must be an integer.", details={"field": "sentences"}) from None
        if sentences < 1 or sentences > _MAX_SENTENCES:
            raise InvalidField(
                f"'sentences' must be between 1 and {_MAX_SENTENCES}.",
                details={"field": "sentences", "min": 1, "max": _MAX_SENTENCES},
            )
        return min(sentences, n_sentences)
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not (0.0 < float(ratio) <= 1.0) or math.isnan(float(ratio)):
            raise InvalidField(
                "'ratio' must be a number in (0, 1].", details={"field": "ratio", "min_exclusive": 0, "max": 1}
            )
        return max(1, min(n_sentences, math.ceil(float(ratio) * n_sentences)))
    return min(n_sentences, default_sentence_count(n_sentences))


# --------------------------------------------------------------------------- API


def _bounded_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cut spans longer than ``_MAX_SENTENCE_CHARS`` (text without punctuation, tables,
    lists) at the last whitespace before the limit, so a summary stays short."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while e - s > _MAX_SENTENCE_CHARS:
            limit = s + _MAX_SENTENCE_CHARS
            cut = limit
            for j in range(limit, s + _MAX_SENTENCE_CHARS // 2, -1):
                if text[j].isspace():
                    cut = j
                    break
            piece_end = cut
            while piece_end > s and text[piece_end - 1].isspace():
                piece_end -= 1
            out.append((s, piece_end))
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if e > s:
            out.append((s, e))
    return out


def extractive_summary(
    text: str, language: str | None = None, *, sentences: int | None = None,
    ratio: float | None = None, params: Params = DEFAULT_PARAMS,
) -> dict:
    spans = _bounded_spans(text, split_sentences(text, language))
    k = _resolve_count(max(1, len(spans)), sentences, ratio)
    if not spans:
        return {"method": METHOD, "text": "", "sentences": []}
    texts = [text[s:e] for s, e in spans]
    scores, vecs = score_sentences(texts, params, k)
    chosen = select(scores, vecs, k, params.redundancy)
    finite = scores[np.isfinite(scores)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    out = []
    for i in chosen:
        s, e = spans[i]
        sc = (float(scores[i]) - lo) / (hi - lo) if hi > lo else 1.0
        out.append({"text": texts[i], "start": s, "end": e, "score": round(sc, 4)})
    return {"method": METHOD, "text": join_sentences([x["text"] for x in out]), "sentences": out}


_SENTENCE_END_RE = re.compile(r"[.!?…؟۔।。！？｡][\"'”’»›)\]」』）]*$")


def join_sentences(parts: list[str]) -> str:
    """Join chosen sentences: no space after CJK full stops, a line break after a
    sentence without final punctuation (a headline), a space otherwise."""
    out: list[str] = []
    for i, part in enumerate(parts):
        if i:
            prev = parts[i - 1]
            if not _SENTENCE_END_RE.search(prev):
                out.append("\n")
            elif prev.rstrip("\"'”’»›)]」』）")[-1:] in "。！？｡" and _CJK_RE.match(part[:1] or " "):
                pass
            else:
                out.append(" ")
        out.append(part)
    return "".join(out)


def summarize(
    text: str,
    language: str | None = None,
    *,
    sentences: int | None = None,
    ratio: float | None = None,
    backend: str = "extractive",
    openai_base_url: str | None = None,
    openai_model: str | None = None,
    openai_api_key: str | None = None,
    timeout: float = 30.0,
) -> dict:
    """Summarize ``text``. See the module docstring for the result shape.

    ``backend="openai"`` asks an OpenAI-compatible chat-completions server
    (``openai_base_url``, ``openai_model``) for an abstractive summary; when that fails
    for any reason (not configured, unreachable, timeout, HTTP error, malformed or empty
    answer) the extractive summary is returned with ``fallback_reason`` set. Invalid
    ``sentences``/``ratio`` or an unknown backend name raise :class:`InvalidField`.
    """
    if not isinstance(text, str):
        raise InvalidField("'text' must be a string.", details={"field": "text"})
    if backend not in ("extractive", "openai"):
        raise InvalidField(
            "Unknown summary backend; use 'extractive' or 'openai'.",
            details={"field": "backend", "allowed": ["extractive", "openai"]},
        )
    if backend == "extractive":
        return extractive_summary(text, language, sentences=sentences, ratio=ratio)

    # validate options and compute the extractive result first: it is the fallback and
    # tells the model how long the summary should be
    extractive = extractive_summary(text, language, sentences=sentences, ratio=ratio)
    if not openai_base_url or not openai_model:
        # an operator setting, not the client's fault: serve the extractive summary
        missing = "base URL" if not openai_base_url else "model name"
        return {**extractive, "fallback_reason": f"backend_not_configured: no {missing} for the openai backend"}
    if not text.strip():
        return extractive
    from services.nlp.summary_openai import OpenAIBackendError, summarize_openai

    n_target = max(1, len(extractive["sentences"]))
    try:
        abstract = summarize_openai(
            text,
            language=language,
            n_sentences=n_target,
            base_url=openai_base_url,
            model=openai_model,
            api_key=openai_api_key,
            timeout=timeout,
        )
    except OpenAIBackendError as exc:
        result = dict(extractive)
        result["fallback_reason"] = str(exc)
        return result
    return {"method": f"openai:{openai_model}", "text": abstract, "sentences": []}
