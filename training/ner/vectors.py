"""Build a compact static-vectors table for a spaCy NER model from pretrained embeddings.

Only Russian has pretrained word embeddings installable offline here: Navec
(``navec_news_v1_1B_250K_300d_100q``, 250k lower-cased words, 300 dimensions, MIT), which
ships inside the ``natasha`` wheel. The full table is 300 MB as float32, so we keep the
``--top`` most frequent words (frequency from ``wordfreq``, which knows nothing of our dev
sets) and project them onto their first ``--dims`` principal components. The table is keyed
by the token's text in each casing, so "Москва" and "москва" share a row.

    pip download --no-deps natasha==1.6.0 -d /tmp/dl     # the wheel carries the table
    .venv/bin/pip install navec==0.10.0 wordfreq==3.1.1
    .venv/bin/python -m training.ner.vectors --lang ru --navec-wheel /tmp/dl/natasha-1.6.0-py3-none-any.whl

writes ``training/ner/.work/vectors/<lang>_navec_<dims>d_<top>/`` (a blank spaCy pipeline
holding only the vectors), which a config reads through ``paths.vectors``.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy

from training.ner.common import WORK

NAVEC_MEMBER = "natasha/data/emb/navec_news_v1_1B_250K_300d_100q.tar"


def _load_navec(wheel: Path):
    from navec import Navec

    tar = WORK / "vectors" / "navec.tar"  # Navec.load wants a file path
    tar.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        tar.write_bytes(zf.read(NAVEC_MEMBER))
    return Navec.load(str(tar))


def build(lang: str, wheel: Path, dims: int, top: int) -> Path:
    import spacy
    from spacy.vectors import Vectors
    from wordfreq import top_n_list

    navec = _load_navec(wheel)
    index = {w: i for i, w in enumerate(navec.vocab.words)}
    full = navec.pq.unpack()  # (250002, 300) float32
    print(f"navec: {len(index):,} words x {full.shape[1]} dims", file=sys.stderr)

    words: list[str] = []
    for w in top_n_list(lang, top * 3, wordlist="large"):
        if w in index:
            words.append(w)
            if len(words) >= top:
                break
    print(f"kept {len(words):,} of the most frequent {lang} words that navec knows", file=sys.stderr)

    mat = full[[index[w] for w in words]].astype(numpy.float64)
    mean = mat.mean(axis=0)
    _, s, vt = numpy.linalg.svd(mat - mean, full_matrices=False)
    proj = ((mat - mean) @ vt[:dims].T).astype(numpy.float32)
    kept_var = float((s[:dims] ** 2).sum() / (s**2).sum())
    print(f"PCA to {dims} dims keeps {kept_var:.1%} of the variance", file=sys.stderr)

    nlp = spacy.blank(lang)
    # spaCy keeps a default-mode table's key attribute (ORTH) on disk, not LOWER, so every
    # row gets the casings a token shows in text: "москва", "Москва", "МОСКВА".
    vectors = Vectors(strings=nlp.vocab.strings, shape=proj.shape, name=f"{lang}_navec_{dims}d")
    vectors.data[:] = proj
    n_keys = 0
    for row, w in enumerate(words):
        for form in dict.fromkeys((w, w.capitalize(), w.upper(), w.title())):
            vectors.add(nlp.vocab.strings.add(form), row=row)
            n_keys += 1
    nlp.vocab.vectors = vectors
    out = WORK / "vectors" / f"{lang}_navec_{dims}d_{top}"
    nlp.to_disk(out)
    (out / "docenrich_vectors.json").write_text(
        json.dumps({"source": "navec_news_v1_1B_250K_300d_100q (natasha 1.6.0 wheel, MIT)", "words": len(words),
                    "keys": n_keys, "dims": dims, "pca_variance_kept": round(kept_var, 4),
                    "word_choice": f"wordfreq 3.1.1 top_n_list({lang!r}, large) order"}, indent=1),
        encoding="utf-8")
    print(out)
    return out


NATASHA_WHEEL = "natasha-1.6.0-py3-none-any.whl"


def ensure(spec: dict) -> Path:
    """The vectors a model entry asks for (``"vectors": {"lang", "dims", "top"}`` in
    models.json), built on first use. The natasha wheel is fetched from PyPI into
    training/ner/.work/dl/ when it is not there yet (training only; nothing at run time)."""
    out = WORK / "vectors" / f"{spec['lang']}_navec_{spec['dims']}d_{spec['top']}"
    if (out / "docenrich_vectors.json").exists():
        return out
    wheel = WORK / "dl" / NATASHA_WHEEL
    if not wheel.exists():
        import subprocess

        print(f"fetching {NATASHA_WHEEL} (34 MB) from PyPI for its Navec table...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                        "natasha==1.6.0", "-d", str(wheel.parent)], check=True)
    return build(spec["lang"], wheel, spec["dims"], spec["top"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lang", default="ru")
    ap.add_argument("--navec-wheel", type=Path, required=True)
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--top", type=int, default=100_000)
    args = ap.parse_args()
    build(args.lang, args.navec_wheel, args.dims, args.top)


if __name__ == "__main__":
    main()
