"""Per-employee tokens, minted as the portal backend does.

A token is v1.<payload>.<signature>: payload is base64url (no padding) of
{"sub": employee_id, "role": "portal", "exp": unix seconds}, signature is
base64url of HMAC-SHA256(secret, "v1." + payload). The secret is the bytes
of the file given to convsearch-server with --token-secret-file, without
one line ending at the end ("\\n" or "\\r\\n"), exactly as the server reads it.
"""

import base64
import hashlib
import hmac
import json
import re
import time

_LINE_END = re.compile(rb"\r?\n\Z")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _secret_bytes(secret):
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, (bytes, bytearray)):
        raise TypeError("secret must be bytes (the secret file's contents) or str")
    return _LINE_END.sub(b"", bytes(secret))


def read_secret(path):
    """The secret of the file at path, as convsearch-server reads it."""
    with open(path, "rb") as f:
        return _secret_bytes(f.read())


def mint_token(secret, employee_id, ttl_seconds=300, *, now=None):
    """A per-employee token for employee_id, valid ttl_seconds from now.

    secret: the secret file's bytes (one trailing line ending is dropped,
    as the server does) or a str (UTF-8). The server refuses a token living
    longer than its --token-max-ttl (one day by default), and an expired
    one. now (unix seconds) replaces the clock, for tests.
    """
    key = _secret_bytes(secret)
    if not key:
        raise ValueError("empty secret")
    if isinstance(employee_id, bool) or not isinstance(employee_id, int) or employee_id < 1:
        raise ValueError("employee_id must be a positive integer")
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise ValueError("ttl_seconds must be a positive integer")
    now = time.time() if now is None else now
    claims = {"sub": employee_id, "role": "portal", "exp": int(now) + ttl_seconds}
    payload = "v1." + _b64url(json.dumps(claims, separators=(",", ":")).encode("ascii"))
    signature = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return payload + "." + _b64url(signature)
