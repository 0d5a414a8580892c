"""The signed session cookie and the pre-sign-in CSRF cookie."""

from __future__ import annotations

from uuid import UUID

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "whs_session"
LOGIN_CSRF_COOKIE = "whs_login_csrf"
DEVICE_COOKIE = "whs_device"
DEVICE_MAX_AGE = 365 * 24 * 3600


class SessionCodec:
    def __init__(self, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="whstudio.session")
        self.max_age = max_age

    def encode(self, session_id: UUID) -> str:
        return self._serializer.dumps(str(session_id))

    def decode(self, value: str | None) -> UUID | None:
        """Return the session id of a valid cookie, or None for a missing, forged or stale one."""
        if not value or len(value) > 500:
            return None
        try:
            raw = self._serializer.loads(value, max_age=self.max_age)
            return UUID(raw)
        except (BadSignature, ValueError, TypeError):
            return None


class DeviceCodec:
    """The device cookie: set when a browser signs in, it names the account and a random id for
    that browser. Sign-in tries that carry it for the name they try are counted for that browser
    alone (users.authenticate) and are not held by the per-address and overall limits, so that
    others' failures never keep a person out of their own account (OWASP's "device cookies")."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="whstudio.device")

    def encode(self, username: str, device: str) -> str:
        return self._serializer.dumps([username.lower(), device])

    def device_for(self, value: str | None, username: str) -> str | None:
        """The browser's id when the cookie is valid and names `username` (any case)."""
        if not value or len(value) > 500:
            return None
        try:
            name, device = self._serializer.loads(value, max_age=DEVICE_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(device, str) or name != username.lower():
            return None
        return device
