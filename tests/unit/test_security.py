"""Passwords, tokens, CSRF and sign-in throttling, without a database."""

from __future__ import annotations

from whstudio.domain import security
from whstudio.domain.users import throttle_delay


def test_passwords_verify_only_with_the_right_password():
    digest = security.hash_password("s3cret-pass")
    assert digest.startswith("$argon2id$")
    assert security.verify_password(digest, "s3cret-pass")
    assert not security.verify_password(digest, "wrong")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("garbage", "anything")


def test_tokens_are_random_and_stored_only_as_hashes():
    token, prefix, digest = security.new_api_token()
    other, _, _ = security.new_api_token()
    assert token != other and token.startswith(f"whs_{prefix}_")
    assert digest == security.token_hash(token) and len(digest) == 32
    assert token.encode() not in digest


def test_csrf_tokens_are_bound_to_their_session():
    token = security.csrf_token("k", "session-1")
    assert security.csrf_valid("k", "session-1", token)
    assert not security.csrf_valid("k", "session-2", token)
    assert not security.csrf_valid("other-key", "session-1", token)
    assert not security.csrf_valid("k", "session-1", None)


def test_throttle_waits_grow_after_the_free_failures_and_are_capped():
    assert [throttle_delay(n, 3) for n in range(6)] == [0, 0, 0, 2, 4, 8]
    assert throttle_delay(100, 3) == 15 * 60
