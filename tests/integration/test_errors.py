"""Every client mistake gets the one error shape with the right status; never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import KEYS, MAX_UPLOAD, assert_error


def test_empty_text(client):
    assert_error(client.post("/v1/documents", json={"text": ""}), 422, "invalid_field")
    assert_error(client.post("/v1/documents", json={"text": "   \n\t "}), 422, "empty_text")


def test_invalid_json(client):
    response = client.post("/v1/documents", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


def test_empty_body(client):
    assert_error(client.post("/v1/documents", content=b"", headers={"content-type": "application/json"}), 400, "empty_body")


def test_json_that_is_not_an_object(client):
    assert_error(client.post("/v1/documents", json=["text"]), 422, "invalid_field")


def test_unknown_task(client):
    error = assert_error(client.post("/v1/documents", json={"text": "hello world", "tasks": ["sentiment"]}), 422, "invalid_field")
    assert error["details"]["fields"][0]["field"].startswith("tasks")


def test_unknown_field(client):
    assert_error(client.post("/v1/documents", json={"text": "hello", "colour": "blue"}), 422, "invalid_field")


def test_unknown_language_code(client):
    error = assert_error(client.post("/v1/documents", json={"text": "hello world", "language": "xx-notreal"}), 422)
    assert "language" in str(error["details"])


def test_bad_summary_option(client):
    assert_error(client.post("/v1/documents", json={"text": "hello", "options": {"summary": {"sentences": 0}}}), 422, "invalid_field")


def test_unsupported_media_type(client):
    response = client.post("/v1/documents", content=b"text=hello", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "unsupported_media_type")
    response = client.post("/v1/documents", content=b"hello")
    assert_error(response, 415, "unsupported_media_type")


def test_oversize_body_declared(client):
    body = b'{"text": "' + b"a" * (MAX_UPLOAD + 10) + b'"}'
    assert_error(client.post("/v1/documents", content=body, headers={"content-type": "application/json"}), 413, "payload_too_large")


def test_oversize_body_streamed_without_length(client):
    chunk = b"a" * 65536

    def body():
        yield b'{"text": "'
        for _ in range(MAX_UPLOAD // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = client.post("/v1/documents", content=body(), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_text_over_char_limit(client):
    assert_error(client.post("/v1/documents", json={"text": "ab " * 70000}), 413, "text_too_large")


def test_unknown_job_is_404(client):
    assert_error(client.get("/v1/jobs/0123456789abcdef01234567"), 404, "job_not_found")
    assert_error(client.get("/v1/jobs/not-a-job-id"), 404, "job_not_found")
    assert_error(client.get("/v1/jobs/0123456789abcdef01234567/text"), 404, "job_not_found")
    assert_error(client.delete("/v1/jobs/0123456789abcdef01234567"), 404, "job_not_found")


def test_unknown_route_is_404_in_error_shape(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")


@pytest.mark.parametrize(
    "headers, code",
    [({}, "missing_api_key"), ({"Authorization": "Bearer wrong"}, "invalid_api_key"), ({"Authorization": "Basic abc"}, "missing_api_key")],
)
def test_api_key_required(api, headers, code):
    response = httpx.post(f"{api}/v1/documents", json={"text": "hello"}, headers=headers)
    assert_error(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


def test_idempotency_key_too_long(client, api):
    response = client.post("/v1/documents", json={"text": "hello"}, headers={"Idempotency-Key": "k" * 256})
    error = assert_error(response, 422, "invalid_field")
    assert error["details"]["fields"] == [{"field": "header.idempotency-key", "message": "String should have at most 255 characters"}]
    assert client.post("/v1/documents", json={"text": "hello"}, headers={"Idempotency-Key": "k" * 255}).status_code == 202
    # the API key is checked first: no hint about the request to an unknown caller
    assert_error(httpx.post(f"{api}/v1/documents", json={"text": "hello"}, headers={"Idempotency-Key": "k" * 256}), 401, "missing_api_key")


def test_batch_limits(client):
    assert_error(client.post("/v1/batches", json={"documents": []}), 422, "invalid_field")
    too_many = {"documents": [{"text": "hello"}] * 6}
    assert_error(client.post("/v1/batches", json=too_many), 413, "batch_too_large")
    error = assert_error(client.post("/v1/batches", json={"documents": [{"text": "fine"}, {"text": " "}]}), 422, "empty_text")
    assert error["details"]["index"] == 1


def test_health_endpoints_open_without_key(api):
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api}/readyz")
    assert ready.status_code == 200
    assert all(n >= 1 for n in ready.json()["workers"].values())
    metrics = httpx.get(f"{api}/metrics")
    assert metrics.status_code == 200
    assert "docenrich_http_requests_total" in metrics.text
    assert 'docenrich_live_workers{queue="entities"}' in metrics.text
    assert httpx.get(f"{api}/docs").status_code == 200
    assert set(httpx.get(f"{api}/openapi.json").json()["paths"]) >= {"/v1/documents", "/v1/batches", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/text"}


def test_keys_are_not_accepted_for_other_schemes(api):
    response = httpx.post(f"{api}/v1/documents", json={"text": "hello"}, headers={"Authorization": f"Token {KEYS['alice']}"})
    assert_error(response, 401)
