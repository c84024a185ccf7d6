"""Word clusters for the Arabic CRF, from the USE-m3 encoder's word vectors (see vectors.py).

A CRF cannot use a dense vector well, but it can use the vector's cluster: words of one
cluster (cities, given names, ministries...) share a feature, so a name seen in training
lends its weight to unseen names of its cluster. We cluster the most frequent Arabic words
(wordfreq) plus the training corpora's words with k-means at three granularities and ship
``clusters.json`` (feature form -> "c64|c256|c1024") next to the CRF model.

    .venv/bin/python -m training.ner.clusters --lang ar --train anercorp_ar_train

(train_crf.py builds them on first use when models.json gives the model a "clusters" entry.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy

from services.nlp import arabic
from training.ner.common import WORK
from training.ner.vectors import _corpus_words, _use_words, _wheel

SIZES = (64, 256, 1024)


def kmeans(x: numpy.ndarray, k: int, iters: int = 25, seed: int = 42) -> numpy.ndarray:
    """Lloyd's k-means on rows of ``x`` (k-means++ seeding on a sample); returns labels."""
    rng = numpy.random.default_rng(seed)
    sample = x[rng.choice(len(x), size=min(len(x), 20 * k), replace=False)]
    centers = [sample[rng.integers(len(sample))]]
    d2 = ((sample - centers[0]) ** 2).sum(1)
    for _ in range(k - 1):
        centers.append(sample[rng.choice(len(sample), p=d2 / d2.sum())])
        d2 = numpy.minimum(d2, ((sample - centers[-1]) ** 2).sum(1))
    c = numpy.stack(centers)
    sq = (x**2).sum(1)
    labels = numpy.zeros(len(x), dtype=numpy.int64)
    for it in range(iters):
        dist = sq[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
        new = dist.argmin(1)
        moved = int((new != labels).sum())
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(0)
        print(f"  k={k} iteration {it + 1}/{iters}: {moved:,} words moved", file=sys.stderr)
        if moved == 0:
            break
    return labels


def build(lang: str, train: list[str], top: int, out: Path) -> Path:
    words, mat, source = _use_words(lang, _wheel("use"), top, _corpus_words(train), encoder=True)
    mat = mat / (numpy.linalg.norm(mat, axis=1, keepdims=True) + 1e-9)
    mat -= mat.mean(0)
    _, _, vt = numpy.linalg.svd(mat[:: max(1, len(mat) // 20000)], full_matrices=False)
    x = (mat @ vt[:128].T).astype(numpy.float32)
    labels = [kmeans(x, k) for k in SIZES]
    table: dict[str, str] = {}
    for i, w in enumerate(words):
        key = arabic.feature_form(w)
        if key and key not in table:  # the most frequent spelling of a feature form wins
            table[key] = "|".join(str(int(lab[i])) for lab in labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"_source": source, "_sizes": list(SIZES), "clusters": table},
                              ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{len(table):,} feature forms -> {out}", file=sys.stderr)
    return out


def ensure(spec: dict, train: list[str]) -> Path:
    """The clusters a model entry asks for (``"clusters": {"lang", "top"}`` in models.json),
    built on first use."""
    out = WORK / "clusters" / f"{spec['lang']}_use-enc_{spec['top']}.json"
    return out if out.exists() else build(spec["lang"], train, spec["top"], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lang", default="ar")
    ap.add_argument("--train", nargs="*", default=["anercorp_ar_train"])
    ap.add_argument("--top", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=WORK / "clusters" / "ar_use-enc_100000.json")
    args = ap.parse_args()
    build(args.lang, args.train, args.top, args.out)


if __name__ == "__main__":
    main()
