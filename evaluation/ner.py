"""Dev-set evaluation of the entity engine (the public ``extract_entities`` API, end to end).

    .venv/bin/python -m evaluation.ner [--lang ar --lang en ...] [--limit N]

For every dev corpus of a language, sentences (tokens joined by single spaces) are
grouped ten to a document, one sentence per line, and each document goes through
``services.nlp.entities.extract_entities`` exactly as the worker calls it. A predicted
mention counts as correct only if its label and its exact code-point span match a gold
entity. Prints precision/recall/F1 per corpus, per language and per label, words/second
(whitespace tokens of the gold data / wall time of extract_entities, single thread), and
the resident memory of this process with every model loaded. Writes
evaluation/results/ner.json and evaluation/results/ner.md.

Dev corpora live in ../shared/data/ner (DOCENRICH_NER_DATA overrides). The "primary"
sets are the ones the targets refer to; WikiANN rows are extra, out-of-domain silver data
without MISC (MISC predictions are ignored for them).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402

# The service never uses torch, but when the `train` extra is installed (make train-ner),
# thinc imports it as spaCy loads (+230 MB RSS): hide it, so the memory figure is the
# service's own.
sys.modules.setdefault("torch", None)  # type: ignore[arg-type]

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

from services.nlp import entities, int8_weights  # noqa: E402
from training.ner.common import DATA_DIR, read_tsv, sentence_to_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

# language -> (primary dev corpora, extra dev corpora)
DEV_SETS: dict[str, tuple[list[str], list[str]]] = {
    "ar": (["anercorp_ar_dev"], ["aqmar_ar_dev"]),
    "en": (["conll2003_en_dev", "wikineural_en_dev"], ["wikiann_en_dev"]),
    "de": (["wikineural_de_dev"], ["wikiann_de_dev"]),
    "es": (["conll2002_es_dev", "wikineural_es_dev"], ["wikiann_es_dev"]),
    "fr": (["wikineural_fr_dev"], ["wikiann_fr_dev"]),
    "it": (["wikineural_it_dev"], []),
    "nl": (["conll2002_nl_dev", "wikineural_nl_dev"], ["wikiann_nl_dev"]),
    "pl": (["wikineural_pl_dev"], ["wikiann_pl_dev"]),
    "pt": (["wikineural_pt_dev"], ["wikiann_pt_dev"]),
    "ru": (["wikineural_ru_dev"], ["wikiann_ru_dev"]),
}
TARGETS = {"ar": 0.78, "en": 0.88}
DEFAULT_TARGET = 0.82
SENTS_PER_DOC = 10


class Counts:
    def __init__(self) -> None:
        self.tp = defaultdict(int)
        self.fp = defaultdict(int)
        self.fn = defaultdict(int)

    def add(self, other: "Counts") -> None:
        for k in ("tp", "fp", "fn"):
            for lab, v in getattr(other, k).items():
                getattr(self, k)[lab] += v

    def prf(self, label: str | None = None) -> dict:
        if label is None:
            tp, fp, fn = sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values())
        else:
            tp, fp, fn = self.tp[label], self.fp[label], self.fn[label]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"p": round(p, 4), "r": round(r, 4), "f": round(f, 4), "tp": tp, "fp": fp, "fn": fn}

    def table(self) -> dict:
        labels = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return {"micro": self.prf(), "per_label": {lab: self.prf(lab) for lab in labels}}


def build_docs(corpus: str, limit: int | None) -> list[tuple[str, list[tuple[int, int, str]], int]]:
    sents = read_tsv(corpus, limit)
    docs = []
    for i in range(0, len(sents), SENTS_PER_DOC):
        text_parts, gold, words, pos = [], [], 0, 0
        for sent in sents[i : i + SENTS_PER_DOC]:
            t, spans = sentence_to_text(sent)
            if text_parts:
                text_parts.append("\n")
                pos += 1
            gold.extend((s + pos, e + pos, lab) for s, e, lab in spans)
            text_parts.append(t)
            pos += len(t)
            words += len(sent)
        docs.append(("".join(text_parts), gold, words))
    return docs


def evaluate_corpus(corpus: str, lang: str, limit: int | None) -> dict:
    docs = build_docs(corpus, limit)
    no_misc = corpus.startswith("wikiann_")
    counts = Counts()
    words = 0
    elapsed = 0.0
    cpu = 0.0
    for text, gold, n_words in docs:
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = entities.extract_entities(text, lang)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        words += n_words
        pred = set()
        for m in res["entities"]:
            assert text[m["start"] : m["end"]] == m["text"], "offset mismatch"
            if no_misc and m["label"] == "MISC":
                continue
            pred.add((m["start"], m["end"], m["label"]))
        gold_set = set(gold)
        for s in pred & gold_set:
            counts.tp[s[2]] += 1
        for s in pred - gold_set:
            counts.fp[s[2]] += 1
        for s in gold_set - pred:
            counts.fn[s[2]] += 1
    out = counts.table()
    out.update({"corpus": corpus, "docs": len(docs), "words": words, "seconds": round(elapsed, 3),
                "cpu_seconds": round(cpu, 3),
                "words_per_second": round(words / elapsed) if elapsed else None,
                "words_per_cpu_second": round(words / cpu) if cpu else None})
    out["_counts"] = counts
    return out


def cpu_name() -> str | None:
    """The CPU's model name and whether it has VNNI (the encoders' speed and int8 kernel depend on it)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            name = next((l.partition(":")[2].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        return None
    flags = int8_weights.cpu_flags() or frozenset()
    vnni = sorted(flags & int8_weights.EXACT_FLAGS)
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return ", ".join(x for x in (name, simd, " ".join(vnni) if vnni else "no VNNI") if x)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lang", action="append", help="language(s) to evaluate (default: all with a model)")
    ap.add_argument("--limit", type=int, help="first N sentences per corpus (quick check)")
    ap.add_argument("--no-extra", action="store_true", help="skip the extra (out-of-domain) corpora")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--compare-shared", action="store_true",
                    help="also score the shared European model (docenrich_ner_eu) on every language it lists, "
                         "to compare with the per-language models; writes evaluation/results/ner_shared_vs_single.md")
    args = ap.parse_args()
    if args.compare_shared:
        compare_shared(args)
        return

    rss_before = rss_mb()
    t0 = time.perf_counter()
    entities.preload()
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    langs = args.lang or [l for l in DEV_SETS if l in entities.available_languages()]

    report: dict = {
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "cpu_threads": 1, "machine": platform.machine(),
                 "cpu": cpu_name(), "int8_weights": int8_weights.choice()},
        "data_dir": str(DATA_DIR),
        "memory": {"rss_mb_before_models": round(rss_before, 1), "rss_mb_all_models_loaded": round(rss_loaded, 1),
                   "load_seconds": round(load_s, 2)},
        "languages": {},
    }
    total_words = 0
    total_secs = 0.0
    total_cpu = 0.0
    for lang in langs:
        primary, extra = DEV_SETS[lang]
        model = entities.model_name(lang)
        lang_counts = Counts()
        corpora = []
        for corpus, is_primary in [(c, True) for c in primary] + ([] if args.no_extra else [(c, False) for c in extra]):
            if not (DATA_DIR / f"{corpus}.tsv").exists():
                continue
            r = evaluate_corpus(corpus, lang, args.limit)
            c = r.pop("_counts")
            r["primary"] = is_primary
            if is_primary:
                lang_counts.add(c)
                total_words += r["words"]
                total_secs += r["seconds"]
                total_cpu += r["cpu_seconds"]
            corpora.append(r)
        summary = lang_counts.table()
        target = TARGETS.get(lang, DEFAULT_TARGET)
        report["languages"][lang] = {
            "model": model,
            "target_f1": target,
            "primary": summary,
            "meets_target": summary["micro"]["f"] >= target,
            "corpora": corpora,
        }
        _print_lang(lang, report["languages"][lang])
    report["speed"] = {"words": total_words, "seconds": round(total_secs, 2), "cpu_seconds": round(total_cpu, 2),
                       "words_per_second": round(total_words / total_secs) if total_secs else None,
                       "words_per_cpu_second": round(total_words / total_cpu) if total_cpu else None,
                       "load_average": os.getloadavg()}
    report["memory"]["rss_mb_after_eval"] = round(rss_mb(), 1)
    print(f"\nspeed: {report['speed']['words_per_cpu_second']} words per CPU-second (= per core, 1 thread), "
          f"{report['speed']['words_per_second']} words/s wall clock (load average {os.getloadavg()[0]:.1f}) "
          f"over {total_words} words of the primary sets")
    print(f"memory: RSS {report['memory']['rss_mb_all_models_loaded']:.0f} MB with all models loaded "
          f"({report['memory']['rss_mb_before_models']:.0f} MB before), "
          f"{report['memory']['rss_mb_after_eval']:.0f} MB after evaluation")
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ner.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "ner.md").write_text(to_markdown(report), encoding="utf-8")
        print(f"wrote {RESULTS / 'ner.json'} and {RESULTS / 'ner.md'}")


def compare_shared(args) -> None:
    idx = entities._index()
    shared_dir = entities.MODELS_DIR / "docenrich_ner_eu"
    shared_meta = json.loads((shared_dir / "meta.json").read_text(encoding="utf-8"))
    rows = []
    for lang in shared_meta["docenrich"]["languages"]:
        routed = idx.get(lang)
        scores = {}
        for label, entry in (("shared", {"dir": shared_dir, "meta": shared_meta, "n_languages": 8}), ("routed", routed)):
            if entry is None:
                continue
            saved = idx.get(lang)
            idx[lang] = entry
            try:
                for corpus in DEV_SETS[lang][0]:
                    r = evaluate_corpus(corpus, lang, args.limit)
                    r.pop("_counts")
                    scores[(label, corpus)] = r["micro"]["f"]
            finally:
                idx[lang] = saved
        for corpus in DEV_SETS[lang][0]:
            rows.append((lang, corpus, scores.get(("shared", corpus)), routed["dir"].name if routed else "-",
                         scores.get(("routed", corpus))))
            print(rows[-1])
    lines = ["# Shared European model vs per-language models (dev F1, exact match)", "",
             "| lang | corpus | shared docenrich_ner_eu | routed model | routed F1 |", "|---|---|---:|---|---:|"]
    for lang, corpus, f_shared, name, f_routed in rows:
        lines.append(f"| {lang} | {corpus} | {f_shared:.3f} | {name} | {f_routed:.3f} |")
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ner_shared_vs_single.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _print_lang(lang: str, r: dict) -> None:
    m = r["primary"]["micro"]
    flag = "OK" if r["meets_target"] else "below target"
    print(f"\n== {lang}  model {r['model']}  primary micro P {m['p']:.3f} R {m['r']:.3f} F1 {m['f']:.3f}"
          f"  (target {r['target_f1']:.2f}: {flag})")
    for lab, v in r["primary"]["per_label"].items():
        print(f"   {lab:5s} P {v['p']:.3f} R {v['r']:.3f} F1 {v['f']:.3f}  (gold {v['tp'] + v['fn']})")
    for c in r["corpora"]:
        mm = c["micro"]
        tag = "" if c["primary"] else " [extra]"
        print(f"   {c['corpus']:22s}{tag} P {mm['p']:.3f} R {mm['r']:.3f} F1 {mm['f']:.3f}  "
              f"{c['words']} words {c['words_per_cpu_second']} w/CPU-s {c['words_per_second']} w/s")


def to_markdown(report: dict) -> str:
    lines = [
        "# NER dev-set results",
        "",
        f"Generated {report['generated_at']} by `.venv/bin/python -m evaluation.ner` "
        "(exact span + label match, end to end through `extract_entities`, one thread).",
        "",
        "## Per language (primary dev sets, micro-averaged)",
        "",
        "| lang | model | dev sets | P | R | F1 | target | met |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for lang, r in report["languages"].items():
        m = r["primary"]["micro"]
        sets = ", ".join(c["corpus"] for c in r["corpora"] if c["primary"])
        lines.append(f"| {lang} | {r['model']} | {sets} | {m['p']:.3f} | {m['r']:.3f} | {m['f']:.3f} | "
                     f"{r['target_f1']:.2f} | {'yes' if r['meets_target'] else 'no'} |")
    lines += ["", "## Per language and label (primary dev sets)", "",
              "| lang | label | P | R | F1 | gold |", "|---|---|---:|---:|---:|---:|"]
    for lang, r in report["languages"].items():
        for lab, v in r["primary"]["per_label"].items():
            lines.append(f"| {lang} | {lab} | {v['p']:.3f} | {v['r']:.3f} | {v['f']:.3f} | {v['tp'] + v['fn']} |")
    lines += ["", "## Per corpus", "", "| lang | corpus | primary | P | R | F1 | words | words/CPU-s | words/s wall |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for lang, r in report["languages"].items():
        for c in r["corpora"]:
            m = c["micro"]
            lines.append(f"| {lang} | {c['corpus']} | {'yes' if c['primary'] else 'extra'} | {m['p']:.3f} | "
                         f"{m['r']:.3f} | {m['f']:.3f} | {c['words']} | {c['words_per_cpu_second']} | {c['words_per_second']} |")
    sp, mem = report["speed"], report["memory"]
    lines += ["", "## Speed and memory", "",
              f"- Throughput: **{sp['words_per_cpu_second']} words per CPU-second** (one thread, so per core); "
              f"{sp['words_per_second']} words/s wall clock on a shared machine (load average "
              f"{sp['load_average'][0]:.1f} on {os.cpu_count()} cores). {sp['words']} words of the primary dev sets, "
              "ten sentences per document, tokenization + NER + grouping.",
              f"- Memory: RSS **{mem['rss_mb_all_models_loaded']:.0f} MB** with every model loaded "
              f"({mem['rss_mb_before_models']:.0f} MB before loading, {mem['rss_mb_after_eval']:.0f} MB after the run); "
              f"loading took {mem['load_seconds']} s.",
              f"- CPU: {report['host'].get('cpu') or report['host']['machine']}; the encoder models ran with "
              f"{report['host'].get('int8_weights', 'signed')} int8 weights (`services/nlp/int8_weights.py`).",
              "", "WikiANN rows are extra: automatic labels, no MISC class (MISC predictions ignored there).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
