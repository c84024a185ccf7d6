"""Entity engine: routing, skip code, offsets, grouping, chunking, and recall on the seed.

The seed test names what a reader finds in the article; the model must find it on its
own (no gazetteer, rule or fixture feeds these names to the engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.errors import TaskSkipped
from services.nlp import arabic, entities
from services.nlp.entities import NoModelForLanguage, available_languages, extract_entities, preload

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"

pytestmark = pytest.mark.skipif(not available_languages(), reason="no NER model committed")


def _check_offsets(text: str, res: dict) -> None:
    prev = -1
    for m in res["entities"]:
        assert text[m["start"] : m["end"]] == m["text"]
        assert m["text"] == m["text"].strip() and m["text"]
        assert m["label"] in {"PER", "ORG", "LOC", "MISC"}
        assert 0.0 <= m["score"] <= 1.0
        assert m["start"] >= prev
        prev = m["start"]
    spans = {(m["start"], m["end"]) for m in res["entities"]}
    for g in res["groups"]:
        assert g["count"] == len(g["mentions"])
        for s, e in g["mentions"]:
            assert (s, e) in spans


def test_available_languages_and_preload_idempotent():
    langs = available_languages()
    assert "ar" in langs
    preload(langs)
    n = len(entities._MODELS)
    preload()
    preload(["ar"])
    assert len(entities._MODELS) == n


@pytest.mark.parametrize("language", [None, "", "xx", "ja", "zz-ZZ"])
def test_no_model_for_language_is_a_skip(language):
    with pytest.raises(NoModelForLanguage) as exc:
        extract_entities("Some text about Paris.", language)
    err = exc.value
    assert isinstance(err, TaskSkipped)
    assert err.code == "no_model_for_language"
    for lang in available_languages():
        assert lang in err.message


def test_language_code_variants_route():
    res = extract_entities("الرئيس الفرنسي في باريس", "AR")
    assert res["language"] == "ar"
    assert extract_entities("x", "ar-EG")["language"] == "ar"


def test_result_shape_and_model_name():
    res = extract_entities("", "ar")
    assert res["entities"] == [] and res["groups"] == []
    assert res["model"] and res["language"] == "ar"


def test_arabic_offsets_exact_with_diacritics_tatweel_and_odd_spacing():
    text = (
        "  قال وزير الخارجيـة الأمريكي مايك بومبيو في واشنطن،\n\n"
        "إن الرئيسَ دونالد ترمب سيزور بغداد والقاهرة الأسبوع المقبل.\t(رويترز)  "
    )
    res = extract_entities(text, "ar")
    _check_offsets(text, res)
    assert res["entities"], "expected some entities"


def test_english_offsets_exact():
    if "en" not in available_languages():
        pytest.skip("no English model")
    text = (
        "WASHINGTON (Reuters) - U.S. Secretary of State Mike Pompeo met Angela Merkel in Berlin on Monday.\r\n"
        "  Shares of Apple Inc. rose 3% in New York, said Tim Cook.  \n\nThe end"
    )
    res = extract_entities(text, "en")
    _check_offsets(text, res)
    found = {(m["text"], m["label"]) for m in res["entities"]}
    assert ("Berlin", "LOC") in found
    assert any(t.endswith("Pompeo") and lab == "PER" for t, lab in found)


def test_scores_are_not_constant():
    text = SEED.read_text(encoding="utf-8")
    res = extract_entities(text, "ar")
    scores = {m["score"] for m in res["entities"]}
    assert len(scores) > 3


def test_long_document_chunked_offsets_shift():
    para = SEED.read_text(encoding="utf-8")
    text = (para + "\n") * 40 + ("كلمة " * 3000)  # a very long last line is cut too
    res = extract_entities(text, "ar")
    _check_offsets(text, res)
    single = extract_entities(para, "ar")
    assert len(res["entities"]) >= 40 * len(single["entities"]) * 0.9


def test_arabic_grouping_strips_proclitics_and_diacritics():
    assert arabic.normalize("الرئيسَ ـترمب") == "الرئيس ترمب"
    assert arabic.strip_article_clitics("بالعراق") == "العراق"
    assert arabic.strip_article_clitics("للعراق") == "العراق"
    assert arabic.strip_article_clitics("بغداد") == "بغداد"
    mentions = [
        {"text": "إيران", "label": "LOC", "start": 0, "end": 5},
        {"text": "وإيران", "label": "LOC", "start": 10, "end": 16},
        {"text": "بالعراق", "label": "LOC", "start": 20, "end": 27},
        {"text": "العراق", "label": "LOC", "start": 30, "end": 36},
        {"text": "وايت", "label": "PER", "start": 40, "end": 44},
    ]
    groups = {(g["text"], g["label"]): g for g in entities._group("", mentions, "ar")}
    assert groups[("ايران", "LOC")]["count"] == 2
    assert groups[("العراق", "LOC")]["mentions"] == [[20, 27], [30, 36]]
    assert ("وايت", "PER") in groups  # a name starting with waw keeps it


def test_groups_merge_case_and_surnames():
    mentions = [
        {"text": "Mike Pompeo", "label": "PER", "start": 0, "end": 11},
        {"text": "Pompeo", "label": "PER", "start": 20, "end": 26},
        {"text": "PENTAGON", "label": "ORG", "start": 30, "end": 38},
        {"text": "Pentagon", "label": "ORG", "start": 40, "end": 48},
    ]
    groups = entities._group("", mentions, "en")
    assert [(g["text"], g["count"]) for g in groups] == [("mike pompeo", 2), ("pentagon", 2)]
    assert groups[0]["mentions"] == [[0, 11], [20, 26]]


def test_arabic_tokenizer_is_offset_exact():
    import spacy

    nlp = spacy.blank("ar")
    tok = arabic.ArabicTokenizer(nlp.vocab)
    for text in ["", "  ", "بـ«اتصالات عسكرية» (البنتاغون)، ب.وايت\n\n  x ", "O'Brien\u200fو"]:
        doc = tok(text)
        assert doc.text == text
        for t in doc:
            assert text[t.idx : t.idx + len(t.text)] == t.text


# The seed article's people, organisations and places, as a reader lists them. Each is
# matched by the normalised form of a word the article uses for it; a mention counts
# when a predicted entity with the expected label contains that word.
SEED_EXPECTED = {
    "PER": ["بومبيو", "إسبر", "ميلي", "ترمب", "أوبراين", "سليماني", "وايت"],
    "ORG": ["البنتاغون", "نيويورك تايمز", "الحرس الثوري", "فيلق القدس", "داعش", "مجلس الأمن القومي", "البيت الأبيض"],
    "LOC": ["العراق", "إيران", "طهران", "بغداد", "الشرق الأوسط"],
}


def test_seed_recall():
    text = SEED.read_text(encoding="utf-8")
    res = extract_entities(text, "ar")
    _check_offsets(text, res)
    found = [(arabic.normalize(m["text"]), m["label"]) for m in res["entities"]]
    hits, misses = [], []
    for label, names in SEED_EXPECTED.items():
        for name in names:
            key = arabic.normalize(name)
            ok = any(key in t and lab == label for t, lab in found)
            (hits if ok else misses).append((label, name))
    total = len(hits) + len(misses)
    recall = len(hits) / total
    # The committed model (2.3.0, 12 layers, trained on packed sentences with English news
    # beside the Arabic) finds 17 of these 19 with the right label (0.89: it misses الحرس
    # الثوري and البيت الأبيض, as 2.2.0 and 2.1.0 did; 2.0.0 also missed the general وايت,
    # the CRF ensemble before it داعش, البيت الأبيض and فيلق القدس); the bar (0.84) tolerates
    # one miss more, for int8 kernels that differ between CPUs, and no second.
    assert recall >= SEED_MIN_RECALL, f"seed recall {recall:.2f}; missed {misses}"


SEED_MIN_RECALL = 0.84


def test_arabic_ensemble_merge_rule():
    crf = [(0, 5, "LOC", 0.65), (10, 20, "ORG", 0.9)]
    helper = [
        (0, 9, "ORG", 0.99),  # overlaps a weak CRF mention, far more confident: replaces it
        (12, 20, "PER", 0.95),  # overlaps a confident one (0.95 is not 0.2 above 0.9): dropped
        (30, 35, "PER", 0.4),  # overlaps nothing: added, whatever its score
    ]
    assert entities._merge_helper(crf, helper) == [(0, 9, "ORG", 0.99), (10, 20, "ORG", 0.9), (30, 35, "PER", 0.4)]
    assert entities._merge_helper(crf, []) == crf


def test_arabic_crf_uses_word_clusters():
    words = ["زار", "بومبيو", "بغداد", "."]
    clusters = {arabic.feature_form("بغداد"): ("1", "2", "3")}
    feats = arabic.crf_features(words, clusters=clusters)
    assert {"c0=1", "c1=2", "c2=3"} <= set(feats[2])
    assert {"1c1=2", "1c2=3"} <= set(feats[1]) and "1c0=1" not in feats[1]
    assert not any(f.startswith("c0=") for f in feats[1])
    # a word the table does not know gets no cluster feature; no table, no cluster features
    assert not any(f.startswith("c") and f[1].isdigit() for f in feats[0])
    assert not any("c0=" in f or "c1=" in f for fs in arabic.crf_features(words) for f in fs)


def test_seed_vote_keeps_majority_mentions_with_the_mean_score():
    vote = entities._VoteModel(members=[None, None, None])
    a = [(0, 5, "PER", 0.9), (10, 14, "LOC", 0.8), (20, 25, "ORG", 0.7)]
    b = [(0, 5, "PER", 0.6), (10, 14, "ORG", 0.9), (30, 33, "MISC", 0.99)]
    c = [(0, 5, "PER", 0.3), (10, 14, "LOC", 0.5), (20, 26, "ORG", 0.7)]
    # PER: all three; LOC: two of three (b says ORG); the ORG spans differ, MISC is b's alone
    assert vote.vote([a, b, c]) == [(0, 5, "PER", pytest.approx(0.6)), (10, 14, "LOC", pytest.approx(1.3 / 3))]
    assert vote.vote([[], [], []]) == []


@pytest.mark.skipif("nl" not in available_languages(), reason="no Dutch model")
def test_dutch_encoder_finds_people_places_and_organisations():
    # Dutch is served by one encoder model since docenrich_ner_nl 2.0.0 (the three-seed CNN
    # vote it replaced is a training variant; the vote rule keeps its own test above).
    text = "Mark Rutte sprak dinsdag in Den Haag met de directie van Philips over de Europese Unie."
    res = extract_entities(text, "nl")
    assert res["model"] == "docenrich_ner_nl-2.0.0"
    assert not isinstance(entities._model_for("nl")[2], entities._VoteModel)
    _check_offsets(text, res)
    found = {(m["text"], m["label"]) for m in res["entities"]}
    assert {("Mark Rutte", "PER"), ("Den Haag", "LOC"), ("Philips", "ORG")} <= found


@pytest.mark.skipif("en" not in available_languages(), reason="no English model")
def test_english_encoder_windows_and_pieceless_words_keep_offsets():
    from services.nlp.encoder_ner import EncoderTagger

    tagger = entities._model_for("en")[2]
    assert isinstance(tagger, EncoderTagger)
    # a 300-word sentence with no full stop is cut into windows that each fit the model
    words = ("the committee discussed budgets and schedules with delegates " * 40).split()[:300]
    text = " ".join(words) + " before Angela Merkel flew to Berlin"
    windows = [w for win in tagger._windows(text) for w in tagger._fit(win)]
    assert len(windows) >= 3
    assert all(len(enc[0]) <= tagger.max_pieces for _, enc in windows)
    assert [t for win, _ in windows for t in win] == [t for win in tagger._windows(text) for t in win]
    res = extract_entities(text, "en")
    _check_offsets(text, res)
    assert ("Berlin", "LOC") in {(m["text"], m["label"]) for m in res["entities"]}
    # a word the tokenizer turns into no word piece (a lone soft hyphen) leaves the
    # labels of the words after it where they belong
    text = "Yesterday Angela Merkel \u00ad visited Paris and met Emmanuel Macron ."
    res = extract_entities(text, "en")
    _check_offsets(text, res)
    found = {(m["text"], m["label"]) for m in res["entities"]}
    assert {("Paris", "LOC"), ("Emmanuel Macron", "PER")} <= found
    assert res["model"].startswith("docenrich_ner_en-2.")


def test_encoder_batches_keep_short_windows_apart_from_long_ones():
    from services.nlp.encoder_ner import _BATCH, _SCORES, _batches

    lengths = [4] * 40 + [120] * 3 + [250] * 2  # sorted by length, as the tagger sorts them
    items = [(f"window {k}", ([0] * n, None, None)) for k, n in enumerate(lengths)]
    batches = _batches(items)
    assert [it for b in batches for it in b] == items  # each window once, in order
    assert all(len(b) <= _BATCH for b in batches)
    sizes = [sorted({len(it[1][0]) for it in b}) for b in batches]
    assert sizes == [[4], [4], [120], [250]]  # no short window padded to a long one's length
    assert _batches([]) == []
    # many long windows (a very long document) go in small batches, whose tensors stay in cache
    long = [(k, ([0] * 250, None, None)) for k in range(40)]
    assert max(len(b) for b in _batches(long)) <= _SCORES // 250**2 < _BATCH


LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_encoder_decoding_reads_the_first_piece_of_each_word():
    import numpy as np

    from services.nlp.encoder_ner import EncoderTagger, case_id

    tagger = EncoderTagger.__new__(EncoderTagger)  # decoding needs only the label list
    tagger._set_labels(LABELS)
    words = [(0, 3, "Ann"), (4, 9, "Smith"), (10, 13, "met"), (14, 17, "IBM"), (18, 20, "in"), (21, 25, "Rome")]
    # pieces: [CLS] ann smith met ib ##m in ro ##me [SEP]; the second piece of a word is ignored
    wid = [None, 0, 1, 2, 3, 3, 4, 5, 5, None]
    chosen = ["O", "B-PER", "I-PER", "O", "B-ORG", "B-LOC", "O", "B-LOC", "B-MISC", "O"]
    probs = np.full((len(wid), 9), 0.01, np.float32)
    for j, (lab, p) in enumerate(zip(chosen, [0.9, 0.95, 0.6, 0.99, 0.7, 0.9, 0.98, 0.8, 0.9, 0.9])):
        probs[j, tagger.labels.index(lab)] = p
    # a mention's score is the lowest probability of its words' labels
    assert tagger._decode(words, wid, probs) == [
        (0, 9, "PER", pytest.approx(0.6)), (14, 17, "ORG", pytest.approx(0.7)), (21, 25, "LOC", pytest.approx(0.8))]
    assert [case_id(w) for w in ["IBM", "Rome", "42nd", "met", "(", "I"]] == [1, 2, 3, 4, 5, 2]


def test_encoder_model_with_arabic_words_splits_like_the_crf_and_cuts_at_arabic_question_mark(tmp_path):
    import json

    from services.nlp.encoder_ner import EncoderTagger

    # the shipped English encoder's files, with a meta.json saying its words are Arabic ones
    src = entities.MODELS_DIR / "docenrich_ner_en"
    for name in ("model.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(src / name)
    meta = json.loads((src / "meta.json").read_text(encoding="utf-8"))
    meta["lang"], meta["encoder"]["words"] = "ar", "arabic"
    (tmp_path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    tagger = EncoderTagger(tmp_path)
    assert tagger.arabic_words and not entities._model_for("en")[2].arabic_words
    text = "هل زار بومبيو بغداد؟ وقال «البنتاغون»: لا."
    windows = tagger._windows(text)
    words = [w for win in windows for w in win]
    assert [(s, e) for s, e, _ in words] == arabic.tokenize_spans(text)
    assert all(text[s:e] == w for s, e, w in words)
    assert [w for _, _, w in windows[0]][-1] == "؟" and len(windows) == 2
    for ents in tagger.run([text]):
        for s, e, _, _ in ents:
            assert 0 <= s < e <= len(text)


def test_encoder_with_pack_words_reads_a_documents_lines_together_and_keeps_mentions_in_their_line(tmp_path):
    import json

    import numpy as np

    from services.nlp.encoder_ner import EncoderTagger, pack

    assert pack([[1, 2], [3], [4, 5, 6], [7]], 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert pack([[1, 2], [3]], 0) == [[1, 2], [3]]
    # the shipped English encoder's files, with a meta.json that packs sentences
    src = entities.MODELS_DIR / "docenrich_ner_en"
    for name in ("model.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(src / name)
    meta = json.loads((src / "meta.json").read_text(encoding="utf-8"))
    meta["encoder"]["pack_words"] = 100
    (tmp_path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    packed, single = EncoderTagger(tmp_path), entities._model_for("en")[2]
    assert packed.pack_words == 100 and single.pack_words == 0
    chunks = ["Angela Merkel visited Paris on Monday.", "Emmanuel Macron met her there.",
              "They flew to Berlin together. The talks went on."]
    rows = []  # windows per model call

    class Spy:
        def __init__(self, session):
            self.session = session

        def run(self, outputs, feed):
            rows.append(len(feed["input_ids"]))
            return self.session.run(outputs, feed)

    for tagger in (packed, single):
        session = tagger.session
        tagger.session = Spy(session)
        try:
            res = tagger.run(chunks)
        finally:
            tagger.session = session
        found = {(chunks[i][s:e], label) for i, ents in enumerate(res) for s, e, label, _ in ents}
        assert {("Angela Merkel", "PER"), ("Paris", "LOC"), ("Emmanuel Macron", "PER"), ("Berlin", "LOC")} <= found
        assert all(0 <= s < e <= len(chunks[i]) for i, ents in enumerate(res) for s, e, _, _ in ents)
    assert rows == [1, 4]  # the four sentences as one window, or one window each
    # a mention ends with its line: an I- label on a line's first word starts a new one
    packed._set_labels(LABELS)
    probs = np.full((4, 9), 0.01, np.float32)
    for j, lab in enumerate(["O", "B-PER", "I-PER", "O"]):
        probs[j, LABELS.index(lab)] = 0.9
    wid = [None, 0, 1, None]
    assert packed._decode_words(2, wid, probs) == [(0, 2, "PER", pytest.approx(0.9))]
    assert packed._decode_words(2, wid, probs, parts=[0, 1]) == [
        (0, 1, "PER", pytest.approx(0.9)), (1, 2, "PER", pytest.approx(0.9))]


def test_encoder_words_keep_hyphenated_names_whole():
    from services.nlp.encoder_ner import join_hyphens

    tagger = entities._model_for("en")[2]
    text = "Ann flew from New York to Stoke-on-Trent, then met Jean-Pierre in mid-March - late."
    words = [w for win in tagger._windows(text) for _, _, w in win]
    assert {"Stoke-on-Trent", "Jean-Pierre", "mid-March"} <= set(words)
    assert "-" in words and "," in words and "." in words  # a spaced dash and punctuation stay words
    res = extract_entities(text, "en")
    _check_offsets(text, res)
    found = {(m["text"], m["label"]) for m in res["entities"]}
    assert ("Stoke-on-Trent", "LOC") in found and ("Jean-Pierre", "PER") in found
    # only a hyphen between letters or digits with nothing around it joins
    toks = [(0, 1, "a"), (1, 2, "-"), (3, 4, "b"), (4, 5, "-"), (5, 7, "-c")]
    assert join_hyphens(toks) == toks


def test_encoder_decoding_never_starts_a_mention_with_inside_label():
    import numpy as np

    from services.nlp.encoder_ner import EncoderTagger

    tagger = EncoderTagger.__new__(EncoderTagger)
    tagger._set_labels(LABELS)
    lab = {l: i for i, l in enumerate(tagger.labels)}
    words = [(0, 3, "Ann"), (4, 9, "Smith"), (10, 14, "went"), (15, 19, "home")]
    wid = [None, 0, 1, 2, 3, None]

    def probs(*rows):
        p = np.full((len(wid), len(lab)), 0.01, np.float32)
        for j, row in enumerate(rows, start=1):
            for label, v in row.items():
                p[j, lab[label]] = v
        return p

    # "Ann" a little more likely outside than B-PER, "Smith" surely inside a person:
    # the per-word best labels (O, I-PER) are no IOB2 sequence; the best one is B-PER I-PER
    p = probs({"O": 0.5, "B-PER": 0.4}, {"I-PER": 0.9}, {"O": 0.9}, {"O": 0.9})
    assert [(s, e, l) for s, e, l, _ in tagger._decode(words, wid, p)] == [(0, 9, "PER")]
    # an I- of another label after a mention opens no mention of its own ...
    p = probs({"B-PER": 0.9}, {"I-ORG": 0.5, "I-PER": 0.4}, {"O": 0.9}, {"O": 0.9})
    assert [(s, e, l) for s, e, l, _ in tagger._decode(words, wid, p)] == [(0, 9, "PER")]
    # ... and a valid sequence is kept as it is, scores the chosen labels' probabilities
    p = probs({"B-PER": 0.9}, {"O": 0.8}, {"O": 0.9}, {"B-LOC": 0.7})
    assert tagger._decode(words, wid, p) == [(0, 3, "PER", pytest.approx(0.9)), (15, 19, "LOC", pytest.approx(0.7))]


@pytest.mark.parametrize("lang,text,expected", [
    ("ru", "Вчера в Нью-Йорке министр Сергей Лавров встретился с представителями ООН, а затем улетел в Санкт-Петербург.",
     {("Нью-Йорке", "LOC"), ("Сергей Лавров", "PER"), ("ООН", "ORG"), ("Санкт-Петербург", "LOC")}),
    ("es", "El presidente Pedro Sánchez viajó ayer a Nueva York y se reunió con la ONU en Castilla-La Mancha.",
     {("Pedro Sánchez", "PER"), ("Nueva York", "LOC"), ("ONU", "ORG"), ("Castilla-La Mancha", "LOC")}),
])
def test_spanish_and_russian_encoders_find_hyphenated_places_whole(lang, text, expected):
    res = extract_entities(text, lang)
    _check_offsets(text, res)
    assert res["model"].startswith(f"docenrich_ner_{lang}-2.")
    assert expected <= {(m["text"], m["label"]) for m in res["entities"]}
