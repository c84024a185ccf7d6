"""The page at GET /, in a real headless Chromium against the real stack: submit a
document, watch it, and check that every highlight covers exactly the code points its
offsets name — for the Arabic seed (right-to-left) and for English with emoji."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import API_KEY, MAX_UPLOAD
from tests.utils.stack import REPO

SEED = REPO / "seeds" / "000_53360ea83f30db1c.txt"
# Characters outside the BMP (two UTF-16 units each) before and between the names: a
# page that mixed code points and UTF-16 units would shift every highlight after them.
ENGLISH = (
    "🚀 Breaking news 🌍: Angela Merkel met Emmanuel Macron in Paris on Monday 😀. "
    "The leaders of Germany and France discussed the European Union budget with officials from the United Nations. "
    "𝒳 Later, Merkel flew to Berlin, where Microsoft and Siemens announced a joint project 🎉. "
    "Macron stayed in Paris to meet students at the Sorbonne."
)
WAIT_MS = 180_000


def _submit(page, url: str, text: str, *, key: str | None = None) -> dict:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")
    if key:
        page.fill("#api-key", key)
    page.fill("#text", text)
    page.click("#submit")
    page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
    return page.eval_on_selector("#result", "el => ({...el.dataset, dir: el.dir})")


def _job(url: str, job_id: str, key: str | None = None) -> tuple[dict, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        job = http.get(f"/v1/jobs/{job_id}").json()
        text = http.get(f"/v1/jobs/{job_id}/text").content.decode("utf-8")
    return job, text


def _check_highlights(page, job: dict, text: str) -> tuple[list[dict], list[dict]]:
    """Every <mark> and every summary element covers exactly text[start:end] (code points)."""
    # Nothing lost or doubled: the rendered document is the text, character for character.
    assert page.eval_on_selector("#document", "el => el.textContent") == text

    marks = page.eval_on_selector_all(
        "mark", "els => els.map(e => ({label: e.dataset.label, start: +e.dataset.start, end: +e.dataset.end, text: e.textContent}))"
    )
    for mark in marks:
        assert mark["label"] in {"PER", "ORG", "LOC", "MISC"}, mark
        assert mark["text"] == text[mark["start"] : mark["end"]], mark
    entities = job["tasks"].get("entities")
    if entities and entities["status"] == "succeeded":
        expected = {(e["start"], e["end"], e["label"]) for e in entities["result"]["entities"]}
        assert {(m["start"], m["end"], m["label"]) for m in marks} == expected
        if expected:
            assert marks, "entities succeeded but the page shows no <mark>"
    else:
        assert not marks

    summary = page.eval_on_selector_all(
        "#document [data-summary]",
        "els => els.map(e => ({rank: +e.dataset.summary, start: +e.dataset.start, end: +e.dataset.end, text: e.textContent}))",
    )
    for part in summary:
        assert part["text"] == text[part["start"] : part["end"]], part
    state = job["tasks"].get("summary")
    if state and state["status"] == "succeeded":
        sentences = state["result"]["sentences"]
        assert sentences and summary, "the summary succeeded but no sentence is marked in the text"
        assert {p["rank"] for p in summary} == set(range(len(sentences)))
        listed = page.eval_on_selector_all("#summary-out li", "els => els.length")
        assert listed == len(sentences)
    return marks, summary


def _check_entity_click(page, job: dict) -> None:
    """Choosing a grouped entity lights up exactly its mentions."""
    state = job["tasks"].get("entities")
    if not state or state["status"] != "succeeded" or not state["result"]["entities"]:
        return
    first = page.locator("#entities-out button.entity-button").first
    first.click()
    assert first.get_attribute("aria-pressed") == "true"
    lit = page.eval_on_selector_all("#document mark.lit", "els => els.map(e => [+e.dataset.start, +e.dataset.end])")
    label, name = first.get_attribute("data-label"), first.get_attribute("data-group")
    groups = [g for g in state["result"].get("groups") or [] if g["label"] == label and g["text"] == name]
    if groups:
        assert sorted(map(tuple, lit)) == sorted(map(tuple, groups[0]["mentions"]))
    else:
        assert lit


def test_page_and_assets_are_served_from_the_package(open_api):
    with httpx.Client(base_url=open_api, timeout=10) as http:
        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        body = page.text
        for hook in ('id="text"', 'id="file"', 'id="submit"', 'id="result"'):
            assert hook in body
        assert "http://" not in body and "https://" not in body, "the page must not load anything remote"
        assert f'content="{MAX_UPLOAD}"' in body
        for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
            asset = http.get(f"/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
            assert "https://" not in asset.text
        for bad in ("/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/nope.js", "/static/.hidden.js"):
            response = http.get(bad)
            assert response.status_code == 404 and response.json()["error"]["code"]


def test_arabic_seed_renders_rtl_with_exact_highlights(page, open_api, artifacts):
    seed = SEED.read_text(encoding="utf-8")
    result = _submit(page, open_api, seed)
    job, text = _job(open_api, result["jobId"])
    assert text == seed
    assert result["dir"] == "rtl"
    assert result["transport"] == "events"
    assert job["tasks"]["language"]["result"]["code"] == "ar"
    assert page.get_attribute("#document", "lang") == "ar"
    assert "Arabic" in page.inner_text("#language-out")
    assert page.eval_on_selector_all("#task-list li", "els => els.map(e => e.dataset.status)") == [
        job["tasks"][name]["status"] for name in job["tasks"]
    ]
    marks, summary = _check_highlights(page, job, text)
    assert summary, "the seed always gets a summary"
    page.screenshot(path=str(artifacts / "seed.png"), full_page=True)
    _check_entity_click(page, job)
    (artifacts / "seed-job.json").write_text(json.dumps(job, ensure_ascii=False, indent=1), encoding="utf-8")


def test_english_with_emoji_highlights_do_not_drift(page, open_api, artifacts):
    page.goto(open_api + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#text", ENGLISH)
    page.press("#text", "Control+Enter")  # keyboard submission
    page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
    result = page.eval_on_selector("#result", "el => ({...el.dataset, dir: el.dir})")
    job, text = _job(open_api, result["jobId"])
    assert text == ENGLISH
    assert result["dir"] == "ltr"
    assert job["tasks"]["language"]["result"]["code"] == "en"
    _check_highlights(page, job, text)
    page.screenshot(path=str(artifacts / "english-emoji.png"), full_page=True)
    _check_entity_click(page, job)


def test_uploaded_file_with_chosen_tasks(page, open_api, tmp_path):
    """A UTF-16 .txt file, only two tasks: the page sends multipart and renders the
    extracted text the offsets refer to."""
    upload = tmp_path / "note.txt"
    upload.write_text(ENGLISH, encoding="utf-16")
    page.goto(open_api + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#file", str(upload))
    page.uncheck("input[name=tasks][value=entities]")
    page.click("#submit")
    page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
    result = page.eval_on_selector("#result", "el => ({...el.dataset, dir: el.dir})")
    job, text = _job(open_api, result["jobId"])
    assert set(job["tasks"]) == {"language", "summary"}
    assert job["document"]["filename"] == "note.txt"
    assert text.strip() == ENGLISH
    assert result["dir"] == "ltr"
    assert page.eval_on_selector_all("#task-list li", "els => els.map(e => e.dataset.task)") == ["language", "summary"]
    _check_highlights(page, job, text)
    assert "Not requested" in page.inner_text("#entities-out")


def test_offsets_outside_the_bmp_map_exactly(page, open_api):
    """The renderer alone, on made-up results, so it is checked whether or not an entity
    model exists yet: astral characters, Arabic, combining marks, a CRLF, a leading BOM,
    an entity crossing a summary sentence's edge and adjacent entities."""
    text = "\ufeff😀 Ali 🇪🇬 met Zoë in القاهرة 𝒳.\r\nمحمد 👩‍👩‍👧 visited Dubaï and ÉtatsUnis. End 🎉"
    names = ["Ali", "Zoë", "القاهرة", "محمد", "Dubaï", "État", "sUnis", "End"]
    labels = ["PER", "PER", "LOC", "PER", "LOC", "ORG", "MISC", "MISC"]
    entities = []
    for name, label in zip(names, labels):
        start = text.index(name)
        entities.append({"text": name, "label": label, "start": start, "end": start + len(name), "score": 0.9})
    first_end = text.index("\r\n") + 2
    sentences = [
        {"text": text[1:first_end], "start": 1, "end": first_end, "score": 0.5},
        # ends inside "Dubaï": that entity crosses the sentence edge and must not be split
        {"text": "", "start": first_end, "end": text.index("Dubaï") + 2, "score": 0.4},
    ]
    job = {
        "id": "0" * 24,
        "status": "succeeded",
        "language": None,
        "tasks": {
            "language": {"status": "succeeded", "result": {"code": "ar", "name": "Arabic", "confidence": 0.6, "script": "Arab"}},
            "entities": {"status": "succeeded", "result": {"model": "test", "entities": entities}},
            "summary": {"status": "succeeded", "result": {"method": "test", "text": "", "sentences": sentences}},
        },
    }
    page.goto(open_api + "/")
    page.wait_for_selector("body[data-ready=true]")
    shown = page.evaluate("([text, job]) => window.docenrich.render(text, job)", [text, job])
    assert shown == {"marks": len(entities), "sentences": 2, "dir": "rtl"}
    marks, summary = _check_highlights(page, job, text)
    assert len(marks) == len(entities)
    assert [p["rank"] for p in summary] == [0, 1]
    assert summary[1]["end"] == text.index("Dubaï")  # cut before the entity, not through it
    # The directions the task names, by script first and by code otherwise.
    directions = page.evaluate(
        """() => [["ar","Arab"],["fa","Arab"],["ur","Arab"],["he","Hebr"],["ps",null],["sd",null],["ug",null],
                  ["yi",null],["dv","Thaa"],["ku","Arab"],["ku","Latn"],["en","Latn"],["zh","Hani"],["ckb",null]]
                 .map(([code, script]) => window.docenrich.directionFor({code, script}))"""
    )
    assert directions == ["rtl"] * 10 + ["ltr", "ltr", "ltr", "rtl"]


def test_errors_are_said_in_words(page, open_api, tmp_path):
    page.goto(open_api + "/")
    page.wait_for_selector("body[data-ready=true]")

    page.click("#submit")  # nothing to send
    assert "nothing to enrich" in page.inner_text("#error")

    too_big = tmp_path / "big.txt"
    too_big.write_bytes(b"a" * (MAX_UPLOAD + 1))
    page.set_input_files("#file", str(too_big))
    page.click("#submit")
    assert page.is_visible("#error") and "too large" in page.inner_text("#error")

    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    page.set_input_files("#file", str(image))
    page.click("#submit")
    page.wait_for_selector("#error[data-status='415']")
    assert "not supported" in page.inner_text("#error")
    assert page.get_attribute("#result", "data-state") == "error"
    assert page.is_enabled("#submit")

    # A busy service (simulated at the network layer: the real one needs a full queue).
    page.click("#clear-file")
    page.route(
        "**/v1/documents",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "7", "Content-Type": "application/json"},
            body=json.dumps({"error": {"code": "queue_full", "message": "The queue is full.", "details": {}}}),
        ),
    )
    page.fill("#text", "Some text.")
    page.click("#submit")
    page.wait_for_selector("#error[data-status='503']")
    message = page.inner_text("#error")
    assert "busy" in message and "7 seconds" in message


def test_polls_when_server_sent_events_fail(page, open_api):
    """An API without the events route (or a proxy that breaks the stream): the page polls."""
    page.route("**/v1/jobs/*/events", lambda route: route.fulfill(status=404, body="not here"))
    result = _submit(page, open_api, ENGLISH)
    assert result["transport"] == "polling"
    job, text = _job(open_api, result["jobId"])
    _check_highlights(page, job, text)


def test_api_key_is_required_and_polling_is_used(page, keyed_api):
    page.goto(keyed_api + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert "required" in page.inner_text("label[for=api-key]")
    page.fill("#text", ENGLISH)
    page.click("#submit")
    page.wait_for_selector("#error[data-status='401']")
    assert "API key" in page.inner_text("#error")

    result = _submit(page, keyed_api, ENGLISH, key=API_KEY)
    assert result["transport"] == "polling"  # EventSource cannot send the key
    assert page.evaluate("sessionStorage.getItem('docenrich.apiKey')") == API_KEY
    job, text = _job(keyed_api, result["jobId"], API_KEY)
    _check_highlights(page, job, text)


def test_markup_is_accessible(page, open_api):
    page.goto(open_api + "/")
    page.wait_for_selector("body[data-ready=true]")
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select')]
                 .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.id || el.name)"""
    )
    assert unlabeled == []
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_attribute("#error", "role") == "alert"
    # Keyboard: Tab reaches the text box, the file input and the submit button in order.
    order = []
    page.focus("body")
    for _ in range(20):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order.index("text") < order.index("file") < order.index("submit")
