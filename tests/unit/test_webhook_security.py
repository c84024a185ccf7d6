"""Callback URL rules and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.core import webhook_security as ws
from services.core.errors import InvalidField


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x", "http://127.8.9.10/x", "http://10.0.0.1/x", "http://172.16.5.4/x", "http://192.168.0.1/x",
        "http://169.254.169.254/latest", "http://100.64.0.1/x", "http://0.0.0.0/x", "http://224.0.0.1/x",
        "http://[::1]/x", "http://[fe80::1]/x", "http://[fc00::1]/x", "http://[::ffff:10.0.0.1]/x", "http://localhost/x",
        "http://no-such-host.invalid/x", "ftp://8.8.8.8/x", "http://user:pw@8.8.8.8/x", "/relative",
    ],
)
def test_refused(url):
    with pytest.raises(InvalidField) as info:
        ws.check_callback_url(url, allow_private=False)
    assert info.value.details["fields"][0]["field"] == "callback_url"


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "https://1.1.1.1:8443/hook", "http://[2606:4700:4700::1111]/hook"])
def test_public_literal_addresses_pass(url):
    ws.check_callback_url(url, allow_private=False)


def test_allow_private_lets_loopback_through_but_not_other_schemes():
    ws.check_callback_url("http://127.0.0.1:8080/hook", allow_private=True)
    with pytest.raises(InvalidField):
        ws.check_callback_url("file:///etc/passwd", allow_private=True)


def test_every_resolved_address_must_be_public(monkeypatch):
    monkeypatch.setattr(ws.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("8.8.8.8", 80)), (2, 1, 6, "", ("10.0.0.5", 80))])
    with pytest.raises(InvalidField, match="10.0.0.5"):
        ws.check_callback_url("http://mixed.example/hook", allow_private=False)


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = '{"type":"job.finished","job":{"id":"x","text":"نص"}}'.encode()
    header = ws.signature_header("s3cret", body, timestamp=1_700_000_000)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert ws.verify("s3cret", header, body, now=1_700_000_100)
    assert not ws.verify("s3cret", header, body, now=1_700_000_400)  # too old
    assert not ws.verify("other", header, body, now=1_700_000_100)
    assert not ws.verify("s3cret", header, body + b"\n", now=1_700_000_100)
    assert not ws.verify("s3cret", "garbage", body)
