"""Convert the shared NER TSV corpora into spaCy DocBin files under training/ner/.work/.

Each training doc is ``sentences_per_doc`` consecutive sentences joined by single spaces
(sentence boundaries are kept as ``is_sent_start``). Tokens are re-tokenized by the
model's own tokenizer at training time (``gold_preproc = false``), so the model learns
from the same tokenization it sees in production; spaCy aligns the gold spans.

    .venv/bin/python -m training.ner.convert --model ar
"""

from __future__ import annotations

import argparse

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .common import WORK, bio_spans, load_specs, parse_corpus_ref, read_tsv


def build_docs(refs: list[str], per_doc: int) -> list[Doc]:
    vocab = Vocab()
    docs = []
    for ref in refs:
        name, limit = parse_corpus_ref(ref)
        sents = read_tsv(name, limit)
        for i in range(0, len(sents), per_doc):
            group = sents[i : i + per_doc]
            words, spaces, starts, ents = [], [], [], []
            for sent in group:
                offset = len(words)
                for j, (tok, _) in enumerate(sent):
                    words.append(tok)
                    spaces.append(True)
                    starts.append(j == 0)
                ents.extend((offset + a, offset + b, lab) for a, b, lab in bio_spans([tag for _, tag in sent]))
            spaces[-1] = False
            doc = Doc(vocab, words=words, spaces=spaces, sent_starts=starts)
            doc.ents = [doc.char_span(doc[s].idx, doc[e - 1].idx + len(doc[e - 1]), label=l) for s, e, l in ents]
            docs.append(doc)
    return docs


def convert(model: str) -> dict:
    spec = load_specs()[model]
    out = WORK / model
    out.mkdir(parents=True, exist_ok=True)
    stats = {}
    for split, key in (("train", "train"), ("dev", "train_dev")):
        docs = build_docs(spec[key], spec.get("sentences_per_doc", 10))
        DocBin(docs=docs, attrs=["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"]).to_disk(out / f"{split}.spacy")
        stats[split] = {"docs": len(docs), "tokens": sum(len(d) for d in docs), "ents": sum(len(d.ents) for d in docs)}
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model key in models.json (repeatable; default all)")
    args = ap.parse_args()
    for m in args.model or list(load_specs()):
        print(m, convert(m))


if __name__ == "__main__":
    main()
