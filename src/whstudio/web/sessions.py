"""The signed session cookie and the pre-sign-in CSRF cookie."""

from __future__ import annotations

from uuid import UUID

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "whs_session"
LOGIN_CSRF_COOKIE = "whs_login_csrf"


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
