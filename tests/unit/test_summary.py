"""Summarizer: result shape, exact offsets (Arabic seed), options, cost on 1 MB, and the
OpenAI-compatible backend against a local fake server (stdlib http.server in a thread),
with fallback to the extractive summary on failures and timeouts."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.core.errors import InvalidField
from services.nlp.sentences import split_sentences
from services.nlp.summary import METHOD, default_sentence_count, summarize

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"

ENGLISH = (
    "The city council approved a new budget on Tuesday after months of debate. "
    "The budget raises spending on public transport by ten percent. "
    "Council members said the transport plan would cut traffic in the city centre. "
    "Opposition members argued the budget ignored housing. "
    "The mayor said housing would be addressed next year. "
    "Local businesses welcomed the transport spending. "
    "The new budget takes effect in January."
)


def assert_exact(text: str, result: dict) -> None:
    starts = [s["start"] for s in result["sentences"]]
    assert starts == sorted(starts), "sentences must be in document order"
    for s in result["sentences"]:
        assert text[s["start"] : s["end"]] == s["text"]
        assert 0.0 <= s["score"] <= 1.0
    for a, b in zip(result["sentences"], result["sentences"][1:]):
        assert a["end"] <= b["start"]
    assert all(s["text"] in result["text"] for s in result["sentences"])


# ----------------------------------------------------------------- extractive


def test_arabic_seed_offsets_exact():
    text = SEED.read_text(encoding="utf-8")
    result = summarize(text, "ar")
    assert result["method"] == METHOD
    assert len(result["sentences"]) == default_sentence_count(len(split_sentences(text, "ar")))
    assert_exact(text, result)
    # every chosen sentence is one of the segmenter's sentences
    spans = set(split_sentences(text, "ar"))
    assert all((s["start"], s["end"]) in spans for s in result["sentences"])
    # language-neutral call works the same on the Arabic text
    assert_exact(text, summarize(text, None, sentences=5))


def test_summary_text_is_the_chosen_sentences_joined():
    result = summarize(ENGLISH, "en", sentences=3)
    assert len(result["sentences"]) == 3
    assert result["text"] == " ".join(s["text"] for s in result["sentences"])
    assert_exact(ENGLISH, result)
    # the lead sentence of a news-like text is a good summary sentence
    assert result["sentences"][0]["start"] == 0


def test_sentences_and_ratio_options():
    n = len(split_sentences(ENGLISH, "en"))
    assert len(summarize(ENGLISH, "en", sentences=1)["sentences"]) == 1
    assert len(summarize(ENGLISH, "en", sentences=50)["sentences"]) == n
    assert len(summarize(ENGLISH, "en", ratio=0.5)["sentences"]) == 4  # ceil(0.5 * 7)
    assert len(summarize(ENGLISH, "en", ratio=1.0)["sentences"]) == n
    assert len(summarize(ENGLISH, "en", ratio=0.01)["sentences"]) == 1


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"sentences": 0}, "sentences"),
        ({"sentences": -2}, "sentences"),
        ({"sentences": 51}, "sentences"),
        ({"sentences": True}, "sentences"),
        ({"sentences": 2.5}, "sentences"),
        ({"ratio": 0.0}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"ratio": -0.1}, "ratio"),
        ({"ratio": float("nan")}, "ratio"),
        ({"ratio": "0.5"}, "ratio"),
        ({"sentences": 2, "ratio": 0.5}, "ratio"),
        ({"backend": "bert"}, "backend"),
    ],
)
def test_invalid_options_raise_invalid_field(kwargs, field):
    with pytest.raises(InvalidField) as exc:
        summarize(ENGLISH, "en", **kwargs)
    assert exc.value.details["field"] == field
    assert exc.value.status_code == 422


def test_default_length_grows_with_the_document():
    assert [default_sentence_count(n) for n in (1, 3, 5, 8, 20, 40, 80, 400, 10_000)] == [1, 1, 2, 2, 3, 3, 5, 10, 10]
    one = "Just one sentence here."
    result = summarize(one, "en")
    assert [s["text"] for s in result["sentences"]] == [one]


def test_empty_and_whitespace_text():
    for text in ("", "   \n  "):
        result = summarize(text, "en")
        assert result == {"method": METHOD, "text": "", "sentences": []}


def test_chinese_and_japanese():
    zh = "中国国家统计局周一公布了最新经济数据。数据显示，经济增长速度有所加快。专家认为，消费是增长的主要动力。政府表示将继续支持消费。天气晴朗。"
    result = summarize(zh, "zh", sentences=2)
    assert_exact(zh, result)
    assert result["text"] == "".join(s["text"] for s in result["sentences"])
    ja = "政府は新しい経済対策を発表した。対策には家計への支援が含まれる。野党は規模が小さいと批判した。"
    assert_exact(ja, summarize(ja, "ja", sentences=1))


def test_han_and_kana_terms_are_characters_and_bigrams():
    from services.nlp.summary import _terms

    # no spaces between words: one-character words (首相, 日 ...) only match as characters
    terms = _terms("首相は東京で会見した", 6)
    assert {"首", "相", "東", "京"} <= set(terms)
    assert {"首相", "東京"} <= set(terms)
    # Latin and digit runs inside stay words
    assert "nasa" in _terms("NASAは2016年の気温を発表した", 6)


def test_japanese_one_sentence_summary_keeps_a_confident_lead():
    # a short news item: the lead states the story, the rest elaborates; the 1-sentence
    # summary is the lead, and the 2-sentence summary adds the most central follow-up
    ja = (
        "政府は１８日、物価高に対応する新たな経済対策を閣議決定した。"
        "経済対策には、電気料金やガス料金への補助の延長と、低所得世帯への給付金が盛り込まれた。"
        "首相は記者会見で、物価高から国民の生活を守ると述べた。"
        "野党は、経済対策の規模が小さく物価高への対応が遅いと批判した。"
        "東京では朝から雨が降った。"
    )
    one = summarize(ja, "ja", sentences=1)
    assert one["method"] == METHOD == "pacsum-tfidf-v2"
    assert one["text"] == "政府は１８日、物価高に対応する新たな経済対策を閣議決定した。"
    assert_exact(ja, one)
    two = summarize(ja, "ja", sentences=2)
    assert two["sentences"][0]["start"] == 0
    assert "雨" not in two["text"]  # the unrelated weather line is never chosen
    assert two["text"] == "".join(s["text"] for s in two["sentences"])  # no space after 。


def test_run_together_sentences_are_penalised():
    import numpy as np

    from services.nlp.summary import Params, _length_units, score_sentences

    run_on = (
        "Council members said the tram extension to the airport the cycle paths along the "
        "river the night buses on weekends the cheaper tickets for students and pensioners "
        "the repairs to the old bridge the electric buses the new depot the ticket machines "
        "the school buses and the park and ride sites would all be paid for by the budget "
        "over the next four years and would cut traffic in the city centre"
    )
    texts = [s for s in ENGLISH.split(". ")] + [run_on]
    assert _length_units(run_on) > 50
    with_penalty, _ = score_sentences(texts, Params(), k=1)
    without, _ = score_sentences(texts, Params(overlong_penalty=0.0), k=1)
    diff = without - with_penalty
    assert np.allclose(diff[:-1], 0.0)  # ordinary sentences are not affected
    assert diff[-1] == pytest.approx(np.log1p(_length_units(run_on) - 50))


def test_text_without_punctuation_is_cut_into_bounded_pieces():
    text = "word " * 5000
    result = summarize(text, None, sentences=2)
    assert len(result["sentences"]) == 2
    assert all(len(s["text"]) <= 1000 for s in result["sentences"])
    assert_exact(text, result)


def test_cost_is_near_linear_up_to_one_megabyte():
    base = SEED.read_text(encoding="utf-8") + "\n\n" + ENGLISH + "\n\n"
    big = (base * (1_000_000 // len(base.encode("utf-8")) + 1))
    big = big.encode("utf-8")[:1_000_000].decode("utf-8", "ignore")
    small = big[: len(big) // 10]
    t0 = time.perf_counter()
    summarize(small, None)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = summarize(big, None)
    t_big = time.perf_counter() - t0
    assert_exact(big, result)
    assert t_big < 30.0
    # 10x the text must not cost anywhere near 100x (all-pairs would)
    assert t_big < 40 * max(t_small, 0.05)


# ----------------------------------------------------------------- OpenAI-compatible backend


class FakeOpenAI:
    """A tiny OpenAI-compatible chat-completions server on a free 127.0.0.1 port."""

    def __init__(self, mode: str = "ok", delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if fake.delay:
                    time.sleep(fake.delay)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                if fake.mode == "error":
                    return self._send(500, {"error": {"message": "model crashed"}})
                if fake.mode == "garbage":
                    return self._send_raw(200, b"this is not json")
                if fake.mode == "empty":
                    content = "   "
                else:
                    content = "The council approved a budget that raises transport spending."
                return self._send(200, {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                })

            def _send(self, status, payload):
                self._send_raw(status, json.dumps(payload).encode())

            def _send_raw(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_openai_backend_success():
    with FakeOpenAI() as fake:
        result = summarize(
            ENGLISH, "en", sentences=2, backend="openai", openai_base_url=fake.base_url,
            openai_model="tiny-llm", openai_api_key="sk-test", timeout=5,
        )
    assert result["method"] == "openai:tiny-llm"
    assert result["text"] == "The council approved a budget that raises transport spending."
    assert result["sentences"] == []
    assert "fallback_reason" not in result
    (req,) = fake.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "tiny-llm"
    assert body["messages"][0]["role"] == "system" and "2 sentences" in body["messages"][0]["content"]
    assert "English" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": ENGLISH}


@pytest.mark.parametrize("mode,reason", [("error", "backend_http_error"), ("garbage", "backend_bad_response"),
                                         ("empty", "backend_empty_response")])
def test_openai_backend_failure_falls_back_to_extractive(mode, reason):
    with FakeOpenAI(mode=mode) as fake:
        result = summarize(ENGLISH, "en", sentences=2, backend="openai",
                           openai_base_url=fake.base_url, openai_model="tiny-llm", timeout=5)
    assert result["method"] == METHOD
    assert result["fallback_reason"].startswith(reason)
    assert len(result["sentences"]) == 2
    assert_exact(ENGLISH, result)
    assert result == {**summarize(ENGLISH, "en", sentences=2), "fallback_reason": result["fallback_reason"]}


def test_openai_backend_timeout_falls_back():
    with FakeOpenAI(delay=2.0) as fake:
        t0 = time.perf_counter()
        result = summarize(SEED.read_text(encoding="utf-8"), "ar", backend="openai",
                           openai_base_url=fake.base_url, openai_model="slow", timeout=0.3)
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.9
    assert result["method"] == METHOD
    assert result["fallback_reason"].startswith("backend_timeout")
    assert_exact(SEED.read_text(encoding="utf-8"), result)


def test_openai_backend_unreachable_falls_back_without_leaking_the_key():
    with socket.socket() as s:  # a free port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = summarize(ENGLISH, "en", backend="openai", openai_base_url=f"http://127.0.0.1:{port}/v1",
                       openai_model="m", openai_api_key="sk-secret", timeout=2)
    assert result["method"] == METHOD
    assert result["fallback_reason"].startswith("backend_unreachable")
    assert "sk-secret" not in json.dumps(result)
    assert_exact(ENGLISH, result)


@pytest.mark.parametrize("kwargs", [{}, {"openai_base_url": "http://127.0.0.1:9/v1"}, {"openai_model": "m"}])
def test_openai_backend_not_configured_falls_back(kwargs):
    result = summarize(ENGLISH, "en", backend="openai", **kwargs)
    assert result["method"] == METHOD
    assert result["fallback_reason"].startswith("backend_not_configured")
    assert_exact(ENGLISH, result)


def test_openai_backend_still_validates_options():
    with pytest.raises(InvalidField):
        summarize(ENGLISH, "en", sentences=0, backend="openai",
                  openai_base_url="http://127.0.0.1:9/v1", openai_model="m")
