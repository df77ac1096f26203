"""FastAPI dependencies for "who is asking": bearer tokens for the API, the session cookie for
pages. Other packages use the ``Annotated`` aliases defined here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.accounts import auth
from app.accounts.models import User
from app.core.db import SessionDep, SettingsDep
from app.core.errors import NotAuthenticated
from app.core.i18n import gettext as _
from app.core.web import SESSION_COOKIE, csrf_protect

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def api_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    if not token:
        raise NotAuthenticated(_("Sign in first: this endpoint needs a bearer token."))
    return auth.user_from_token(session, settings, token)


async def api_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> auth.Claims:
    """The verified claims of the bearer token, for the hot endpoints. Async on purpose: it is
    pure computation (usually a cache hit), so it runs on the event loop instead of costing a
    thread hop. It does not look the user up: before anything else, the endpoint must check
    the caller with its session, in its own thread (``auth.caller_from_claims``, or the
    caller's row read in its first statement and judged by ``auth.check_caller``). Declared
    with the same security scheme as ``api_user``, so the API schema is unchanged."""
    if not token:
        raise NotAuthenticated(_("Sign in first: this endpoint needs a bearer token."))
    return auth.token_claims(request.app.state.settings, token)


@dataclass(frozen=True)
class Viewer:
    """What templates show of the signed-in user. A plain snapshot, not the ORM object: an
    error page renders after the request's session has rolled back and closed."""

    id: int
    full_name: str
    role: str
    organization_id: int
    organization_name: str


def page_user_optional(request: Request, session: SessionDep) -> User | None:
    user = auth.user_from_web_session(session, request.cookies.get(SESSION_COOKIE))
    request.state.user = (
        Viewer(user.id, user.full_name, user.role, user.organization_id, user.organization.name)
        if user is not None
        else None
    )
    return user


def page_user(user: Annotated[User | None, Depends(page_user_optional)]) -> User:
    if user is None:
        raise NotAuthenticated(_("Please sign in."))
    return user


ApiUser = Annotated[User, Depends(api_user)]
ApiClaims = Annotated[auth.Claims, Depends(api_claims)]
PageUser = Annotated[User, Depends(page_user)]
OptionalPageUser = Annotated[User | None, Depends(page_user_optional)]
CSRFChecked = Depends(csrf_protect)
