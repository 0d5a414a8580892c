"""Values keyed by the server's secret: the A/B order each annotator is shown, signed cursors.

Nothing here can be computed or forged by a caller who knows only public ids. The app keys it
with its secret key at start (`configure`); a process that never started the app (the CLI, a
simulation) keys it from its settings on first use. Nodes serving one database share the
secret key (WHSTUDIO_SECRET_KEY), so they agree on every order and accept each other's cursors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_secret: bytes | None = None
_MAC_BYTES = 16


def configure(secret: str) -> None:
    """Key every derived value with this secret (the app's secret key)."""
    global _secret
    _secret = secret.encode()


def _key(purpose: str) -> bytes:
    if _secret is None:
        from whstudio.settings import Settings

        configure(Settings().resolved_secret_key())
    assert _secret is not None
    return hmac.new(_secret, f"whstudio:{purpose}".encode(), hashlib.sha256).digest()


def digest(purpose: str, message: str) -> bytes:
    """Return a keyed digest of `message` for one purpose (keys differ between purposes)."""
    return hmac.new(_key(purpose), message.encode(), hashlib.sha256).digest()


def seal(purpose: str, payload: bytes) -> str:
    """Return `payload` with its signature, as URL-safe text (not encrypted: put nothing
    secret in it)."""
    mac = hmac.new(_key(purpose), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def unseal(purpose: str, token: str) -> bytes | None:
    """Return the payload `seal` signed, or None when the text is not one it made."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    good = hmac.new(_key(purpose), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return payload if len(mac) == _MAC_BYTES and hmac.compare_digest(mac, good) else None
