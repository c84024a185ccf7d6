"""The encoder trainer reads its corpora in the windows the service tags."""

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
