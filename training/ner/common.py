"""Shared helpers for NER training and evaluation: corpus paths and TSV reading."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
DATA_DIR = Path(os.environ.get("DOCENRICH_NER_DATA", REPO.parent / "shared" / "data" / "ner"))
MODELS_DIR = REPO / "services" / "nlp" / "models" / "ner"
RUNS_LOG = HERE / "runs.log"


def load_specs() -> dict:
    specs = json.loads((HERE / "models.json").read_text(encoding="utf-8"))
    return {k: v for k, v in specs.items() if not k.startswith("_")}


def teacher_runs(distil: dict | None) -> list[str]:
    """The teacher runs (``<spec key>/run-<tag>`` under WORK) of a spec's ``distil``: one or a list."""
    if not distil:
        return []
    t = distil["teacher"]
    return [t] if isinstance(t, str) else list(t)


def member_dir(specs: dict, model: str) -> str:
    """The subdirectory a member model (``name`` ``<parent>/<dir>``) is exported to."""
    return specs[model]["name"].split("/", 1)[1]


def parse_corpus_ref(ref: str) -> tuple[str, int | None]:
    """``name`` or ``name:N`` (first N sentences)."""
    if ":" in ref:
        name, n = ref.split(":", 1)
        return name, int(n)
    return ref, None


def read_tsv(name: str, limit: int | None = None) -> list[list[tuple[str, str]]]:
    """Sentences of (token, IOB2 tag) from DATA_DIR/<name>.tsv."""
    path = DATA_DIR / f"{name}.tsv"
    sents: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    sents.append(cur)
                    cur = []
                    if limit and len(sents) >= limit:
                        break
                continue
            parts = line.split("\t")
            cur.append((parts[0], parts[-1]))
    if cur and not (limit and len(sents) >= limit):
        sents.append(cur)
    return sents


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Token spans (start, end exclusive, label) of IOB2 tags; an ``I-`` that does not
    continue an open entity of its label starts one."""
    spans: list[tuple[int, int, str]] = []
    open_ent: list | None = None
    for i, tag in enumerate(tags):
        if tag.startswith("B-") or (tag.startswith("I-") and (open_ent is None or open_ent[2] != tag[2:])):
            if open_ent:
                spans.append(tuple(open_ent))
            open_ent = [i, i + 1, tag[2:]]
        elif tag.startswith("I-"):
            open_ent[1] = i + 1
        else:
            if open_ent:
                spans.append(tuple(open_ent))
            open_ent = None
    if open_ent:
        spans.append(tuple(open_ent))
    return spans


def sentence_to_text(sent: list[tuple[str, str]], sep: str = " ") -> tuple[str, list[tuple[int, int, str]]]:
    """Join tokens with single spaces; return the text and gold (start, end, label) spans."""
    starts, ends = [], []
    pos = 0
    for i, (tok, _) in enumerate(sent):
        if i:
            pos += len(sep)
        starts.append(pos)
        pos += len(tok)
        ends.append(pos)
    text = sep.join(tok for tok, _ in sent)
    return text, [(starts[a], ends[b - 1], lab) for a, b, lab in bio_spans([tag for _, tag in sent])]
