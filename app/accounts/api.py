"""JSON API of the accounts package: /api/v1/auth, /me, /organizations, /users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse

from app.accounts import auth, policy, service
from app.accounts.deps import ApiUser
from app.accounts.importer import import_users
from app.accounts.models import Organization, Role, User
from app.accounts.schemas import (
    ActivateIn,
    ActivationLink,
    ActivationOut,
    ImportOut,
    LineErrorOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationUpdate,
    Page,
    PasswordChange,
    Token,
    UserCreated,
    UserIn,
    UserOut,
    UserUpdate,
)
from app.core.db import SessionDep, SettingsDep
from app.core.errors import PayloadTooLarge
from app.core.i18n import gettext as _

router = APIRouter(prefix="/api/v1")

MAX_IMPORT_BYTES = 10 * 1024 * 1024
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def activation_url(request: Request, code: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/activate/{code}"


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=Role(user.role),
        organization_id=user.organization_id,
        organization_name=user.organization.name,
        is_active=user.is_active,
        activated=user.password_hash is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


# --- Auth ---------------------------------------------------------------------------------


@router.post(
    "/auth/token",
    response_model=Token,
    tags=["auth"],
    responses={401: {"description": "Wrong email or password"}, 429: {"description": "Throttled"}},
)
def login_for_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=128)],
) -> Token | JSONResponse:
    """OAuth2 password flow: ``username`` is the email."""
    result = auth.sign_in(
        session, settings, email=username, password=password, client_ip=client_ip(request)
    )
    if result.error is not None:
        # Returned, not raised: the failure record must be committed.
        return JSONResponse(
            result.error.payload(),
            status_code=result.error.status_code,
            headers=result.error.headers,
        )
    assert result.user is not None
    return Token(
        access_token=auth.issue_token(settings, result.user),
        expires_in=settings.token_ttl_minutes * 60,
    )


@router.post("/auth/activate", response_model=UserOut, tags=["auth"])
def activate_account(body: ActivateIn, session: SessionDep, settings: SettingsDep) -> UserOut:
    """Set a password with a one-time activation code."""
    return user_out(auth.activate(session, settings, code=body.code, password=body.password))


@router.get("/me", response_model=UserOut, tags=["auth"])
def me(user: ApiUser) -> UserOut:
    return user_out(user)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_my_password(
    body: PasswordChange, user: ApiUser, session: SessionDep, settings: SettingsDep
) -> None:
    """Change the password; every token and session issued before stops working."""
    auth.change_password(
        session,
        settings,
        user,
        current_password=body.current_password,
        new_password=body.new_password,
    )


# --- Organisations ------------------------------------------------------------------------


@router.get("/organizations", response_model=Page[OrganizationOut], tags=["organizations"])
def list_organizations(
    session: SessionDep, user: ApiUser, limit: Limit = 200, offset: Offset = 0
) -> Page[OrganizationOut]:
    orgs = service.list_organizations(session)
    return Page(
        items=[OrganizationOut.model_validate(o) for o in orgs[offset : offset + limit]],
        total=len(orgs),
    )


@router.post(
    "/organizations", response_model=OrganizationOut, status_code=201, tags=["organizations"]
)
def create_organization(body: OrganizationIn, session: SessionDep, user: ApiUser) -> Organization:
    return service.create_organization(
        session,
        user,
        name=body.name,
        kind=body.kind.value,
        level=body.level.value if body.level else None,
        parent_id=body.parent_id,
    )


@router.get(
    "/organizations/{organization_id}", response_model=OrganizationOut, tags=["organizations"]
)
def get_organization(organization_id: int, session: SessionDep, user: ApiUser) -> Organization:
    return service.get_organization(session, organization_id)


@router.patch(
    "/organizations/{organization_id}", response_model=OrganizationOut, tags=["organizations"]
)
def update_organization(
    organization_id: int, body: OrganizationUpdate, session: SessionDep, user: ApiUser
) -> Organization:
    return service.update_organization(
        session,
        user,
        organization_id,
        name=body.name,
        level=body.level.value if body.level else None,
        parent_id=body.parent_id,
        set_parent="parent_id" in body.model_fields_set,
    )


# --- Users --------------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserOut], tags=["users"])
def list_users(
    session: SessionDep,
    user: ApiUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    organization_id: int | None = None,
    role: Role | None = None,
    include_inactive: bool = True,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[UserOut]:
    page = service.list_users(
        session,
        user,
        q=q,
        organization_id=organization_id,
        role=role.value if role else None,
        include_inactive=include_inactive,
        limit=limit,
        offset=offset,
    )
    return Page(items=[user_out(u) for u in page.items], total=page.total)


@router.post("/users", response_model=UserCreated, status_code=201, tags=["users"])
def create_user(
    body: UserIn, request: Request, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> UserCreated:
    """Create a user. Without ``password`` the answer carries a one-time activation link."""
    created = service.create_user(
        session,
        settings,
        user,
        email=str(body.email),
        full_name=body.full_name,
        role=body.role.value,
        organization_id=body.organization_id,
        password=body.password,
    )
    url = None
    if body.password is None:
        url = activation_url(request, auth.issue_activation_code(session, settings, created))
    return UserCreated(**user_out(created).model_dump(), activation_url=url)


@router.post("/users/import", response_model=ImportOut, tags=["users"])
async def import_users_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ApiUser,
    file: Annotated[UploadFile, File(description="CSV: email,full_name,role,organization_id")],
    dry_run: bool = False,
) -> ImportOut:
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(_("The file is larger than {n} MB.").format(n=10))
    # The import is CPU-bound work on one session; run it off the event loop.
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(import_users, session, settings, user, data, dry_run=dry_run)
    return ImportOut(
        created=result.created,
        skipped=result.skipped,
        dry_run=result.dry_run,
        errors=[LineErrorOut(line=e.line, message=e.message) for e in result.errors],
        activations=[
            ActivationLink(email=a.email, activation_url=activation_url(request, a.code))
            for a in result.activations
        ],
    )


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
def get_user(user_id: int, session: SessionDep, user: ApiUser) -> UserOut:
    return user_out(service.get_user_for(session, user, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def update_user(user_id: int, body: UserUpdate, session: SessionDep, user: ApiUser) -> UserOut:
    return user_out(
        service.update_user(
            session,
            user,
            user_id,
            full_name=body.full_name,
            role=body.role.value if body.role else None,
            organization_id=body.organization_id,
            is_active=body.is_active,
        )
    )


@router.post("/users/{user_id}/deactivate", response_model=UserOut, tags=["users"])
def deactivate_user(user_id: int, session: SessionDep, user: ApiUser) -> UserOut:
    return user_out(service.deactivate_user(session, user, user_id))


@router.delete("/users/{user_id}", response_model=UserOut, tags=["users"])
def delete_user(user_id: int, session: SessionDep, user: ApiUser) -> UserOut:
    """Users are never deleted: DELETE deactivates (their records stay)."""
    return user_out(service.deactivate_user(session, user, user_id))


@router.post("/users/{user_id}/activation", response_model=ActivationOut, tags=["users"])
def new_activation_link(
    user_id: int, request: Request, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> ActivationOut:
    """A fresh one-time link for a user to set (or reset) their password."""
    target = service.get_user(session, user_id)
    policy.check_can_manage(user, target)
    code = auth.issue_activation_code(session, settings, target)
    return ActivationOut(
        activation_url=activation_url(request, code), expires_in_days=settings.activation_ttl_days
    )
