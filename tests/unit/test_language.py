"""Unit tests for the language-detection engine (services.nlp.language)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.core.errors import InvalidField
from services.nlp import language as L

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"

ENGLISH_PARAGRAPH = (
    "This paragraph is written in English and was added to the Arabic article to check "
    "that mixed documents are split into language segments with exact offsets."
)


@pytest.fixture(scope="module", autouse=True)
def _models():
    L.preload()
    L.preload()  # idempotent


def _check_segments(text: str, result: dict) -> None:
    segs = result["segments"]
    assert segs, "a determined result has at least one segment"
    assert segs[0]["start"] == 0
    assert segs[-1]["end"] == len(text)
    for a, b in zip(segs, segs[1:]):
        assert a["end"] == b["start"], "segments are contiguous"
        assert a["code"] != b["code"], "adjacent same-language segments are merged"
    for s in segs:
        assert s["start"] < s["end"]
        assert set(s) == {"start", "end", "code"}


def test_arabic_seed():
    text = SEED.read_text(encoding="utf-8")
    r = L.detect(text)
    assert r["code"] == "ar"
    assert r["name"] == "Arabic"
    assert r["script"] == "Arab"
    assert r["confidence"] >= 0.9
    assert r["segments"] == [{"start": 0, "end": len(text), "code": "ar"}]
    assert "reason" not in r
    for alt in r["alternatives"]:
        assert set(alt) == {"code", "confidence"}
        assert alt["confidence"] <= r["confidence"]


def test_english():
    r = L.detect("The committee will publish its final report on the new railway line next week.")
    assert (r["code"], r["name"], r["script"]) == ("en", "English", "Latn")
    assert 0.5 < r["confidence"] <= 1.0
    assert len(r["alternatives"]) <= 3


@pytest.mark.parametrize(
    "code,text",
    [
        ("zu", "Ngiyabonga kakhulu ngosizo lwakho, sizobonana kusasa ekuseni."),
        ("xh", "Molo, unjani namhlanje? Ndiyabulela kakhulu ngoncedo lwakho."),
        ("st", "Ke a leboha haholo ka thuso ya hao, re tla bonana hosane."),
        ("tn", "Ke a leboga thata ka thuso ya gago, re tla bonana kamoso."),
        ("sn", "Ndinotenda zvikuru nerubatsiro rwenyu, tichaonana mangwana."),
        ("mi", "Kia ora koutou katoa, he rā pai tēnei mō te haere ki te moana."),
        ("lg", "Webale nnyo olw'obuyambi bwo, tujja kulabagana enkya."),
        ("ts", "Ndza khensa swinene hi ku ndzi pfuna, hi ta vonana mundzuku."),
    ],
)
def test_languages_fasttext_lite_does_not_know(code, text):
    r = L.detect(text)
    assert r["code"] == code, r
    assert r["script"] == "Latn"


@pytest.mark.parametrize(
    "code,script,text",
    [
        ("ru", "Cyrl", "Быстрая коричневая лиса перепрыгивает через ленивую собаку."),
        ("uk", "Cyrl", "Швидка бура лисиця перестрибує через ледачого собаку."),
        ("de", "Latn", "Der schnelle braune Fuchs springt über den faulen Hund."),
        ("fa", "Arab", "این یک جمله فارسی برای آزمایش است."),
        ("he", "Hebr", "שלום עולם, מה שלומך היום?"),
        ("el", "Grek", "Γεια σου κόσμε, τι κάνεις σήμερα;"),
        ("ko", "Kore", "안녕하세요, 만나서 반갑습니다."),
        ("ja", "Jpan", "これは日本語の文章です。"),
        ("zh", "Hans", "这是一个用于测试的简体中文句子。"),
        ("zh", "Hant", "這是一個用於測試的繁體中文句子。"),
        ("hi", "Deva", "यह एक हिंदी वाक्य है जो परीक्षण के लिए लिखा गया है।"),
    ],
)
def test_scripts_and_languages(code, script, text):
    r = L.detect(text)
    assert (r["code"], r["script"]) == (code, script), r


def test_nfd_input_is_handled():
    import unicodedata

    text = unicodedata.normalize("NFD", "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm.")
    assert L.detect(text)["code"] == "vi"


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "no_letters"),
        ("   \n\t ", "no_letters"),
        ("12345 67.89 !!! -- 2024-01-01", "no_letters"),
        ("😀 🎉 👍", "no_letters"),
        ("ok", "too_short"),
        ("a 1", "too_short"),
    ],
)
def test_undetermined(text, reason):
    r = L.detect(text)
    assert r["code"] == "und"
    assert r["name"] == "Undetermined"
    assert r["confidence"] == 0.0
    assert r["alternatives"] == []
    assert r["segments"] == []
    assert r["reason"] == reason


def test_too_short_reports_script():
    assert L.detect("ok")["script"] == "Latn"


def test_mixed_arabic_article_with_english_paragraph_in_the_middle():
    seed = SEED.read_text(encoding="utf-8")
    cut = seed.index("\n", 600) + 1  # after a line break inside the article
    head, tail = seed[:cut], seed[cut:]
    text = head + "\n" + ENGLISH_PARAGRAPH + "\n\n" + tail
    r = L.detect(text)
    assert r["code"] == "ar"
    _check_segments(text, r)
    en_start = text.index(ENGLISH_PARAGRAPH)
    en_end = en_start + len(ENGLISH_PARAGRAPH) + 2  # the paragraph and its blank line
    tail_start = en_end
    assert text[tail_start:].lstrip() == tail.lstrip()
    # the Arabic text resumes at the first non-blank character of the tail
    tail_start += len(text[tail_start:]) - len(text[tail_start:].lstrip())
    assert r["segments"] == [
        {"start": 0, "end": en_start, "code": "ar"},
        {"start": en_start, "end": tail_start, "code": "en"},
        {"start": tail_start, "end": len(text), "code": "ar"},
    ]


def test_mixed_two_segments_exact_offsets():
    arabic = "أمرت وزارة الدفاع الأميركية القادة العسكريين بالتخطيط لتصعيد القتال في العراق."
    text = arabic + "\n\n" + ENGLISH_PARAGRAPH
    r = L.detect(text)
    split = len(arabic) + 2
    assert r["segments"] == [
        {"start": 0, "end": split, "code": "ar"},
        {"start": split, "end": len(text), "code": "en"},
    ]
    assert text[r["segments"][1]["start"]:].startswith("This paragraph")
    assert r["code"] in ("ar", "en")


def test_short_lines_join_their_neighbours():
    text = "Le conseil municipal a adopté le budget de la ville pour l'année prochaine.\nOK\n" \
           "Les travaux de rénovation de la gare commenceront au printemps selon le maire."
    r = L.detect(text)
    assert r["code"] == "fr"
    assert r["segments"] == [{"start": 0, "end": len(text), "code": "fr"}]


def test_large_document_is_linear_enough():
    seed = SEED.read_text(encoding="utf-8")
    text = (seed + "\n\n" + ENGLISH_PARAGRAPH + "\n\n") * 120  # ~300k characters
    t = time.perf_counter()
    r = L.detect(text)
    elapsed = time.perf_counter() - t
    assert r["code"] == "ar"
    _check_segments(text, r)
    assert elapsed < 20


def test_client_language_is_respected():
    r = L.detect("The committee will publish its report next week.", language="fr-FR")
    assert r["code"] == "fr"
    assert r["name"] == "French"
    assert r["confidence"] == 1.0
    assert r["segments"][0]["code"] == "fr"
    with pytest.raises(InvalidField):
        L.detect("text", language="klingon")


@pytest.mark.parametrize(
    "given,expected",
    [("en", "en"), ("EN", "en"), (" ar ", "ar"), ("en-US", "en"), ("pt_BR", "pt"),
     ("zh-Hant-TW", "zh"), ("iw", "he"), ("no", "no"), ("nb", "nb"), ("zu", "zu"), ("aa", "aa")],
)
def test_normalize_code_accepts(given, expected):
    assert L.normalize_code(given) == expected


@pytest.mark.parametrize("given", ["", "  ", "xx", "eng", "english", "und", "e", "en-", "en US", "12", None])
def test_normalize_code_rejects(given):
    with pytest.raises(InvalidField) as exc:
        L.normalize_code(given)
    err = exc.value
    assert err.status_code == 422
    assert err.code == "invalid_field"
    assert err.details == {"field": "language", "value": given}


def test_names_and_supported_languages():
    assert L.language_name("ar") == "Arabic"
    assert L.language_name("und") == "Undetermined"
    supported = L.supported_languages()
    assert supported == sorted(supported)
    assert set(L.CORE) <= set(supported)
    assert {"zu", "xh", "st", "tn", "sn", "mi", "lg", "ts", "ar", "en"} <= set(supported)
    for code in supported:
        assert len(code) == 2 and L.language_name(code) != code


# ----------------------------------------------------------------- alphabet evidence


@pytest.mark.parametrize(
    "text,expected",
    [
        # Urdu letters (ے ں ٹ ڈ ڑ ہ) are not Persian: short Urdu lines used to come out as fa
        ("تمام انسان آزاد اور حقوق و عزت کے اعتبار", "ur"),
        ("کسی شخص کو جسمانی اذیّت یا ظالمانہ،", "ur"),
        # Serbian Cyrillic ђ/ћ are not Macedonian; Macedonian ќ/ѓ/ѕ are not Serbian
        ("Свако има право на слободу мишљења, савести и вероисповести, укључујући и слободу промене вере.", "sr"),
        ("Секој човек има право на слобода на мислењето, совеста и верата; ова право ја вклучува и слободата на промена на верата.", "mk"),
        # Azerbaijani in Cyrillic (ә with ј/ҝ/ҹ): the statistical models only know Latin az
        ("Һәр бир шәхсин јашамаг, азадлыг вә шәхси тохунулмазлыг һүгугу вардыр.", "az"),
        ("Бүтүн инсанлар ләјагәт вә һүгугларына ҝөрә азад вә бәрабәр доғулурлар.", "az"),
        # ... while Kazakh (ә with і, қ, ң) stays Kazakh
        ("Барлық адамдар тумысынан азат және қадір-қасиеті мен кұқықтары тең болып дүниеге келеді.", "kk"),
    ],
)
def test_alphabet_evidence_short_sentences(text, expected):
    r = L.detect(text)
    assert r["code"] == expected, r
    assert r["script"] == ("Arab" if expected == "ur" else "Cyrl")


def test_one_foreign_letter_in_a_long_text_does_not_rule_a_language_out():
    # a Russian paragraph quoting one Ukrainian name (with і) is still Russian
    text = (
        "Министр иностранных дел встретился в понедельник с коллегами из соседних стран. "
        "Стороны обсудили вопросы торговли, энергетики и безопасности на границе. "
        "По словам министра, переговоры прошли в конструктивной атмосфере, и следующая "
        "встреча состоится в Києві осенью. Эксперты считают, что соглашение может быть "
        "подписано уже в этом году, если стороны договорятся о пошлинах."
    )
    r = L.detect(text)
    assert r["code"] == "ru"
    assert r["confidence"] >= 0.9
