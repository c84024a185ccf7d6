"""Every upload type through the real API: parsed at upload, offsets into the extracted text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import assert_error, wait_job
from tests.utils.documents import make_docx, make_pdf, para

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_53360ea83f30db1c.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")
ENGLISH = "The European Central Bank kept interest rates unchanged on Thursday in Frankfurt."


def upload(client, name: str, data: bytes, content_type: str = "application/octet-stream", **fields: str):
    return client.post("/v1/documents", files={"file": (name, data, content_type)}, data=fields)


def accepted_text(client, response) -> tuple[dict, str]:
    assert response.status_code == 202, response.text
    job = response.json()
    return job, client.get(f"/v1/jobs/{job['id']}/text").text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1256"])
def test_seed_as_text_in_any_encoding(client, encoding):
    job, text = accepted_text(client, upload(client, "seed.txt", SEED_TEXT.encode(encoding), tasks="language"))
    assert text == SEED_TEXT
    assert job["document"]["content_type"] == "text/plain"
    assert job["document"]["filename"] == "seed.txt"
    assert wait_job(client, job["id"])["tasks"]["language"]["result"]["code"] == "ar"


def test_html_upload_keeps_visible_text_only(client):
    html = f"<html><head><title>t</title><script>alert('x')</script><style>p{{}}</style></head><body><p>{ENGLISH}</p></body></html>"
    job, text = accepted_text(client, upload(client, "page.bin", html.encode(), tasks="language"))
    assert job["document"]["content_type"] == "text/html"
    assert ENGLISH in text and "alert" not in text and "p{}" not in text


def test_markdown_upload(client):
    md = f"# Rates\n\n{ENGLISH}\n\n* one [link](http://example.com)\n"
    job, text = accepted_text(client, upload(client, "notes.md", md.encode(), "text/markdown", tasks="summary"))
    assert job["document"]["content_type"] == "text/markdown"
    assert "#" not in text and "http://example.com" not in text and ENGLISH in text
    done = wait_job(client, job["id"])
    for sentence in done["tasks"]["summary"]["result"]["sentences"]:
        assert text[sentence["start"] : sentence["end"]] == sentence["text"]


def test_pdf_upload(client):
    job, text = accepted_text(client, upload(client, "report", make_pdf([ENGLISH]), tasks="language,summary"))
    assert job["document"]["content_type"] == "application/pdf"
    assert "European Central Bank" in text
    assert wait_job(client, job["id"])["status"] == "succeeded"


def test_docx_upload_with_arabic(client):
    body = "".join(para(line) for line in SEED_TEXT.splitlines() if line.strip())
    job, text = accepted_text(client, upload(client, "seed.docx", make_docx(body), tasks="language"))
    assert job["document"]["content_type"].endswith("wordprocessingml.document")
    assert "البنتاغون" in text
    assert wait_job(client, job["id"])["tasks"]["language"]["result"]["code"] == "ar"


def test_upload_language_field_validated(client):
    assert_error(upload(client, "a.txt", ENGLISH.encode(), language="zz-bogus"), 422)


def test_upload_without_file_field(client):
    response = client.post("/v1/documents", data={"language": "en"}, files={"other": ("a.txt", b"hi", "text/plain")})
    assert_error(response, 422, "invalid_field")


def test_unsupported_file_type(client):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    assert_error(upload(client, "picture.txt", png), 415, "unsupported_media_type")
    zipped = make_docx(None, extra={"hello.txt": b"hi"})
    assert upload(client, "archive.zip", zipped).status_code in (415, 422)


def test_oversize_upload(client):
    from tests.integration.conftest import MAX_UPLOAD

    assert_error(upload(client, "big.txt", b"a" * (MAX_UPLOAD + 1)), 413, "payload_too_large")
