"""Entity tagger on a small pretrained transformer encoder, run with ONNX Runtime.

The model (``training/ner/encoder.py``) is a 6-layer BERT encoder fine-tuned to tag
each word with IOB2 labels from its first word piece. The encoder is uncased, so every
word piece also gets a learned embedding of its word's case (``case_id``): names are
told from common words by their capitals as well as by their context.

At run time there is no torch: ``model.onnx`` (weights quantized to int8 per channel,
loaded unsigned where the CPU's signed kernel would saturate: ``int8_weights``)
runs on ONNX Runtime with one thread, and ``tokenizer.json`` on the Rust ``tokenizers``
library. Words come from spaCy's rule-based tokenizer for the language (the convention
of the CoNLL-style training data), or for a model whose meta.json says ``"words":
"arabic"`` from ``arabic.tokenize_spans`` (ANERcorp's convention); offsets are those words':
exact code-point offsets into the chunk. A window is a sentence (cut after . ! ? ؟) of at most
``_MAX_WORDS`` words and ``max_pieces`` word pieces, as the model saw in training. A model
whose meta.json sets ``pack_words`` was trained on consecutive sentences packed into one
window of at most that many words; its windows are packed the same way, across the lines
of a document, so that each sentence is read with its neighbours as context (a mention
never runs from one line into the next).

Score of a mention: the lowest softmax probability, over its words, of the label the
model chose for that word.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import arabic, int8_weights

# sentence-final tokens (Latin and Arabic script); the Arabic CRF in entities.py cuts at them too
SENT_END = {".", "!", "?", "؟", "۔"}
_MAX_WORDS = 100
_BATCH = 32
# The cost of one ONNX Runtime call, in the time of one word piece: a fixed part, then each row
# padded to the batch's longest window of L pieces costs L * (1 + L / _ATTENTION) (attention's
# query x key work grows with L). Chosen by replaying the batches of the dev sets (ANERcorp,
# CoNLL-2003 en, CoNLL-2002 es, WikiNEuRal ru): Arabic's long packed windows 13-15 % more words
# per second than with a 25 % padding cap per batch, the others within 2 % (training/ner/README.md).
_CALL = 25
_ATTENTION = 250
# At most this many attention scores (rows x L x L) a batch: past it a batch's tensors leave the
# caches, and a 1,000,000-character Arabic document (thousands of long windows, batches of 32
# otherwise) ran 23 % slower; the dev sets' ten-sentence documents score and run the same with it.
_SCORES = 2 * 256 * 256

# word-case classes embedded next to the word pieces (0 = [CLS]/[SEP]/padding)
CASE_CLASSES = 6


def case_id(word: str) -> int:
    if len(word) > 1 and word.isupper():
        return 1
    if word[:1].isupper():
        return 2
    if any(c.isdigit() for c in word):
        return 3
    if word.islower():
        return 4
    return 5


def encode_words(tokenizer, words: list[str]) -> tuple[list[int], list[int], list[int | None]]:
    """Word pieces of ``words`` (with [CLS]/[SEP]), their case classes and word indices;
    training/ner/encoder.py encodes its sentences with this too, so both sides agree."""
    e = tokenizer.encode(words, is_pretokenized=True)
    wid = e.word_ids
    return e.ids, [0 if w is None else case_id(words[w]) for w in wid], wid


def join_hyphens(toks: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """spaCy's tokenizers split a hyphen between letters off (``Нью-Йорке`` -> ``Нью - Йорке``,
    ``AT-X``); CoNLL and WikiNEuRal, whose words the encoder models learn, keep such a word
    whole, and so does a mention of it. Joins word, ``-``, word back into one word when
    nothing separates them (on the dev sets: Russian sentences split unlike the gold data
    177 -> 9 of 1,000, CoNLL-2003 English 328 -> 78)."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(toks):
        s, e, w = toks[i]
        if (w == "-" and out and i + 1 < len(toks) and out[-1][1] == s and toks[i + 1][0] == e
                and out[-1][2][-1].isalnum() and toks[i + 1][2][0].isalnum()):
            start, _, left = out.pop()  # the three are contiguous: the word is their concatenation
            out.append((start, toks[i + 1][1], left + "-" + toks[i + 1][2]))
            i += 2
            continue
        out.append(toks[i])
        i += 1
    return out


def windows(toks: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """Words cut into sentences (after a run of sentence-final tokens) of at most ``_MAX_WORDS``."""
    out, cur = [], []
    for i, tok in enumerate(toks):
        cur.append(tok)
        nxt = toks[i + 1][2] if i + 1 < len(toks) else ""
        if (tok[2] in SENT_END and nxt not in SENT_END) or len(cur) >= _MAX_WORDS:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def pack(wins: list[list], words: int) -> list[list]:
    """Consecutive windows joined while the joined window holds at most ``words`` words
    (``words`` 0: unchanged)."""
    out: list[list] = []
    for win in wins:
        if words and out and len(out[-1]) + len(win) <= words:
            out[-1].extend(win)
        else:
            out.append(list(win))
    return out


def _batches(items: list) -> list[list]:
    """Windows sorted by length, cut into the batches that cost least in all (see _CALL; at
    most _BATCH rows and _SCORES attention scores each): a short window padded to a long one's
    length costs as much as the long one, and every batch costs a call. Dynamic programming
    over the cut points."""
    n = len(items)
    best, cut = [0.0] + [math.inf] * n, [0] * (n + 1)
    for j in range(1, n + 1):
        pieces = len(items[j - 1][1][0])  # the longest of items[i:j]
        row = pieces * (1 + pieces / _ATTENTION)
        rows = max(1, min(_BATCH, _SCORES // (pieces * pieces)))
        for i in range(max(0, j - rows), j):
            cost = best[i] + _CALL + (j - i) * row
            if cost < best[j]:
                best[j], cut[j] = cost, i
    out, j = [], n
    while j:
        out.append(items[cut[j] : j])
        j = cut[j]
    return out[::-1]


class EncoderTagger:
    """Loads ``model.onnx``, ``tokenizer.json`` and ``meta.json`` from ``path``."""

    def __init__(self, path: Path):
        import onnxruntime as ort
        import spacy
        from tokenizers import Tokenizer

        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        enc = meta["encoder"]
        self._set_labels(enc["labels"])
        self.max_pieces: int = enc["max_pieces"]
        self.pack_words: int = enc.get("pack_words", 0)
        opts = ort.SessionOptions()
        # One thread: a worker process is one core's worth of work (scale with processes).
        # The session is made in the worker's parent (preload) and its pages are shared by
        # the forked pool children, which run it fine. But onnxruntime starts a helper
        # thread on import, and a forked child that ends with a normal interpreter exit
        # hangs in its teardown (waiting on that thread, which the child does not have):
        # children must leave with os._exit, as billiard's (Celery's prefork pool) and
        # multiprocessing's fork children do.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        # No memory arena: ONNX Runtime's arena keeps its peak (a batch of long windows) for
        # the life of the process; without it the memory goes back to malloc, and the worker's
        # trim_heap (after a large document) returns it to the OS. A child's USS after a
        # 300,000-character Arabic document and trim_heap: 185 -> 102 MB, same CPU time.
        opts.enable_cpu_mem_arena = False
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # signed int8 weights, or the same values unsigned on a CPU whose U8S8 kernel saturates
        with int8_weights.model_file(path / "model.onnx") as (model_file, self.int8_weights):
            self.session = ort.InferenceSession(model_file, opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        # The words the model was trained on: CoNLL-style corpora are split like spaCy's
        # rule-based tokenizer; ANERcorp (Arabic) on whitespace and punctuation, with
        # proclitics left on their words, as arabic.tokenize_spans does.
        self.arabic_words = enc.get("words") == "arabic"
        if self.arabic_words:
            self._split = lambda chunk: [(s, e, chunk[s:e]) for s, e in arabic.tokenize_spans(chunk)]
        else:
            nlp = spacy.blank(meta["lang"])
            self._split = lambda chunk: join_hyphens(
                [(t.idx, t.idx + len(t.text), t.text) for t in nlp.make_doc(chunk) if not t.is_space])

    def _set_labels(self, labels: list[str]) -> None:
        self.labels = labels
        self._o = labels.index("O")
        # _allowed[a, b]: label b may follow label a (an I-X only after B-X or I-X)
        self._allowed = np.array([[not b.startswith("I-") or a[2:] == b[2:] for b in labels] for a in labels])
        self._trans = np.where(self._allowed, 0.0, -np.inf)

    # ------------------------------------------------------------------ encoding

    def _windows(self, chunk: str) -> list[list[tuple[int, int, str]]]:
        return windows(self._split(chunk))

    def _fit(self, window: list[tuple[int, int, str]]) -> list[tuple[list[tuple[int, int, str]], tuple]]:
        """The window encoded, halved until it fits in ``max_pieces`` word pieces."""
        encoded = encode_words(self.tokenizer, [t[2] for t in window])
        if len(encoded[0]) <= self.max_pieces or len(window) == 1:
            if len(encoded[0]) > self.max_pieces:  # one word longer than the limit: its head
                encoded = tuple(x[: self.max_pieces - 1] + x[-1:] for x in encoded)
            return [(window, encoded)]
        half = len(window) // 2
        return self._fit(window[:half]) + self._fit(window[half:])

    # ------------------------------------------------------------------ tagging

    def run(self, chunks: list[str]) -> list[list[tuple[int, int, str, float]]]:
        """(start_char, end_char, label, score) per chunk."""
        # words as (start, end, text, chunk index); sentences packed across chunks if the model was so trained
        sents = [[(s, e, w, ci) for s, e, w in win] for ci, chunk in enumerate(chunks) for win in self._windows(chunk)]
        items = [it for window in pack(sents, self.pack_words) for it in self._fit(window)]  # (words, encoded)
        out: list[list[tuple[int, int, str, float]]] = [[] for _ in chunks]
        order = sorted(range(len(items)), key=lambda k: len(items[k][1][0]))
        for batch in _batches([items[k] for k in order]):
            n = len(batch[-1][1][0])
            ids = np.zeros((len(batch), n), np.int64)
            cases = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for r, (_, (pieces, case, _)) in enumerate(batch):
                ids[r, : len(pieces)] = pieces
                cases[r, : len(pieces)] = case
                mask[r, : len(pieces)] = 1
            probs = self.session.run(None, {"input_ids": ids, "case_ids": cases, "attention_mask": mask})[0]
            for r, (words, (_, _, wid)) in enumerate(batch):
                for s, e, label, score in self._decode_words(len(words), wid, probs[r], [t[3] for t in words]):
                    out[words[s][3]].append((words[s][0], words[e - 1][1], label, score))
        for ents in out:
            ents.sort()
        return out

    def _decode(self, words, wid, probs) -> list[tuple[int, int, str, float]]:
        """(start_char, end_char, label, score) of the mentions among ``words``."""
        return [(words[s][0], words[e - 1][1], label, score) for s, e, label, score in self._decode_words(len(words), wid, probs)]

    def _decode_words(self, n_words: int, wid, probs, parts=None) -> list[tuple[int, int, str, float]]:
        """IOB2 decoding of the first word piece's label distribution per word: the most
        probable label sequence in which every ``I-`` continues a mention of its label
        (Viterbi; when the per-word best labels already form such a sequence, they are it).
        (start word, end word, label, score) per mention; with ``parts`` (a part, here a
        line, per word), a mention ends where the part does."""
        dist = np.zeros((n_words, len(self.labels)), np.float32)
        dist[:, self._o] = 1.0  # a word with no piece: O
        prev = None
        for j, w in enumerate(wid):
            if w is not None and w != prev:
                dist[w] = probs[j]
            prev = w
        path = dist.argmax(1)
        if not self._allowed[np.r_[self._o, path[:-1]], path].all():
            path = self._viterbi(dist)
        tags = [(self.labels[k], float(dist[i, k])) for i, k in enumerate(path)]
        ents = []
        cur = None  # [start word, end word, label, score]
        for i, (tag, p) in enumerate(tags):
            same_part = parts is None or parts[i] == parts[i - 1]
            if tag != "O" and tag[2:] == (cur[2] if cur else None) and tag.startswith("I-") and same_part:
                cur[1] = i + 1
                cur[3] = min(cur[3], p)
                continue
            if cur:
                ents.append(cur)
            cur = [i, i + 1, tag[2:], p] if tag != "O" else None
        if cur:
            ents.append(cur)
        return [tuple(e) for e in ents]

    def _viterbi(self, dist: np.ndarray) -> np.ndarray:
        """The label sequence of highest probability among those where an ``I-X`` follows
        a ``B-X`` or ``I-X`` (the sentence starts after an ``O``)."""
        logp = np.log(np.maximum(dist, 1e-9))
        score = logp[0] + self._trans[self._o]
        back = np.zeros(dist.shape, np.int64)
        for i in range(1, len(dist)):
            cand = score[:, None] + self._trans
            back[i] = cand.argmax(0)
            score = cand[back[i], np.arange(len(score))] + logp[i]
        path = np.zeros(len(dist), np.int64)
        path[-1] = int(score.argmax())
        for i in range(len(dist) - 1, 0, -1):
            path[i - 1] = back[i, path[i]]
        return path
