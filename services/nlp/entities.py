"""Named-entity extraction engine (plain Python; no web framework, no task queue).

Models are spaCy pipelines, (Arabic) a CRF, or (English) a transformer encoder run with ONNX
Runtime (``encoder_ner``), trained by ``training/ner`` and committed under
``services/nlp/models/ner/<name>/``; each ``meta.json`` lists the ISO 639-1 languages it
serves (``docenrich.languages``). Nothing is downloaded: models load from the package
directory, once per process (``preload`` in the Celery parent before fork, or lazily on
first use), and are cached in ``_MODELS``.

Output contract (see DESIGN.md): mentions in document order with exact code-point offsets
(``text[start:end] == mention text``), labels PER/ORG/LOC/MISC, a real model-derived
``score`` per mention, plus ``groups`` that merge mentions of the same entity under a
per-language normal form (Arabic: no diacritics/tatweel, unified alef/yeh, proclitics
stripped).

Scores are model-derived confidences in [0, 1]:
* spaCy models (transition-based NER, greedy decoding exactly as trained): the lowest
  softmax probability, over the valid transitions, of the transitions taken inside the
  mention (``_greedy_parse_with_probs``).
* encoder models (``encoder_ner``): the lowest softmax probability, over the mention's
  words, of the label chosen for the word.
* Arabic CRF model: the lowest marginal probability of the predicted BIO tags inside the
  mention; mentions added by document-level propagation keep 0.8x their source's score.
"""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any, Iterable

from services.core.errors import TaskSkipped

from . import arabic
from .encoder_ner import SENT_END as _SENT_END_TOKENS, EncoderTagger

MODELS_DIR = Path(os.environ.get("DOCENRICH_NER_MODELS_DIR", Path(__file__).resolve().parent / "models" / "ner"))
LABELS = ("PER", "ORG", "LOC", "MISC")

# Chunking: the text is cut at line breaks, and lines longer than _MAX_CHUNK code points
# are cut again at the last sentence end (or whitespace) before the limit, so the cost is
# linear in the document size and far below spaCy's max_length.
_MAX_CHUNK = 5000
_PIPE_BATCH = 64

# Seed-vote ensembles (a model whose meta lists ``vote_members``) run every member, which
# costs that many times the time of one: DOCENRICH_NER_VOTE=0 runs the first alone. No shipped
# model has members since docenrich_ner_nl 2.0.0; the training variant `nl` does (dev F1
# 0.825 -> 0.813 alone, three times the words per second; training/ner/README.md).
_VOTE = os.environ.get("DOCENRICH_NER_VOTE", "1") == "1"

_MODELS: dict[str, Any] = {}  # model dir name -> loaded spaCy Language
_LOCK = threading.Lock()
_INDEX: dict[str, dict] | None = None  # language -> {"dir": Path, "meta": dict}


class NoModelForLanguage(TaskSkipped):
    code = "no_model_for_language"


# --------------------------------------------------------------------------- registry


def _index() -> dict[str, dict]:
    global _INDEX
    if _INDEX is None:
        idx: dict[str, dict] = {}
        if MODELS_DIR.is_dir():
            for d in sorted(MODELS_DIR.iterdir()):
                meta_path = d / "meta.json"
                if not meta_path.is_file():
                    continue
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                langs = (meta.get("docenrich") or {}).get("languages", [])
                # seed-vote members (subdirectories): used only when all of them are there
                members = (meta.get("docenrich") or {}).get("vote_members") or []
                members = members if all((d / m / "meta.json").is_file() for m in members) else []
                for lang in langs:
                    # a model made for fewer languages is the more specific one: it wins
                    cur = idx.get(lang)
                    if cur is None or len(langs) < cur["n_languages"]:
                        idx[lang] = {"dir": d, "meta": meta, "n_languages": len(langs), "vote_members": members}
        _INDEX = idx
    return _INDEX


def available_languages() -> list[str]:
    """ISO 639-1 codes that have an entity model."""
    return sorted(_index())


def _normalise_language(language: str | None) -> str | None:
    if not language:
        return None
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or None


class _CrfModel:
    """Linear-chain CRF (python-crfsuite) over Arabic lexical features
    (``arabic.crf_features``). Sequences are sentences (cut after . ! ? ؟ and every
    ``_CRF_MAX_TOKENS`` tokens), as in training. Score = the lowest per-token marginal
    probability of the predicted tags inside the mention."""

    def __init__(self, path: Path, helper=None):
        import pycrfsuite

        # Optional spaCy NER whose mentions are added where the CRF found nothing, or
        # replace the CRF's where it is clearly more confident (_HELPER_MARGIN): the two
        # models miss different names.
        self.helper = helper
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path))
        self._lock = threading.Lock()
        freq_path = path.parent / "freq.json"
        self._freq = json.loads(freq_path.read_text(encoding="utf-8")) if freq_path.is_file() else None
        clusters_path = path.parent / "clusters.json"
        self._clusters = arabic.load_clusters(clusters_path) if clusters_path.is_file() else None

    def spans(self, chunk: str) -> list[tuple[int, int, str, float]]:
        toks = arabic.tokenize_spans(chunk)
        out: list[tuple[int, int, str, float]] = []
        start = 0
        for i, (s, e) in enumerate(toks):
            boundary = chunk[s:e] in _SENT_END_TOKENS and (e == len(chunk) or chunk[e].isspace())
            if boundary or i - start + 1 >= _CRF_MAX_TOKENS or i == len(toks) - 1:
                out.extend(self._tag(chunk, toks[start : i + 1]))
                start = i + 1
        return out

    def _tag(self, chunk: str, toks: list[tuple[int, int]]) -> list[tuple[int, int, str, float]]:
        words = [chunk[s:e] for s, e in toks]
        feats = arabic.crf_features(words, self._freq, self._clusters)
        with self._lock:
            self._tagger.set(feats)
            tags = self._tagger.tag()
            probs = [self._tagger.marginal(t, i) for i, t in enumerate(tags)]
        ents: list[tuple[int, int, str, float]] = []
        cur: list | None = None
        for i, t in enumerate(tags):
            if t == "O" or t.startswith("B-") or (cur is not None and cur[2] != t[2:]) or cur is None:
                if cur is not None:
                    ents.append((toks[cur[0]][0], toks[cur[1] - 1][1], cur[2], cur[3]))
                    cur = None
                if t != "O":
                    cur = [i, i + 1, t[2:], probs[i]]
            else:
                cur[1] = i + 1
                cur[3] = min(cur[3], probs[i])
        if cur is not None:
            ents.append((toks[cur[0]][0], toks[cur[1] - 1][1], cur[2], cur[3]))
        return ents


_CRF_MAX_TOKENS = 200


def _load(entry: dict):
    d: Path = entry["dir"]
    nlp = _MODELS.get(d.name)
    if nlp is not None:
        return nlp
    with _LOCK:
        nlp = _MODELS.get(d.name)
        if nlp is None:
            backend = entry["meta"].get("backend")
            if backend == "onnx-encoder":
                nlp = EncoderTagger(d)
            elif backend == "crfsuite":
                nlp = _CrfModel(d / "model.crfsuite")
            elif backend == "crf+spacy":
                import spacy

                nlp = _CrfModel(d / "model.crfsuite", spacy.load(d / "spacy"))
            else:
                import spacy

                nlp = spacy.load(d)
                members = _vote_members(entry)
                if members:
                    nlp = _VoteModel([nlp, *(spacy.load(d / m) for m in members)])
            _MODELS[d.name] = nlp
    return nlp


def _vote_members(entry: dict) -> list[str]:
    """The seed-vote members of a model when voting is on (found by ``_index``, which
    keeps them only when every one is there); else none and the model runs alone."""
    return entry["vote_members"] if _VOTE else []


def preload(languages: list[str] | None = None) -> None:
    """Load the models for ``languages`` (default: all) into the module cache. Idempotent;
    call it in the worker's parent process before forking so children share the pages."""
    idx = _index()
    wanted = idx if languages is None else [_normalise_language(l) for l in languages]
    for lang in wanted:
        if lang in idx:
            _load(idx[lang])


def _model_for(language: str | None):
    lang = _normalise_language(language)
    idx = _index()
    if lang is None or lang not in idx:
        langs = ", ".join(sorted(idx)) or "none"
        what = "no language was given or detected" if lang is None else f"no entity model for language {lang!r}"
        raise NoModelForLanguage(
            f"Entities skipped: {what}. Entity models exist for: {langs}.",
            details={"language": lang, "available_languages": sorted(idx)},
        )
    entry = idx[lang]
    return lang, entry, _load(entry)


# --------------------------------------------------------------------------- chunking

_SENT_END = re.compile(r"[.!?؟。\u06d4]\s")


def _chunks(text: str) -> Iterable[tuple[int, str]]:
    """(offset, chunk) pairs covering every non-blank line of ``text``."""
    pos = 0
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos)
        end = n if nl == -1 else nl
        line_start = pos
        while end - line_start > _MAX_CHUNK:
            window = text[line_start : line_start + _MAX_CHUNK]
            cut = -1
            for m in _SENT_END.finditer(window):
                cut = m.end()
            if cut < _MAX_CHUNK // 4:
                ws = max(window.rfind(" "), window.rfind("\t"))
                cut = ws + 1 if ws > 0 else _MAX_CHUNK
            piece = text[line_start : line_start + cut]
            if piece.strip():
                yield line_start, piece
            line_start += cut
        piece = text[line_start:end]
        if piece.strip():
            yield line_start, piece
        pos = end + 1


# --------------------------------------------------------------------------- decoding


_PROPAGATE = os.environ.get("DOCENRICH_NER_PROPAGATE", "1") == "1"
_PROPAGATE_MIN_SCORE = 0.7
_PROPAGATE_DISCOUNT = 0.8


def _propagate(chunks: list[str], results: list[list[tuple[int, int, str, float]]]) -> None:
    """Document-level consistency for the Arabic models: a word sequence tagged with
    confidence elsewhere in the same document is tagged again where the model missed it
    (same proclitic-stripped stems; score discounted). Everything comes from the model's
    own predictions on this document."""
    known: dict[tuple[str, ...], tuple[str, float]] = {}
    tok_cache = []
    for chunk, ents in zip(chunks, results):
        toks = arabic.tokenize_spans(chunk)
        stems = [arabic.feature_stem(chunk[a:b]) for a, b in toks]
        tok_cache.append((toks, stems))
        starts = {a: i for i, (a, _) in enumerate(toks)}
        ends = {b: i for i, (_, b) in enumerate(toks)}
        for s, e, lab, sc in ents:
            if sc < _PROPAGATE_MIN_SCORE or s not in starts or e not in ends:
                continue
            key = tuple(stems[starts[s] : ends[e] + 1])
            if not key or sum(len(k) for k in key) < 3:
                continue
            if key not in known or known[key][1] < sc:
                known[key] = (lab, sc)
    if not known:
        return
    max_len = max(len(k) for k in known)
    for (toks, stems), ents in zip(tok_cache, results):
        taken = [False] * len(toks)
        tok_index = {a: i for i, (a, _) in enumerate(toks)}
        for s, e, _, _ in ents:
            i = tok_index.get(s)
            while i is not None and i < len(toks) and toks[i][0] < e:
                taken[i] = True
                i += 1
        added = []
        i = 0
        while i < len(toks):
            hit = None
            for n in range(min(max_len, len(toks) - i), 0, -1):
                key = tuple(stems[i : i + n])
                if key in known and not any(taken[i : i + n]):
                    hit = (n, known[key])
                    break
            if hit:
                n, (lab, sc) = hit
                added.append((toks[i][0], toks[i + n - 1][1], lab, sc * _PROPAGATE_DISCOUNT))
                i += n
            else:
                i += 1
        if added:
            ents.extend(added)
            ents.sort()


# A helper (spaCy) mention that overlaps CRF mentions replaces them when its score beats
# each of theirs by this much: the more confident model wins a conflict. ANERcorp dev
# ensemble F1 before propagation: helper only fills gaps 0.696; margin 0.05-0.3 0.706-0.707;
# 0.5 0.698 (training/ner/README.md).
_HELPER_MARGIN = 0.2


def _merge_helper(res: list[tuple[int, int, str, float]], extra: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """The CRF's mentions ``res`` with the helper's ``extra`` merged in: a helper mention
    is added where it overlaps nothing, and replaces the mentions it overlaps when its
    score beats each of theirs by more than _HELPER_MARGIN."""
    out = list(res)
    for x in extra:
        overlapped = [y for y in out if x[0] < y[1] and y[0] < x[1]]
        if all(x[3] > y[3] + _HELPER_MARGIN for y in overlapped):
            out = [y for y in out if y not in overlapped] + [x]
    return sorted(out)


class _VoteModel:
    """spaCy NER models of one language trained alike from different random seeds: a
    mention stands when most members predict it (same span, same label). Its score is
    the members' mean, a member that missed it counting 0. Majority mentions never
    overlap (two overlapping ones would need a member predicting both)."""

    def __init__(self, members: list):
        self.members = members

    def vote(self, per_member: list[list[tuple[int, int, str, float]]]) -> list[tuple[int, int, str, float]]:
        scores: dict[tuple[int, int, str], list[float]] = {}
        for ents in per_member:
            for s, e, label, score in ents:
                scores.setdefault((s, e, label), []).append(score)
        need = len(self.members) // 2 + 1
        return sorted((*k, sum(v) / len(self.members)) for k, v in scores.items() if len(v) >= need)


def _run(nlp, chunks: list[str]) -> list[list[tuple[int, int, str, float]]]:
    """Token-level NER over the chunks: (start_char, end_char, label, score) per chunk."""
    if isinstance(nlp, EncoderTagger):
        results = nlp.run(chunks)
        if _PROPAGATE and nlp.arabic_words:
            _propagate(chunks, results)
        return results
    if isinstance(nlp, _VoteModel):
        runs = [_run(m, chunks) for m in nlp.members]
        return [nlp.vote(list(per_chunk)) for per_chunk in zip(*runs)]
    if isinstance(nlp, _CrfModel):
        results = [nlp.spans(c) for c in chunks]
        if nlp.helper is not None:
            results = [_merge_helper(res, extra) for res, extra in zip(results, _run(nlp.helper, chunks))]
        if _PROPAGATE:
            _propagate(chunks, results)
        return results
    ner = nlp.get_pipe("ner")
    out: list[list[tuple[int, int, str, float]]] = []
    for i in range(0, len(chunks), _PIPE_BATCH):
        docs = [nlp.make_doc(c) for c in chunks[i : i + _PIPE_BATCH]]
        nonempty = [d for d in docs if len(d)]
        step_probs = _greedy_parse_with_probs(ner, nonempty) if nonempty else {}
        for d in docs:
            probs = step_probs.get(id(d))
            ents = []
            for e in d.ents:
                if e.label_ not in LABELS:
                    continue
                sc = min(probs[e.start : e.end]) if probs and len(probs) >= e.end else 0.0
                ents.append((e.start_char, e.end_char, e.label_, float(sc)))
            out.append(ents)
    return out


_MASKS: dict[int, dict] = {}  # id(ner component) -> transition masks (components live as long as the cache)


def _move_masks(ner) -> dict:
    """Boolean masks over the NER transitions for the structural states of BILUO
    decoding (no entity open / entity X open; last token or not)."""
    import numpy

    moves = ner.moves
    names = [moves.get_class_name(i) for i in range(moves.n_moves)]
    kind = [n.split("-", 1)[0] if "-" in n else n for n in names]
    label = [n.split("-", 1)[1] if "-" in n else "" for n in names]
    n = len(names)

    def mask(pred):
        return numpy.array([pred(kind[i], label[i]) for i in range(n)], dtype=bool)

    masks = {
        ("closed", False): mask(lambda k, l: (k in ("B", "U") and l) or k == "O"),
        ("closed", True): mask(lambda k, l: (k == "U" and l) or k == "O"),
    }
    for lab in {l for l in label if l}:
        masks[(lab, False)] = mask(lambda k, l, lab=lab: k in ("I", "L") and l == lab)
        masks[(lab, True)] = mask(lambda k, l, lab=lab: k == "L" and l == lab)
    return {"names": names, "masks": masks}


def _greedy_parse_with_probs(ner, docs) -> dict[int, list[float]]:
    """spaCy's greedy NER decoding, step by step in Python so the action scores can be
    kept: sets ``doc.ents`` exactly as ``ner(doc)`` would (spaCy itself picks each
    transition) and returns, per doc, the softmax probability of the best transition
    allowed by the BILUO structure at each token (NER transitions consume one token
    each). The structural mask ignores spaCy's rarer constraints (sentence starts,
    preset entities), which can only make the score slightly conservative."""
    import numpy

    info = _MASKS.get(id(ner))
    if info is None:
        info = _MASKS[id(ner)] = _move_masks(ner)
    names, masks = info["names"], info["masks"]
    batch = ner.moves.init_batch(docs)
    step_model = ner.model.predict(docs)
    state_doc = {id(st): id(doc) for st, doc in zip(batch, docs)}
    probs: dict[int, list[float]] = {id(doc): [] for doc in docs}
    open_label: dict[int, str] = {}
    states = [st for st in batch if not st.is_final()]
    while states:
        scores = numpy.ascontiguousarray(step_model.predict(states), dtype="float32")
        keys = []
        for st in states:
            last = st.buffer_length() < 2
            keys.append((open_label.get(id(st), "closed") if st.entity_is_open() else "closed", last))
        m = numpy.stack([masks.get(k, masks[("closed", k[1])]) for k in keys])
        sc = numpy.where(m, scores, -numpy.inf)
        sc -= sc.max(axis=1, keepdims=True)
        ex = numpy.exp(sc)
        p = ex.max(axis=1) / ex.sum(axis=1)
        best = sc.argmax(axis=1)
        for row, st in enumerate(states):
            probs[state_doc[id(st)]].append(float(p[row]))
            name = names[best[row]]
            if name.startswith("B-"):
                open_label[id(st)] = name[2:]
        states = ner.transition_states(states, scores)
    step_model.clear_memory()
    ner.set_annotations(docs, batch)
    return probs


_PAIRS = {"(": ")", "[": "]", "«": "»", "“": "”", "‘": "’"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop edge whitespace, edge pieces that are punctuation only (a separate "·" or
    "-" swallowed by a mention), and unbalanced quotes/brackets at a span's edges
    (balanced ones, as in "Foo (Bar)", stay; "Inc." or "U.S." stay)."""
    changed = True
    while changed and start < end:
        changed = False
        span = text[start:end]
        first, _, rest = span.partition(" ")
        if rest and not any(c.isalnum() for c in first):
            start += len(first) + 1
            changed = True
            continue
        head, _, last = span.rpartition(" ")
        if head and not any(c.isalnum() for c in last):
            end -= len(last) + 1
            changed = True
            continue
        if text[start].isspace() or text[start] == '"' or (
            text[start] in _PAIRS and _PAIRS[text[start]] not in text[start + 1 : end]
        ) or text[start] in _CLOSERS:
            start += 1
            changed = True
        elif text[end - 1].isspace() or text[end - 1] == '"' or (
            text[end - 1] in _CLOSERS and _CLOSERS[text[end - 1]] not in text[start : end - 1]
        ) or text[end - 1] in _PAIRS:
            end -= 1
            changed = True
    return start, end


# --------------------------------------------------------------------------- grouping


def _latin_key(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = re.sub(r"[’`´]", "'", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def _arabic_key_words(s: str) -> list[str]:
    return [w for w in re.split(r"\s+", arabic.normalize(s)) if w]


def _group(text: str, mentions: list[dict], lang: str) -> list[dict]:
    if lang == "ar":
        # Mention-initial words seen without any proclitic somewhere in the document
        # attest the bare form (so "وإيران" joins "إيران", but "وايت" keeps its waw).
        bare_first = set()
        normed = []
        for m in mentions:
            words = _arabic_key_words(m["text"])
            normed.append(words)
            if words:
                bare_first.add(arabic.strip_article_clitics(words[0]))
        keys = []
        for words in normed:
            if not words:
                keys.append("")
                continue
            first = arabic.strip_article_clitics(words[0])
            if first == words[0]:
                for cand in arabic.proclitic_candidates(first):
                    cand2 = arabic.strip_article_clitics(cand)
                    if cand in bare_first or (cand2 != cand and cand2 in bare_first):
                        first = cand if cand in bare_first else cand2
                        break
            keys.append(" ".join([first] + words[1:]))
    else:
        keys = [_latin_key(m["text"]) for m in mentions]

    # A one-word person mention ("Pompeo", "إسبر") joins the only longer person name in
    # the document that ends with that word ("Mike Pompeo", "مارك إسبر").
    full_names = {k for k, m in zip(keys, mentions) if m["label"] == "PER" and " " in k}
    for i, (k, m) in enumerate(zip(keys, mentions)):
        if m["label"] == "PER" and k and " " not in k:
            owners = [f for f in full_names if re.split(r"[\s.]+", f)[-1] == k]
            if len(owners) == 1:
                keys[i] = owners[0]

    groups: dict[tuple[str, str], dict] = {}
    for m, key in zip(mentions, keys):
        k = (key, m["label"])
        g = groups.get(k)
        if g is None:
            g = groups[k] = {"text": key, "label": m["label"], "count": 0, "mentions": []}
        g["count"] += 1
        g["mentions"].append([m["start"], m["end"]])
    return sorted(groups.values(), key=lambda g: (-g["count"], g["mentions"][0][0]))


# --------------------------------------------------------------------------- public API


def _name(entry: dict) -> str:
    meta = entry["meta"]
    alone = "" if _vote_members(entry) or not (meta.get("docenrich") or {}).get("vote_members") else "-single"
    return f"{meta['name']}-{meta['version']}{alone}"


def model_name(language: str) -> str:
    _, entry, _ = _model_for(language)
    return _name(entry)


def extract_entities(text: str, language: str | None) -> dict:
    """Entities of ``text`` with the model for ``language`` (ISO 639-1).

    Raises NoModelForLanguage when ``language`` is None or has no model."""
    lang, entry, nlp = _model_for(language)
    pieces = list(_chunks(text))
    results = _run(nlp, [p for _, p in pieces]) if pieces else []
    mentions: list[dict] = []
    for (offset, _), ents in zip(pieces, results):
        for s, e, label, score in ents:
            s, e = _trim(text, offset + s, offset + e)
            if e <= s:
                continue
            mentions.append({"text": text[s:e], "label": label, "start": s, "end": e, "score": round(score, 4)})
    mentions.sort(key=lambda m: (m["start"], m["end"]))
    return {
        "model": _name(entry),
        "language": lang,
        "entities": mentions,
        "groups": _group(text, mentions, lang),
    }
