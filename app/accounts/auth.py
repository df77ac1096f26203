"""Sign-in and credentials: password checks with throttling, API tokens, page sessions,
activation codes and password changes.

Failed sign-ins are stored in the database, not in process memory, so throttling holds across
processes. Sign-in returns its failure instead of raising it: the failure record must be
committed even though the request answers 401 or 429.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Boolean, delete, func, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.types import TypeEngine

from app.accounts.models import ActivationCode, LoginFailure, User, WebSession
from app.accounts.service import check_password_strength, get_user
from app.core import rawsql
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import AppError, InvalidInput, NotAuthenticated, TooManyRequests
from app.core.i18n import gettext as _
from app.core.security import (
    create_access_token,
    decode_access_token,
    digest,
    hash_password,
    new_secret,
    verify_password,
)


@dataclass(frozen=True)
class SignIn:
    user: User | None
    error: AppError | None


def _retry_after(session: Session, settings: Settings, scope: str, key: str, limit: int) -> int:
    """Seconds until ``key`` may try again, or 0 when it is under its limit."""
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    rows = session.execute(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.scope == scope, LoginFailure.key == key, LoginFailure.failed_at > since
        )
    ).one()
    count: int = rows[0]
    oldest: datetime | None = rows[1]
    if count < limit or oldest is None:
        return 0
    free_at = oldest + timedelta(seconds=settings.login_window_seconds)
    return max(1, math.ceil((free_at - utcnow()).total_seconds()))


def sign_in(
    session: Session, settings: Settings, *, email: str, password: str, client_ip: str
) -> SignIn:
    email = (email or "").strip().lower()
    wait = max(
        _retry_after(session, settings, "account", email, settings.login_max_failures_per_account),
        _retry_after(session, settings, "ip", client_ip, settings.login_max_failures_per_ip),
    )
    if wait:
        return SignIn(
            None,
            TooManyRequests(
                _("Too many failed sign-ins. Try again in {minutes} minute(s).").format(
                    minutes=math.ceil(wait / 60)
                ),
                retry_after=wait,
            ),
        )
    user = session.scalar(select(User).where(User.email == email)) if email else None
    check = verify_password(settings, user.password_hash if user else None, password or "")
    if user is None or not check.ok or not user.is_active:
        now = utcnow()
        session.add_all(
            [
                LoginFailure(scope="account", key=email[:254], failed_at=now),
                LoginFailure(scope="ip", key=client_ip[:254], failed_at=now),
            ]
        )
        _prune_failures(session, settings)
        return SignIn(None, NotAuthenticated(_("Wrong email or password.")))
    if check.needs_rehash:
        user.password_hash = hash_password(settings, password)
    session.execute(
        delete(LoginFailure).where(LoginFailure.scope == "account", LoginFailure.key == email)
    )
    user.last_login_at = utcnow()
    return SignIn(user, None)


def _prune_failures(session: Session, settings: Settings) -> None:
    # Old failures no longer count; keep the table small.
    cutoff = utcnow() - timedelta(seconds=settings.login_window_seconds * 4)
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at < cutoff))


def issue_token(settings: Settings, user: User) -> str:
    return create_access_token(settings, user_id=user.id, token_version=user.token_version)


@dataclass(frozen=True)
class Claims:
    """What a verified access token says: whose it is and which token version it carries."""

    user_id: int
    version: int
    expires_at: float  # Unix time


# Verifying a token's signature and claims (PyJWT) costs ~0.1 ms, as much as the rest of a
# small request's database work; clients send the same token for hours. So the claims of
# tokens already verified are kept, keyed by the exact token text and the key that signed it;
# expiry is checked again on every use. This caches only "this string is a token we signed":
# whether its user is still active and the token not revoked (token_version) is read from the
# database on every request, so deactivation and password changes still take effect at once.
_VERIFIED_MAX = 4096
_verified: OrderedDict[tuple[str, str], Claims] = OrderedDict()
_verified_lock = threading.Lock()


def _invalid_token() -> NotAuthenticated:
    return NotAuthenticated(_("The access token is invalid or has expired."))


def token_claims(settings: Settings, token: str) -> Claims:
    """The claims of a token this app signed and that has not expired; NotAuthenticated
    otherwise. Pure computation (no database): cheap enough for the event loop."""
    key = (settings.secret_key, token)
    with _verified_lock:
        claims = _verified.get(key)
    if claims is None:
        decoded = decode_access_token(settings, token)
        if decoded is None:
            raise _invalid_token()
        version = decoded["ver"]
        try:
            claims = Claims(int(decoded["sub"]), version, float(decoded["exp"]))
        except (TypeError, ValueError):
            raise _invalid_token() from None
        if type(version) is not int:  # compared with the column as it is, as before
            raise _invalid_token()
        with _verified_lock:
            _verified[key] = claims
            while len(_verified) > _VERIFIED_MAX:
                _verified.popitem(last=False)
    if claims.expires_at <= time.time():
        raise _invalid_token()
    return claims


def user_from_token(session: Session, settings: Settings, token: str) -> User:
    claims = token_claims(settings, token)
    # Every API request runs this: the user alone, its organisation only when asked for.
    user = session.get(User, claims.user_id, options=[lazyload(User.organization)])
    if user is None or not user.is_active or user.token_version != claims.version:
        raise _invalid_token()
    return user


class Principal(Protocol):
    """Who is asking, as far as the hot paths need to know: a ``User`` or a ``Caller``."""

    @property
    def id(self) -> int: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class Caller:
    """The user behind a bearer token as plain columns, for the hottest endpoints (the course
    page, progress events), which need no entity: loading one costs more than their queries."""

    id: int
    role: str
    organization_id: int


# The caller's columns, for a hot endpoint to read in its own first statement (joined on
# ``accounts_user u``) rather than in one more round trip; ``check_caller`` judges them.
CALLER_COLUMNS = "u.role, u.organization_id, u.is_active, u.token_version"
CALLER_TYPES: tuple[TypeEngine[Any] | None, ...] = (None, None, Boolean(), None)
_CALLER = rawsql.Query(
    f"SELECT {CALLER_COLUMNS} FROM accounts_user u WHERE u.id = :id", results=CALLER_TYPES
)


def check_caller(claims: Claims, columns: Sequence[Any] | None) -> Caller:
    """The caller if their row (``CALLER_COLUMNS``, None when there is none) says the token
    still holds: the same checks as ``user_from_token`` (deactivated users and revoked tokens
    are refused)."""
    if columns is None:
        raise _invalid_token()
    role, organization_id, is_active, version = columns
    if not is_active or version != claims.version:
        raise _invalid_token()
    return Caller(claims.user_id, role, organization_id)


def caller_from_claims(session: Session, claims: Claims) -> Caller:
    """The still-active user a verified token speaks for, in one plain statement."""
    return check_caller(claims, rawsql.first(session, _CALLER, id=claims.user_id))


# --- Page sessions ------------------------------------------------------------------------


def start_web_session(session: Session, settings: Settings, user: User) -> str:
    """A new session id (the cookie value). A fresh id at every sign-in defeats fixation."""
    raw = new_secret()
    session.add(
        WebSession(
            id_digest=digest(raw),
            user_id=user.id,
            expires_at=utcnow() + timedelta(hours=settings.session_ttl_hours),
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    return raw


def user_from_web_session(session: Session, raw: str | None) -> User | None:
    if not raw:
        return None
    web = session.get(WebSession, digest(raw))
    if web is None or web.expires_at < utcnow():
        return None
    user = session.get(User, web.user_id)
    return user if user is not None and user.is_active else None


def end_web_session(session: Session, raw: str | None) -> None:
    if raw:
        session.execute(delete(WebSession).where(WebSession.id_digest == digest(raw)))


# --- Passwords and activation -------------------------------------------------------------


def change_password(
    session: Session,
    settings: Settings,
    user: User,
    *,
    current_password: str,
    new_password: str,
) -> None:
    if not verify_password(settings, user.password_hash, current_password).ok:
        raise InvalidInput(_("The current password is wrong."))
    check_password_strength(new_password)
    _set_password(session, settings, user, new_password)


def _set_password(session: Session, settings: Settings, user: User, password: str) -> None:
    user.password_hash = hash_password(settings, password)
    user.token_version += 1
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def issue_activation_code(session: Session, settings: Settings, user: User) -> str:
    """A one-time code for ``user`` to set a password; earlier unused codes stop working."""
    session.execute(
        delete(ActivationCode).where(
            ActivationCode.user_id == user.id, ActivationCode.used_at.is_(None)
        )
    )
    code = new_secret(18)
    session.add(
        ActivationCode(
            code_digest=digest(code),
            user_id=user.id,
            expires_at=utcnow() + timedelta(days=settings.activation_ttl_days),
        )
    )
    return code


def activation_user(session: Session, code: str) -> User:
    """The user a still-valid activation code belongs to."""
    row = session.scalar(select(ActivationCode).where(ActivationCode.code_digest == digest(code)))
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        raise InvalidInput(_("This activation link is invalid, used or expired."))
    user = get_user(session, row.user_id)
    if not user.is_active:
        raise InvalidInput(_("This activation link is invalid, used or expired."))
    return user


def activate(session: Session, settings: Settings, *, code: str, password: str) -> User:
    user = activation_user(session, code)
    check_password_strength(password)
    row = session.scalar(select(ActivationCode).where(ActivationCode.code_digest == digest(code)))
    assert row is not None
    # Mark used in the same statement that checks it, so a replayed code cannot win a race.
    result = session.execute(
        update(ActivationCode)
        .where(ActivationCode.id == row.id, ActivationCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(_("This activation link is invalid, used or expired."))
    _set_password(session, settings, user, password)
    return user
