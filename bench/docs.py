"""Benchmark documents built at run time from real text (nothing is copied into the repo).

* ``seed``: the seed article (``seeds/000_53360ea83f30db1c.txt``), Arabic, ~2.2 K chars.
* ``ar-10k`` / ``ar-100k`` / ``ar-1m``: XL-Sum Arabic dev articles, concatenated in a
  fixed shuffled order (cycling when the set runs out) and cut at a word boundary to
  10,000 / 100,000 / 1,000,000 code points. Sizes are in code points (Python ``len``),
  the unit ``DOCENRICH_MAX_TEXT_CHARS`` limits; 1 M Arabic code points is ~1.8 MB of UTF-8.
* ``en-*``: the same from CNN/DailyMail English dev articles.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "000_53360ea83f30db1c.txt"
DATA = Path(os.environ.get("DOCENRICH_BENCH_DATA", REPO.parent / "shared" / "data"))
SOURCES = {
    "ar": DATA / "summarization" / "xlsum_ar_dev.jsonl",
    "en": DATA / "summarization" / "cnndm_en_dev.jsonl",
}
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


@dataclass(frozen=True)
class Doc:
    name: str
    text: str
    language: str  # the language the text is in (for reporting; engines detect it)

    @property
    def chars(self) -> int:
        return len(self.text)

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def utf8_bytes(self) -> int:
        return len(self.text.encode("utf-8"))


def _articles(lang: str) -> list[str]:
    path = SOURCES[lang]
    if not path.is_file():
        raise SystemExit(
            f"bench: {path} not found; the benchmark builds its documents from the shared data "
            "(set DOCENRICH_BENCH_DATA to the folder holding summarization/)."
        )
    texts = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            text = (json.loads(line).get("text") or "").strip()
            if text:
                texts.append(text)
    return texts


def build(lang: str, chars: int) -> str:
    """Whole articles separated by blank lines until ``chars`` code points, cut at a space."""
    articles = _articles(lang)
    rng = random.Random(f"docenrich-bench-{lang}")
    parts: list[str] = []
    total = 0
    while total < chars:
        order = articles[:]
        rng.shuffle(order)
        for article in order:
            parts.append(article)
            total += len(article) + 2
            if total >= chars:
                break
    text = "\n\n".join(parts)[:chars]
    cut = text.rfind(" ")
    return text[:cut] if cut > chars * 0.99 else text


def seed() -> Doc:
    return Doc("seed", SEED.read_text(encoding="utf-8"), "ar")


def documents(names: list[str]) -> list[Doc]:
    out = []
    for name in names:
        if name == "seed":
            out.append(seed())
            continue
        lang, _, size = name.partition("-")
        out.append(Doc(name, build(lang, SIZES[size]), lang))
    return out
