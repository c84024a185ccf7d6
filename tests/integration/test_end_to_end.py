"""The seed article and an English news story through the real stack."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import wait_job

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"

ENGLISH_NEWS = (
    "WASHINGTON — Microsoft said on Tuesday that it would open a new research centre in Nairobi, "
    "expanding its presence in Kenya after months of talks with the government.\n"
    "Satya Nadella, the company's chief executive, announced the plan at a press conference alongside "
    "President William Ruto, who called the investment a vote of confidence in East Africa.\n"
    "The centre will employ about 200 engineers, Microsoft said, and will work with the University of Nairobi "
    "on language technology for Swahili and other African languages."
)


def assert_offsets(text: str, items: list[dict]) -> None:
    for item in items:
        assert text[item["start"] : item["end"]] == item["text"], item


def test_seed_article_end_to_end(client):
    text = SEED.read_text(encoding="utf-8")
    response = client.post("/v1/documents", json={"text": text})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["document"]["chars"] == len(text)

    job = wait_job(client, job["id"])
    assert job["status"] in ("succeeded", "partially_succeeded"), job
    stored = client.get(f"/v1/jobs/{job['id']}/text")
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "text/plain; charset=utf-8"
    assert stored.text == text

    language = job["tasks"]["language"]
    assert language["status"] == "succeeded"
    assert language["result"]["code"] == "ar"
    assert language["result"]["script"] == "Arab"
    assert 0.5 < language["result"]["confidence"] <= 1.0

    summary = job["tasks"]["summary"]
    assert summary["status"] == "succeeded", summary
    sentences = summary["result"]["sentences"]
    assert 1 <= len(sentences) < 12
    assert_offsets(text, sentences)
    assert [s["start"] for s in sentences] == sorted(s["start"] for s in sentences)
    # The Arabic comma never ends a sentence.
    assert all(not s["text"].endswith("،") for s in sentences)

    entities = job["tasks"]["entities"]
    if entities["status"] == "skipped":
        assert entities["error"]["code"] == "no_model_for_language"
        assert job["status"] == "partially_succeeded"
    else:
        assert entities["status"] == "succeeded", entities
        assert entities["result"]["entities"], "an Arabic model must find the seed's entities"
        assert_offsets(text, entities["result"]["entities"])


def test_english_news_entities(client):
    response = client.post("/v1/documents", json={"text": ENGLISH_NEWS, "options": {"summary": {"sentences": 1}}})
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["tasks"]["language"]["result"]["code"] == "en"
    found = job["tasks"]["entities"]["result"]["entities"]
    assert_offsets(ENGLISH_NEWS, found)
    labels = {(e["text"], e["label"]) for e in found}
    assert ("Satya Nadella", "PER") in labels, labels
    assert any(label == "ORG" and "Microsoft" in text for text, label in labels), labels
    assert any(label == "LOC" and text in ("Nairobi", "Kenya") for text, label in labels), labels
    assert all(0.0 <= e["score"] <= 1.0 for e in found)
    assert len(job["tasks"]["summary"]["result"]["sentences"]) == 1


def test_client_language_skips_detection(client):
    response = client.post("/v1/documents", json={"text": ENGLISH_NEWS, "language": "en", "tasks": ["entities"]})
    assert response.status_code == 202
    job = wait_job(client, response.json()["id"])
    assert set(job["tasks"]) == {"entities"}
    assert job["status"] == "succeeded"
    assert job["language"] == "en"


def test_language_without_entity_model_is_skipped_not_empty(client):
    # Yoruba: detected, summarised, but no entity model is shipped for it.
    text = (
        "Gbogbo ènìyàn ni a bí ní òmìnira; iyì àti ẹ̀tọ́ kọ̀ọ̀kan sì dọ́gba. "
        "Wọ́n ní ẹ̀bùn ti làákàyè àti ti ẹ̀rí-ọkàn, ó sì yẹ kí wọn ó máa hùwà sí ara wọn gẹ́gẹ́ bí ọmọ ìyá."
    )
    response = client.post("/v1/documents", json={"text": text, "language": "yo"})
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"])
    entities = job["tasks"]["entities"]
    assert entities["status"] == "skipped"
    assert entities["error"]["code"] == "no_model_for_language"
    assert entities["result"] is None
    assert job["status"] == "partially_succeeded"


def test_batch_returns_one_job_per_document(client):
    docs = [{"text": ENGLISH_NEWS, "tasks": ["language"]}, {"text": SEED.read_text(encoding="utf-8"), "tasks": ["language"]}]
    response = client.post("/v1/batches", json={"documents": docs})
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert len(jobs) == 2 and jobs[0]["id"] != jobs[1]["id"]
    codes = [wait_job(client, job["id"])["tasks"]["language"]["result"]["code"] for job in jobs]
    assert codes == ["en", "ar"]
