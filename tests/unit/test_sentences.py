"""Sentence segmentation: real sentences in each supported script/language, the traps
(Arabic comma, «» quotes, abbreviations, decimals, initials) and the span invariants."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from services.nlp.sentences import split_sentences

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"


def sents(text: str, language: str | None = None) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, language)]


def check_invariants(text: str, spans: list[tuple[int, int]]) -> None:
    prev_end = 0
    for s, e in spans:
        assert 0 <= prev_end <= s < e <= len(text)
        piece = text[s:e]
        assert piece == piece.strip() and piece
        assert text[prev_end:s].strip() == ""  # gaps hold only whitespace
        prev_end = e
    assert text[prev_end:].strip() == ""


# ----------------------------------------------------------------- Arabic family


def test_arabic_comma_and_quotes_do_not_split():
    text = (
        "قال وزير الخارجية، في مؤتمر صحافي عقده أمس، إن «المفاوضات مستمرة. ولن نتراجع عن مطالبنا» "
        "بحسب ما نقلت الوكالة. هل ستنجح الجهود الدبلوماسية؟ يرى محللون أن الطريق ما زال طويلاً."
    )
    assert sents(text, "ar") == [
        "قال وزير الخارجية، في مؤتمر صحافي عقده أمس، إن «المفاوضات مستمرة. ولن نتراجع عن مطالبنا» "
        "بحسب ما نقلت الوكالة.",
        "هل ستنجح الجهود الدبلوماسية؟",
        "يرى محللون أن الطريق ما زال طويلاً.",
    ]


def test_arabic_seed_article():
    text = SEED.read_text(encoding="utf-8")
    spans = split_sentences(text, "ar")
    check_invariants(text, spans)
    out = [text[s:e] for s, e in spans]
    # the headline (no final period) is its own sentence
    assert out[0] == "تقرير: «البنتاغون» أمر بتصعيد العمليات ضد الميليشيات المدعومة من إيران بالعراق"
    # "روبرت ب.وايت" (an initial glued to the name) does not split
    assert any("الجنرال روبرت ب.وايت، حذر" in s for s in out)
    # no sentence ends on an Arabic comma; every body sentence ends with a period
    assert all(not s.endswith("،") for s in out)
    assert all(s.endswith(".") for s in out[1:])
    # a paragraph with two sentences is split into two
    assert any(s.startswith("وحذروا من أنه قد يزيد") for s in out)
    assert len(out) == 12
    # language-neutral rules give the same answer
    assert split_sentences(text, None) == spans


def test_persian():
    text = "تهران پایتخت ایران است. آیا امروز باران می‌بارد؟ او گفت: «فردا به شیراز می‌رویم. بلیت‌ها را خریده‌ایم» و رفت."
    assert sents(text, "fa") == [
        "تهران پایتخت ایران است.",
        "آیا امروز باران می‌بارد؟",
        "او گفت: «فردا به شیراز می‌رویم. بلیت‌ها را خریده‌ایم» و رفت.",
    ]


def test_urdu_full_stop():
    text = "پاکستان میں آج بارش ہوئی۔ کیا کل بھی بارش ہوگی؟ محکمہ موسمیات نے، اپنی رپورٹ میں، مزید بارش کی پیشگوئی کی ہے۔"
    assert sents(text, "ur") == [
        "پاکستان میں آج بارش ہوئی۔",
        "کیا کل بھی بارش ہوگی؟",
        "محکمہ موسمیات نے، اپنی رپورٹ میں، مزید بارش کی پیشگوئی کی ہے۔",
    ]


def test_hebrew():
    text = 'הממשלה אישרה את התקציב. ראש הממשלה אמר: "זה יום חשוב." האופוזיציה התנגדה.'
    assert sents(text, "he") == ["הממשלה אישרה את התקציב.", 'ראש הממשלה אמר: "זה יום חשוב."', "האופוזיציה התנגדה."]


# ----------------------------------------------------------------- English


def test_english_abbreviations_and_initials():
    text = (
        "The U.S. economy grew 2.5 percent last quarter. Mr. Smith, a former Fed official, "
        "said the figure was strong. J. K. Rowling's new book, e.g. the one out in Oct. 2023, sold well. "
        "Dr. Jones disagreed. “Why now?” he asked. He moved to the U.S. The next day he started work."
    )
    assert sents(text, "en") == [
        "The U.S. economy grew 2.5 percent last quarter.",
        "Mr. Smith, a former Fed official, said the figure was strong.",
        "J. K. Rowling's new book, e.g. the one out in Oct. 2023, sold well.",
        "Dr. Jones disagreed.",
        "“Why now?” he asked.",
        "He moved to the U.S.",
        "The next day he started work.",
    ]


def test_english_numbers_urls_and_quotes():
    text = 'Visit www.example.com for details. It costs $3.50. "It works." She left at 5 p.m. on Monday. See No. 7 below.'
    assert sents(text, "en") == [
        "Visit www.example.com for details.",
        "It costs $3.50.",
        '"It works."',
        "She left at 5 p.m. on Monday.",
        "See No. 7 below.",
    ]


def test_headlines_and_line_breaks():
    text = "Storm hits the coast\n\nThe storm reached land on Monday. Thousands lost power.\nOfficials said repairs\nwould take days.\nSchools are closed"
    assert sents(text, "en") == [
        "Storm hits the coast",
        "The storm reached land on Monday.",
        "Thousands lost power.",
        "Officials said repairs\nwould take days.",
        "Schools are closed",
    ]


def test_numbered_list_items():
    text = "Steps:\n1. Open the box.\n2. Remove the item.\nIt was built in 1999. Then it was sold."
    assert sents(text, "en") == ["Steps:", "1. Open the box.", "2. Remove the item.", "It was built in 1999.", "Then it was sold."]


def test_flattened_list_numbers_and_elisions():
    text = 'La orden fue firmada el martes. 3. ¿Quiénes pierden? Los mineros no. Él dijo: "Lo sé [...] y lo haré". Fin.'
    assert sents(text, "es") == [
        "La orden fue firmada el martes.",
        "3. ¿Quiénes pierden?",
        "Los mineros no.",
        'Él dijo: "Lo sé [...] y lo haré".',
        "Fin.",
    ]


# ----------------------------------------------------------------- CJK


def test_chinese():
    text = "中国国家统计局周一公布了最新数据。他说：“经济正在恢复。我们对前景有信心。”你怎么看？我同意！GDP增长了5.2%。"
    assert sents(text, "zh") == [
        "中国国家统计局周一公布了最新数据。",
        "他说：“经济正在恢复。我们对前景有信心。”",
        "你怎么看？",
        "我同意！",
        "GDP增长了5.2%。",
    ]


def test_japanese_brackets():
    text = "首相は「景気は回復している。今後も支援を続ける」と述べた。野党は反発した。"
    assert sents(text, "ja") == ["首相は「景気は回復している。今後も支援を続ける」と述べた。", "野党は反発した。"]


# ----------------------------------------------------------------- European languages


@pytest.mark.parametrize(
    "language,text,expected",
    [
        (
            "de",
            "Am 3. Oktober feiert Deutschland den Tag der Einheit. Dr. Müller sprach z.B. über die Wirtschaft, "
            "bzw. über die Inflation. Die Sitzung endete um 18 Uhr.",
            [
                "Am 3. Oktober feiert Deutschland den Tag der Einheit.",
                "Dr. Müller sprach z.B. über die Wirtschaft, bzw. über die Inflation.",
                "Die Sitzung endete um 18 Uhr.",
            ],
        ),
        (
            "fr",
            "M. Dupont est arrivé à Paris. « Je suis très content. Vraiment », a-t-il déclaré. Mme Durand n'a pas répondu.",
            [
                "M. Dupont est arrivé à Paris.",
                "« Je suis très content. Vraiment », a-t-il déclaré.",
                "Mme Durand n'a pas répondu.",
            ],
        ),
        (
            "es",
            "El Sr. García viajó a EE.UU. la semana pasada. ¿Volverá pronto? ¡Nadie lo sabe! La Dra. Pérez tampoco.",
            [
                "El Sr. García viajó a EE.UU. la semana pasada.",
                "¿Volverá pronto?",
                "¡Nadie lo sabe!",
                "La Dra. Pérez tampoco.",
            ],
        ),
        (
            "it",
            "Il Sig. Rossi è partito ieri. Ha detto che tornerà presto. La Dott. Bianchi resta a Roma.",
            ["Il Sig. Rossi è partito ieri.", "Ha detto che tornerà presto.", "La Dott. Bianchi resta a Roma."],
        ),
        (
            "pt",
            "O Sr. Silva chegou a Lisboa. A inflação subiu 4,5% em março. O governo vai reagir?",
            ["O Sr. Silva chegou a Lisboa.", "A inflação subiu 4,5% em março.", "O governo vai reagir?"],
        ),
        (
            "nl",
            "Dhr. Jansen opende de vergadering. Er waren o.a. drie ministers aanwezig. Het debat duurde lang.",
            ["Dhr. Jansen opende de vergadering.", "Er waren o.a. drie ministers aanwezig.", "Het debat duurde lang."],
        ),
        (
            "ru",
            "Это произошло в 1991 г. в Москве. Он сказал: «Мы не согласны. Это недопустимо». Потом заседание закрыли.",
            [
                "Это произошло в 1991 г. в Москве.",
                "Он сказал: «Мы не согласны. Это недопустимо».",
                "Потом заседание закрыли.",
            ],
        ),
        (
            "uk",
            "Відповідно до ч. 2 ст. 80 Конституції депутати мають імунітет. Рада розгляне питання у вівторок.",
            ["Відповідно до ч. 2 ст. 80 Конституції депутати мають імунітет.", "Рада розгляне питання у вівторок."],
        ),
        (
            "pl",
            "Prof. Kowalski przyjechał 1. maja do Warszawy. Mówił np. o gospodarce. Spotkanie trwało dwie godziny.",
            ["Prof. Kowalski przyjechał 1. maja do Warszawy.", "Mówił np. o gospodarce.", "Spotkanie trwało dwie godziny."],
        ),
        (
            "tr",
            "Dr. Yılmaz dün Ankara'ya geldi. Toplantı 3. kez ertelendi. Neden?",
            ["Dr. Yılmaz dün Ankara'ya geldi.", "Toplantı 3. kez ertelendi.", "Neden?"],
        ),
        (
            "hi",
            "भारत में आज चुनाव हुए। क्या नतीजे कल आएंगे? आयोग ने कहा कि गिनती जारी है।",
            ["भारत में आज चुनाव हुए।", "क्या नतीजे कल आएंगे?", "आयोग ने कहा कि गिनती जारी है।"],
        ),
    ],
)
def test_european_and_other_languages(language, text, expected):
    assert sents(text, language) == expected


# ----------------------------------------------------------------- invariants


def test_empty_and_whitespace():
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []
    assert split_sentences("  one sentence without a period  ") == [(2, 31)]


def test_spans_are_exact_trimmed_and_ordered_on_noisy_text():
    rng = random.Random(7)
    alphabet = list("abc ABC.!?،؟۔。«»“”\"'()\n\t 123 مرحبا 你好 ")
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        spans = split_sentences(text, rng.choice([None, "en", "ar", "zh", "de"]))
        check_invariants(text, spans)


def test_unbalanced_guillemet_does_not_swallow_the_rest():
    text = "«بدأ الاجتماع. " + "وانتهى الاجتماع. " * 200
    spans = split_sentences(text, "ar")
    assert len(spans) > 150
    check_invariants(text, spans)
