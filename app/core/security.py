"""Password hashing (argon2id), signed API tokens, CSRF tokens and one-time codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Overloaded
from app.core.i18n import gettext as _

TOKEN_ALGORITHM = "HS256"


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


# Each argon2 hash takes argon2_memory_kib of memory and a core for tens of milliseconds (the
# C code releases the GIL). Unbounded, a storm of sign-ins ran as many at once as there were
# database slots (20 per process): 380 MiB at the default cost and CPU oversubscribed. Bounding
# the count alone was not enough: glibc keeps a freed 19 MiB block in the arena of the thread
# that freed it, so hashes spread over the 40 request threads left ~250 MiB behind after a
# storm. Hashes now run on a few threads of their own, one per slot.
_hash_slots: dict[int, tuple[threading.BoundedSemaphore, ThreadPoolExecutor]] = {}
_hash_slots_lock = threading.Lock()
HASH_RETRY_AFTER_SECONDS = 2
T = TypeVar("T")


def _slots(size: int) -> tuple[threading.BoundedSemaphore, ThreadPoolExecutor]:
    with _hash_slots_lock:
        slots = _hash_slots.get(size)
        if slots is None:
            slots = _hash_slots[size] = (
                threading.BoundedSemaphore(size),
                ThreadPoolExecutor(size, thread_name_prefix="hocso-argon2"),
            )
        return slots


@contextmanager
def hashing_slot(settings: Settings) -> Iterator[None]:
    """Hold one of the process's password-hashing slots; Overloaded (503, Retry-After) when
    none frees up within ``password_hash_wait_seconds``."""
    slots, _threads = _slots(settings.password_hash_concurrency)
    if not slots.acquire(timeout=settings.password_hash_wait_seconds):
        raise Overloaded(
            _("Too many sign-ins at once. Please try again in a few seconds."),
            retry_after=HASH_RETRY_AFTER_SECONDS,
        )
    try:
        yield
    finally:
        slots.release()


def _hashing(settings: Settings, work: Callable[..., T], *args: Any) -> T:
    """Run ``work`` on one of the hashing threads, once a slot is free (see above)."""
    with hashing_slot(settings):
        _semaphore, threads = _slots(settings.password_hash_concurrency)
        return threads.submit(work, *args).result()


def hash_password(settings: Settings, password: str) -> str:
    return _hashing(settings, password_hasher(settings).hash, password)


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


def verify_password(settings: Settings, password_hash: str | None, password: str) -> PasswordCheck:
    hasher = password_hasher(settings)
    if not password_hash:
        # Spend the same time as a real check so unknown accounts are not revealed by timing.
        dummy = _DUMMY_HASHES.get(_cost_key(settings))
        if dummy is None:
            dummy = _DUMMY_HASHES.setdefault(_cost_key(settings), hash_password(settings, "x"))
        _hashing(settings, hasher.verify, dummy, "x")
        return PasswordCheck(ok=False)
    try:
        _hashing(settings, hasher.verify, password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    return PasswordCheck(ok=True, needs_rehash=hasher.check_needs_rehash(password_hash))


_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _cost_key(settings: Settings) -> tuple[int, int, int]:
    return (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


# --- API bearer tokens -------------------------------------------------------------------


def create_access_token(settings: Settings, *, user_id: int, token_version: int) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "ver": token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=settings.token_ttl_minutes)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, settings.secret_key, algorithm=TOKEN_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any] | None:
    """The token's claims, or None when it is forged, expired or malformed."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "ver"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    return claims


# --- Random secrets, CSRF ----------------------------------------------------------------


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """A stable one-way digest for secrets stored in the database (session ids, codes)."""
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token(settings: Settings, seed: str) -> str:
    """The CSRF token bound to a browser's seed cookie: a token from another browser fails."""
    mac = hmac.new(settings.secret_key.encode(), f"csrf:{seed}".encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_valid(settings: Settings, seed: str | None, token: str | None) -> bool:
    if not seed or not token:
        return False
    return hmac.compare_digest(csrf_token(settings, seed), token)


def sign(settings: Settings, value: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac[:32]}"


def unsign(settings: Settings, signed: str) -> str | None:
    value, _, mac = signed.rpartition(".")
    if not value:
        return None
    expected = hmac.new(settings.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(expected[:32], mac) else None
