"""The encoder trainer: the windows it reads (those the service tags), the copies with
mentions swapped, the smoothing before int8 quantization."""

from training.ner.common import bio_spans
from training.ner.encoder import _windows


def _sent(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"w{start + i}", "O") for i in range(n)]


def _words(win: list[tuple[str, str]]) -> list[str]:
    return [w for w, _ in win]


def test_a_long_sentence_is_cut_as_the_service_cuts_it_and_keeps_every_word():
    long = _sent(250)
    long[99:102] = [("Abu", "B-PER"), ("Bakr", "I-PER"), ("Ali", "I-PER")]  # a name across the 100-word cut
    wins = _windows([long])
    assert [len(w) for w in wins] == [100, 100, 50]
    assert [x for w in wins for x in _words(w)] == [w for w, _ in long]
    # the name's part in the second window is a mention of its own, tagged as one
    assert wins[0][-1] == ("Abu", "B-PER") and wins[1][:2] == [("Bakr", "B-PER"), ("Ali", "I-PER")]


def test_sentences_cut_at_full_stops_and_packed_up_to_the_limit():
    first = _sent(30) + [(".", "O")] + _sent(20, 30)  # two sentences in one line of the corpus
    second, third = _sent(60, 100), _sent(10, 200)
    assert [len(w) for w in _windows([first, second, third])] == [31, 20, 60, 10]
    packed = _windows([first, second, third], pack_words=100)
    assert [len(w) for w in packed] == [51, 70]  # 31 + 20 (+ 60 would pass 100); 60 + 10
    assert [x for w in packed for x in _words(w)] == [w for s in (first, second, third) for w, _ in s]


def test_swapped_mentions_keep_their_labels_and_the_words_around_them():
    from training.ner.encoder import _swap_mentions

    wins = [
        [("met", "O"), ("Abu", "B-PER"), ("Bakr", "I-PER"), ("in", "O"), ("Cairo", "B-LOC"), (".", "O")],
        [("Ali", "B-PER"), ("visited", "O"), ("New", "B-LOC"), ("York", "I-LOC")],
    ]
    out = _swap_mentions(wins, copies=3, p=1.0, seed=0)
    assert len(out) == 6
    people, places = {("Abu", "Bakr"), ("Ali",)}, {("Cairo",), ("New", "York")}
    seen = set()
    for win, orig in zip(out, wins * 3):
        # the words outside mentions are the original's, in order
        assert [w for w, t in win if t == "O"] == [w for w, t in orig if t == "O"]
        for a, b, lab in bio_spans([t for _, t in win]):
            words = tuple(w for w, _ in win[a:b])
            assert words in (people if lab == "PER" else places)
            assert [t for _, t in win[a:b]] == [f"B-{lab}"] + [f"I-{lab}"] * (b - a - 1)
            seen.add(words)
    assert seen == people | places  # mentions did move between windows
    assert _swap_mentions(wins, copies=1, p=0.0, seed=0) == wins


def test_smoothing_keeps_the_product_and_flattens_the_outlier_channels():
    import numpy as np

    from training.ner.quantize import smoothing_scales

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    x[:, 3] *= 40  # one outlier channel, as in a feed-forward layer's GELU output
    w = rng.normal(size=(16, 8)).astype(np.float32)
    s = smoothing_scales(np.abs(x).max(0), w, alpha=0.5)
    assert np.allclose((x / s) @ (w * s[:, None]), x @ w, rtol=1e-4, atol=1e-3)
    spread = lambda a: np.abs(a).max(0).max() / np.median(np.abs(a).max(0))  # noqa: E731
    assert spread(x / s) < spread(x) / 4  # the range per-tensor int8 must cover shrinks
    assert np.allclose(smoothing_scales(np.abs(x).max(0), w, alpha=0.0), 1 / np.abs(w).max(1))


def test_an_auxiliary_corpus_is_read_without_its_letter_case():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from services.nlp.encoder_ner import case_id, encode_words
    from training.ner.encoder import _hide_case

    vocab = {w: i for i, w in enumerate(["[UNK]", "Real", "Madrid", "NATO", "won", "3-1", "ريال"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words = ["Real", "Madrid", "NATO", "won", "3-1", "ريال"]
    ids, cases, wid = encode_words(tok, words)
    assert cases == [2, 2, 1, 4, 3, 5]  # capitalised, all capitals, lower case, digits, no case (Arabic)
    tags = [1, 2, 0, 0, 0, 1]
    hidden = _hide_case((ids, cases, tags, wid))
    # every cased word now looks like an Arabic one; digits keep their class; the rest is unchanged
    assert hidden[1] == [case_id("ريال")] * 4 + [case_id("3-1"), case_id("ريال")]
    assert hidden[0] == ids and hidden[2] == tags and hidden[3] == wid
