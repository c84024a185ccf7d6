"""Webhook safety: which callback URLs may be called, and how deliveries are signed.

A callback URL is refused when its host is, or resolves to, an address that is not
globally routable (loopback, private, link-local, carrier-grade NAT, multicast, reserved,
IPv4-mapped forms of those, ...), unless ``DOCENRICH_WEBHOOK_ALLOW_PRIVATE=true``. Every
address the name resolves to must be public, so a name with one public and one private
record is refused. The check runs when the job is submitted and again before each
delivery (DNS answers change).

Signature: ``Docenrich-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256(secret, ``f"{t}."`` + raw body). Receivers recompute it over the exact bytes
received and reject stale timestamps (see ``verify``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

from services.core.errors import InvalidField

SIGNATURE_HEADER = "Docenrich-Signature"
DEFAULT_TOLERANCE = 300

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refused(message: str) -> InvalidField:
    return InvalidField(message, details={"fields": [{"field": "callback_url", "message": message}]})


def is_public(address: IPAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name stands for (a literal IP stands for itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_callback_url(url: str, *, allow_private: bool) -> None:
    """Raise ``InvalidField`` (422) for a URL docenrich must not call."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused("callback_url must be an absolute http(s) URL.")
    if parts.username or parts.password:
        raise _refused("callback_url must not contain credentials; authenticate the webhook with its signature.")
    if allow_private:
        return
    host = parts.hostname.strip("[]")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise _refused(f"callback_url host {host!r} does not resolve.") from None
    private = sorted({str(a) for a in addresses if not is_public(a)})
    if private or not addresses:
        raise _refused(
            f"callback_url host {host!r} is a private, loopback or reserved address ({', '.join(private)}); "
            "use a public URL (operators may set DOCENRICH_WEBHOOK_ALLOW_PRIVATE=true)."
        )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance``
    seconds old (a receiver's check; also what the README snippet does)."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
