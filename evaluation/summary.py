"""ROUGE evaluation of the extractive summarizer against lead baselines.

Run from the repo root::

    .venv/bin/python -m evaluation.summary [--data DIR] [--limit N] [--quiet] [--no-timing] [--no-write]

For every ``*.jsonl`` file in the summarization data directory (CNN/DailyMail English,
XL-Sum, HeSum) it scores Lead-1/2/3 and the summarizer at the same budgets (1, 2, 3
sentences) and at its default length, with ROUGE-1/2/L F1 (x100). The comparisons that
matter: Lead-3 on CNN/DailyMail, Lead-1 and Lead-2 on XL-Sum (and HeSum).

ROUGE is computed here (no nltk data, no stemming), on a language-neutral tokenisation:
NFKC, case-folded Unicode words (``\\w+``), Arabic diacritics and tatweel removed, Hebrew
points removed; Chinese and Japanese are scored on characters (every Han/Kana character
is a token; Latin and digit runs inside stay words). ROUGE-L is the LCS over the whole
summary token sequence (like ``rougeL`` of rouge-score, not the per-sentence ``rougeLsum``).

Each comparison also gets the mean per-document difference (ours - lead, average of
R1/R2/RL) with a 95% paired-bootstrap interval. Then the default summary is timed on
10 KB, 100 KB and 1 MB texts (concatenated dev articles: en, ar, zh).

Writes ``evaluation/results/summary.json`` and ``evaluation/results/summary.md``.
The data directory defaults to ``../shared/data/summarization`` next to the repo, or
``$DOCENRICH_SUMMARY_DATA``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from services.nlp.sentences import split_sentences
from services.nlp.summary import METHOD, default_sentence_count, summarize

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DOCENRICH_SUMMARY_DATA", REPO.parent / "shared" / "data" / "summarization"))
RESULTS = REPO / "evaluation" / "results"

_AR_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_HE_POINTS = re.compile("[\u0591-\u05c7]")
_CJK_CHAR = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_CJK_TOKEN_RE = re.compile(f"[{_CJK_CHAR}]|[^\\W{_CJK_CHAR}]+")
_WORD_RE = re.compile(r"\w+")
CHAR_LANGS = {"zh", "ja"}


def rouge_tokens(text: str, language: str | None) -> list[str]:
    s = unicodedata.normalize("NFKC", text).casefold()
    s = _HE_POINTS.sub("", _AR_DIACRITICS.sub("", s))
    if (language or "") in CHAR_LANGS:
        return _CJK_TOKEN_RE.findall(s)
    return _WORD_RE.findall(s)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, n_cand: int, n_ref: int) -> float:
    if overlap == 0 or n_cand == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_cand, overlap / n_ref
    return 2 * p * r / (p + r)


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge(candidate: list[str], reference: list[str]) -> dict[str, float]:
    out = {}
    for n in (1, 2):
        c, r = _ngrams(candidate, n), _ngrams(reference, n)
        out[f"rouge{n}"] = _f1(sum((c & r).values()), sum(c.values()), sum(r.values()))
    out["rougeL"] = _f1(_lcs(candidate, reference), len(candidate), len(reference))
    return out


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = ("rouge1", "rouge2", "rougeL")
    return {k: round(100 * sum(r[k] for r in rows) / max(1, len(rows)), 2) for k in keys}


def systems_for(text: str, language: str) -> dict[str, str]:
    spans = split_sentences(text, language)
    out = {}
    for k in (1, 2, 3):
        out[f"lead-{k}"] = " ".join(text[s:e] for s, e in spans[:k])
        out[f"{METHOD}@{k}"] = summarize(text, language, sentences=k)["text"]
    out[f"{METHOD}@default"] = summarize(text, language)["text"]
    return out


def evaluate_file(path: Path, limit: int | None, quiet: bool) -> dict:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit:
        rows = rows[:limit]
    scores: dict[str, list[dict[str, float]]] = {}
    same_as_lead: dict[str, list[bool]] = {}
    t0 = time.perf_counter()
    lang = rows[0]["lang"] if rows else ""
    for i, row in enumerate(rows, 1):
        language = row.get("lang")
        ref = rouge_tokens(row["summaries"][0], language)
        toks = {name: rouge_tokens(summary, language) for name, summary in systems_for(row["text"], language).items()}
        for name, t in toks.items():
            scores.setdefault(name, []).append(rouge(t, ref))
        for k in (1, 2, 3):
            same_as_lead.setdefault(str(k), []).append(toks[f"{METHOD}@{k}"] == toks[f"lead-{k}"])
        if not quiet and sys.stderr.isatty() and (i % 10 == 0 or i == len(rows)):
            print(f"\r  {path.stem}: {i}/{len(rows)} documents", end="", file=sys.stderr, flush=True)
    if not quiet:
        prefix = "\r" if sys.stderr.isatty() else ""
        print(f"{prefix}  {path.stem}: {len(rows)}/{len(rows)} documents "
              f"({time.perf_counter() - t0:.1f}s)", file=sys.stderr, flush=True)
    deltas = {}
    for k in (1, 2, 3):
        ours, lead = scores[f"{METHOD}@{k}"], scores[f"lead-{k}"]
        deltas[str(k)] = _bootstrap_delta(ours, lead)
    return {
        "dataset": path.stem,
        "language": lang,
        "documents": len(rows),
        "seconds": round(time.perf_counter() - t0, 2),
        "systems": {name: _mean(v) for name, v in scores.items()},
        "delta_vs_lead": deltas,
        "same_as_lead": {k: round(sum(v) / max(1, len(v)), 3) for k, v in same_as_lead.items()},
    }


def _bootstrap_delta(ours: list[dict[str, float]], lead: list[dict[str, float]], samples: int = 1000) -> dict:
    """Mean per-document difference (ours - lead) of the average of R1/R2/RL, x100,
    with a 95% paired-bootstrap interval (fixed seed)."""
    keys = ("rouge1", "rouge2", "rougeL")
    d = np.asarray([sum(o[k] - l[k] for k in keys) / 3 for o, l in zip(ours, lead)]) * 100
    if d.size == 0:
        return {"mean": 0.0, "ci95": [0.0, 0.0]}
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, d.size, size=(samples, d.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": round(float(d.mean()), 2), "ci95": [round(float(lo), 2), round(float(hi), 2)]}


def _comparisons(result: dict) -> list[int]:
    """Budgets that the acceptance criteria compare against."""
    name = result["dataset"]
    if name.startswith("cnndm"):
        return [3]
    return [1, 2]


def _beats(ours: dict, lead: dict) -> bool:
    return all(ours[k] > lead[k] for k in ("rouge1", "rouge2", "rougeL"))


def _fmt_delta(d: dict) -> str:
    return f"{d['mean']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"


def render_markdown(results: list[dict], timings: list[dict] | None = None) -> str:
    lines = [
        "# Summarization: ROUGE F1 (x100), extractive summarizer vs lead baselines",
        "",
        f"Method `{METHOD}`. Tokenisation: Unicode words, case-folded, Arabic diacritics "
        "removed, no stemming; zh/ja on characters. ROUGE-L = LCS over the whole summary.",
        "",
        "| dataset | docs | budget | Lead R1/R2/RL | ours R1/R2/RL | beats lead (all 3) | mean delta [95% CI] | same as lead |",
        "|---|---:|---:|---|---|---|---|---:|",
    ]
    for r in results:
        for k in _comparisons(r):
            lead, ours = r["systems"][f"lead-{k}"], r["systems"][f"{METHOD}@{k}"]
            lines.append(
                f"| {r['dataset']} | {r['documents']} | {k} | "
                f"{lead['rouge1']:.2f} / {lead['rouge2']:.2f} / {lead['rougeL']:.2f} | "
                f"{ours['rouge1']:.2f} / {ours['rouge2']:.2f} / {ours['rougeL']:.2f} | "
                f"{'yes' if _beats(ours, lead) else 'no'} | "
                f"{_fmt_delta(r['delta_vs_lead'][str(k)])} | "
                f"{100 * r.get('same_as_lead', {}).get(str(k), float('nan')):.0f}% |"
            )
    lines += [
        "",
        "Mean delta = per-document (ours - lead) of the average of R1/R2/RL, with a 95% "
        "paired-bootstrap interval; an interval that contains 0 is not a significant win. "
        "Same as lead = share of documents where the summary is exactly the lead sentences "
        "(the position prior is a lead bias that centrality has to overcome).",
    ]
    lines += ["", "## All systems", "", "| dataset | system | R1 | R2 | RL |", "|---|---|---:|---:|---:|"]
    for r in results:
        for name, s in r["systems"].items():
            lines.append(f"| {r['dataset']} | {name} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} |")
    if timings:
        lines += ["", "## Cost (single thread, default summary length)", "",
                  "| language | bytes | sentences | split s | summarize s |", "|---|---:|---:|---:|---:|"]
        for t in timings:
            lines.append(f"| {t['language']} | {t['bytes']:,} | {t['sentences']} | {t['split_seconds']:.3f} | "
                         f"{t['summarize_seconds']:.3f} |")
    return "\n".join(lines) + "\n"


def timing(data_dir: Path) -> list[dict]:
    """Wall time of segmentation and of the default summary on 10 KB, 100 KB and 1 MB
    texts built by concatenating dev articles (English, Arabic, Chinese)."""
    out = []
    for stem, lang in (("cnndm_en_dev", "en"), ("xlsum_ar_dev", "ar"), ("xlsum_zh_dev", "zh")):
        path = data_dir / f"{stem}.jsonl"
        if not path.exists():
            continue
        texts = [json.loads(x)["text"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        big = "\n\n".join(texts)
        while len(big.encode("utf-8")) < 1_000_000:
            big = big + "\n\n" + big
        for size in (10_000, 100_000, 1_000_000):
            text = big.encode("utf-8")[:size].decode("utf-8", "ignore")
            t0 = time.perf_counter()
            n = len(split_sentences(text, lang))
            t1 = time.perf_counter()
            result = summarize(text, lang)
            t2 = time.perf_counter()
            assert all(text[x["start"] : x["end"]] == x["text"] for x in result["sentences"])
            row = {"language": lang, "bytes": size, "chars": len(text), "sentences": n,
                   "split_seconds": round(t1 - t0, 3), "summarize_seconds": round(t2 - t1, 3),
                   "summary_sentences": len(result["sentences"])}
            print(f"  timing {lang} {size:>9,} bytes {n:>6} sentences: split {row['split_seconds']:.3f}s, "
                  f"summarize (incl. split) {row['summarize_seconds']:.3f}s", flush=True)
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory with *.jsonl files")
    ap.add_argument("--limit", type=int, default=None, help="documents per file (default: all)")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--no-write", action="store_true", help="do not write evaluation/results")
    ap.add_argument("--no-timing", action="store_true", help="skip the 10 KB / 100 KB / 1 MB timing")
    args = ap.parse_args(argv)
    files = sorted(args.data.glob("*.jsonl"))
    if not files:
        print(f"no *.jsonl files in {args.data}", file=sys.stderr)
        return 2
    results = []
    t0 = time.perf_counter()
    for path in files:
        results.append(evaluate_file(path, args.limit, args.quiet))
    print(f"{'dataset':<22} {'budget':>6}  {'lead R1/R2/RL':<22} {'ours R1/R2/RL':<22} beats  mean delta [95% CI]")
    wins = total = 0
    for r in results:
        for k in _comparisons(r):
            lead, ours = r["systems"][f"lead-{k}"], r["systems"][f"{METHOD}@{k}"]
            ok = _beats(ours, lead)
            wins += ok
            total += 1
            fmt = lambda s: f"{s['rouge1']:5.2f}/{s['rouge2']:5.2f}/{s['rougeL']:5.2f}"  # noqa: E731
            print(f"{r['dataset']:<22} {k:>6}  {fmt(lead):<22} {fmt(ours):<22} {'yes' if ok else 'NO ':<5}  "
                  f"{_fmt_delta(r['delta_vs_lead'][str(k)])}")
    print(f"beats the lead baseline on all of R1/R2/RL in {wins}/{total} comparisons "
          f"({time.perf_counter() - t0:.1f}s)")
    timings = [] if args.no_timing else timing(args.data)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        payload = {"method": METHOD, "results": results, "wins": wins, "comparisons": total,
                   "timing": timings}
        (RESULTS / "summary.json").write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "summary.md").write_text(render_markdown(results, timings), encoding="utf-8")
        print(f"wrote {RESULTS / 'summary.json'} and {RESULTS / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
