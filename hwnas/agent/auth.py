"""Request and answer authentication: an HMAC-SHA256 of the shared token over what was sent.

A request carries its time, a fresh nonce, the SHA-256 of what authenticates its body (the empty body,
or the measuring manifest, which itself lists every model's SHA-256) and a signature over method, path,
time, nonce and that digest. The agent refuses a signature that does not match, a time more than
:data:`SKEW_S` away from its clock and a nonce it has seen: a captured request cannot be replayed. Every
answer is signed over the request's nonce, its status and its body, so the client knows it came from an
agent holding the token and answers this very request. The token itself never travels.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping

SKEW_S = 300.0  # largest difference between the client's clock and the agent's
HDR_TIME = "X-Hwnas-Time"
HDR_NONCE = "X-Hwnas-Nonce"
HDR_DIGEST = "X-Hwnas-Digest"
HDR_SIGNATURE = "X-Hwnas-Signature"
_MAX_FIELD = 128  # the longest header value worth reading


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mac(token: str, *fields: str) -> str:
    return hmac.new(token.encode(), "\n".join(fields).encode(), hashlib.sha256).hexdigest()


def request_signature(token: str, method: str, path: str, stamp: str, nonce: str, body_digest: str) -> str:
    return _mac(token, "request", method.upper(), path, stamp, nonce, body_digest)


def answer_signature(token: str, nonce: str, status: int, body: bytes) -> str:
    return _mac(token, "answer", nonce, str(status), digest(body))


def sign_request(token: str, method: str, path: str, body_digest: str = "") -> dict[str, str]:
    """The headers that authenticate one request (a new nonce every call)."""
    stamp, nonce = f"{time.time():.3f}", secrets.token_hex(16)
    body_digest = body_digest or digest(b"")
    return {
        HDR_TIME: stamp,
        HDR_NONCE: nonce,
        HDR_DIGEST: body_digest,
        HDR_SIGNATURE: request_signature(token, method, path, stamp, nonce, body_digest),
    }


def same(a: str, b: str) -> bool:
    """Constant-time equality of two header values (False for anything not plain ASCII)."""
    return a.isascii() and b.isascii() and hmac.compare_digest(a.encode(), b.encode())


def _field(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    return value if len(value) <= _MAX_FIELD and value.isascii() and value.isprintable() else ""


class NonceBook:
    """The nonces of the last ``2 * SKEW_S`` seconds (older requests are refused by their time anyway)."""

    def __init__(self, cap: int = 200_000) -> None:
        self.cap = cap
        self._seen: OrderedDict[str, float] = OrderedDict()

    def add(self, nonce: str, now: float) -> bool:
        """False if ``nonce`` was seen (a replay) or the book is full of fresh nonces."""
        while self._seen and next(iter(self._seen.values())) < now - 2 * SKEW_S:
            self._seen.popitem(last=False)
        if nonce in self._seen or len(self._seen) >= self.cap:
            return False
        self._seen[nonce] = now
        return True


def check_request(
    token: str, method: str, path: str, headers: Mapping[str, str], book: NonceBook, now: float | None = None
) -> str | None:
    """None if the request is authentic and fresh, else why not (one line, safe to send back)."""
    now = time.time() if now is None else now
    stamp, nonce = _field(headers, HDR_TIME), _field(headers, HDR_NONCE)
    body_digest, sig = _field(headers, HDR_DIGEST), _field(headers, HDR_SIGNATURE)
    if not (stamp and nonce and body_digest and sig):
        return "missing or malformed authentication (an hwnas client signs every request with the token)"
    if not same(sig, request_signature(token, method, path, stamp, nonce, body_digest)):
        return "wrong signature: the client's token is not this agent's"
    try:
        skew = float(stamp) - now
    except ValueError:
        return "malformed request time"
    if not abs(skew) <= SKEW_S:
        return f"request time {skew:+.0f} s away from the agent's clock (at most {SKEW_S:g} s): synchronise the clocks"
    if not book.add(nonce, now):
        return "request already seen (a replay), or too many requests"
    return None
