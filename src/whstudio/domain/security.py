"""Password hashing (in threads of its own), API token material, and signed values; no
database."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "whs_"
T = TypeVar("T")

_hasher = PasswordHasher()
# Verified against when the user does not exist, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


# Passwords people pick first, and that every guessing list tries first (a short list from the
# public lists of leaked passwords, at least 8 characters long, as the minimum is 8).
COMMON_PASSWORDS = frozenset(
    [
        "password",
        "password1",
        "password12",
        "password123",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "12341234",
        "11111111",
        "00000000",
        "88888888",
        "87654321",
        "987654321",
        "123123123",
        "11223344",
        "qwertyui",
        "qwertyuiop",
        "qwerty12",
        "qwerty123",
        "qwerty1234",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "zaq12wsx",
        "q1w2e3r4",
        "qazwsxedc",
        "asdfghjk",
        "asdfghjkl",
        "abcd1234",
        "abc12345",
        "aa123456",
        "a1234567",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "football",
        "baseball",
        "princess",
        "whatever",
        "trustno1",
        "superman",
        "starwars",
        "welcome1",
        "welcome123",
        "letmein1",
        "changeme",
        "administrator",
        "admin123",
        "admin1234",
        "monkey123",
        "dragon123",
        "michael1",
        "computer",
        "internet",
        "1qazxsw2",
        "qweasdzxc",
    ]
)


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a password is too easy to guess, or None: shorter than 8 characters, one of the
    passwords every guessing list tries first, one or two characters repeated, a run of
    consecutive characters (12345678, abcdefgh), or the account's own name in it."""
    lowered = password.lower()
    if len(password) < 8:
        return "a password needs at least 8 characters"
    if lowered in COMMON_PASSWORDS:
        return "this password is one of the first any attacker tries; choose another"
    if len(set(lowered)) <= 2:
        return "a password of one or two characters repeated is too easy to guess"
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(lowered)}
    if steps in ({1}, {-1}):
        return "a run of consecutive characters is too easy to guess"
    if username and len(username) >= 3 and username.lower() in lowered:
        return "a password must not contain the account's name"
    return None


# Password hashing is CPU work of about 0.1 s by design: it runs in this thread, never on the
# event loop (a sign-in flood stalled every request the loop served), one at a time so that a
# burst of sign-ins queues here and takes at most one core from everything else (the number of
# checks is limited before they get here: web/limits.py).
_HASHING = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a hashing function in the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, function, *args)


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether the password matches; a missing hash never matches (but costs the same)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def new_api_token() -> tuple[str, str, bytes]:
    """Return (token, display prefix, stored hash) for a new API token."""
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, token_hash(token)


def token_hash(token: str) -> bytes:
    """Return the stored form of a token. Tokens carry 256 random bits, so a fast hash suffices."""
    return hashlib.sha256(token.encode()).digest()


def csrf_token(secret: str, session_id: str) -> str:
    """Return the CSRF token bound to one signed-in session."""
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str, session_id: str, presented: str | None) -> bool:
    """Return whether a presented CSRF token belongs to this session."""
    return bool(presented) and hmac.compare_digest(csrf_token(secret, session_id), presented or "")
