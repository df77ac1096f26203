"""HTML pages of the accounts package: sign-in/out, activation, home, password, and the admin
pages for organisations and users. Forms post and redirect (303); errors re-render the form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from app.accounts import auth, policy, service
from app.accounts.api import MAX_IMPORT_BYTES, activation_url, client_ip
from app.accounts.deps import CSRFChecked, OptionalPageUser, PageUser
from app.accounts.importer import HEADER, import_users
from app.accounts.models import Organization, OrgKind, Role, SchoolLevel, User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep
from app.core.errors import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from app.core.i18n import gettext as _
from app.core.web import (
    SESSION_COOKIE,
    Offset,
    Pagination,
    redirect,
    render,
    rotate_csrf_seed,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25

Text = Annotated[str, Form(max_length=1000)]
OptionalText = Annotated[str | None, Form(max_length=1000)]


def _form_context() -> dict[str, Any]:
    return {
        "roles": [r.value for r in Role],
        "org_kinds": [k.value for k in OrgKind],
        "levels": [lv.value for lv in SchoolLevel],
    }


# --- Sign-in, sign-out, activation --------------------------------------------------------


@router.get("/login")
def login_form(
    request: Request, user: OptionalPageUser, next: Annotated[str | None, Query()] = None
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "accounts/login.html", {"next": safe_next(next, "")})


@router.post("/login", dependencies=[CSRFChecked])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    next: OptionalText = None,
) -> Response:
    result = auth.sign_in(
        session, settings, email=email, password=password, client_ip=client_ip(request)
    )
    if result.error is not None or result.user is None:
        error = result.error
        page = render(
            request,
            "accounts/login.html",
            {"next": safe_next(next, ""), "email": email, "error": error.detail if error else ""},
            status_code=error.status_code if error else 401,
        )
        for key, value in (error.headers if error else {}).items():
            if key.lower() != "www-authenticate":
                page.headers[key] = value
        return page
    auth.end_web_session(session, request.cookies.get(SESSION_COOKIE))
    raw = auth.start_web_session(session, settings, result.user)
    response = redirect(request, safe_next(next))
    set_session_cookie(response, request, settings, raw)
    rotate_csrf_seed(response, request)
    return response


@router.get("/logout")
def logout_form(request: Request, user: OptionalPageUser) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "accounts/logout.html")


@router.post("/logout", dependencies=[CSRFChecked])
def logout(request: Request, session: SessionDep) -> Response:
    auth.end_web_session(session, request.cookies.get(SESSION_COOKIE))
    response = redirect(request, "/login", message=_("You have signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    rotate_csrf_seed(response, request)
    return response


@router.get("/activate/{code}")
def activate_form(request: Request, code: str, session: SessionDep) -> Response:
    try:
        target = auth.activation_user(session, code)
    except InvalidInput as exc:
        return render(request, "accounts/activate.html", {"invalid": exc.detail}, status_code=404)
    return render(request, "accounts/activate.html", {"target": target, "code": code})


@router.post("/activate/{code}", dependencies=[CSRFChecked])
def activate(
    request: Request,
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1000)] = "",
    password_confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        target = auth.activation_user(session, code)
    except InvalidInput as exc:
        return render(request, "accounts/activate.html", {"invalid": exc.detail}, status_code=404)
    if password != password_confirm:
        return render(
            request,
            "accounts/activate.html",
            {"target": target, "code": code, "error": _("The passwords do not match.")},
            status_code=422,
        )
    try:
        auth.activate(session, settings, code=code, password=password)
    except AppError as exc:
        return render(
            request,
            "accounts/activate.html",
            {"target": target, "code": code, "error": exc.detail},
            status_code=exc.status_code,
        )
    return redirect(request, "/login", message=_("Your password is set. You can now sign in."))


def set_session_cookie(response: Response, request: Request, settings: Settings, raw: str) -> None:
    set_cookie(response, request, SESSION_COOKIE, raw, max_age=settings.session_ttl_hours * 3600)


# --- Home and own account -----------------------------------------------------------------


@router.get("/")
def home(request: Request, session: SessionDep, user: PageUser) -> Response:
    stats: dict[str, Any] = {}
    if user.role == Role.admin:
        stats["organizations"] = session.scalar(select(func.count(Organization.id)))
        stats["schools"] = session.scalar(
            select(func.count(Organization.id)).where(Organization.kind == OrgKind.school)
        )
        stats["users"] = session.scalar(select(func.count(User.id)).where(User.is_active))
    if user.role in (Role.admin, Role.school_manager):
        query = select(User.role, func.count(User.id)).where(User.is_active).group_by(User.role)
        if user.role == Role.school_manager:
            query = query.where(User.organization_id == user.organization_id)
        stats["by_role"] = dict(session.execute(query).tuples().all())
        stats["pending_activation"] = session.scalar(
            select(func.count(User.id)).where(
                User.is_active,
                User.password_hash.is_(None),
                *(
                    [User.organization_id == user.organization_id]
                    if user.role == Role.school_manager
                    else []
                ),
            )
        )
    # Panels of the packages above accounts (e.g. unread club posts), registered by app.main:
    # accounts cannot import them. Each is (template, provider(session, user) -> context).
    panels = []
    for template, provide in getattr(request.app.state, "home_panels", ()):
        context = provide(session, user)
        if context:
            panels.append((template, context))
    return render(request, "accounts/home.html", {"stats": stats, "panels": panels})


@router.get("/account/password")
def password_form(request: Request, user: PageUser) -> Response:
    return render(request, "accounts/password.html")


@router.post("/account/password", dependencies=[CSRFChecked])
def password_change(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
    new_password_confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        if new_password != new_password_confirm:
            raise InvalidInput(_("The passwords do not match."))
        auth.change_password(
            session, settings, user, current_password=current_password, new_password=new_password
        )
    except InvalidInput as exc:
        return render(request, "accounts/password.html", {"error": exc.detail}, status_code=422)
    # Changing the password ends every session, this one too: start a fresh one.
    raw = auth.start_web_session(session, settings, user)
    response = redirect(request, "/", message=_("Your password has been changed."))
    set_session_cookie(response, request, settings, raw)
    return response


# --- Admin: organisations -----------------------------------------------------------------


def _admin(user: PageUser) -> User:
    policy.require_admin(user)
    return user


def _user_manager(user: PageUser) -> User:
    policy.require_user_manager(user)
    return user


AdminUser = Annotated[User, Depends(_admin)]
ManagerUser = Annotated[User, Depends(_user_manager)]


@router.get("/admin/organizations")
def organizations_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return render(request, "accounts/organizations.html", _orgs_context(session))


def _orgs_context(session: SessionDep, **extra: Any) -> dict[str, Any]:
    counts = dict(
        session.execute(
            select(User.organization_id, func.count(User.id))
            .where(User.is_active)
            .group_by(User.organization_id)
        )
        .tuples()
        .all()
    )
    return {
        "tree": service.organization_tree(session),
        "organizations": service.list_organizations(session),
        "user_counts": counts,
        **_form_context(),
        **extra,
    }


@router.post("/admin/organizations", dependencies=[CSRFChecked])
def organization_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=50)] = "",
    level: Annotated[str, Form(max_length=50)] = "",
    parent_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {"name": name, "kind": kind, "level": level, "parent_id": parent_id}
    try:
        org = service.create_organization(
            session,
            user,
            name=name,
            kind=kind,
            level=level or None,
            parent_id=_int_or_none(parent_id),
        )
    except (InvalidInput, Conflict) as exc:
        return render(
            request,
            "accounts/organizations.html",
            _orgs_context(session, error=exc.detail, form=form),
            status_code=exc.status_code,
        )
    return redirect(
        request,
        "/admin/organizations",
        message=_("Organisation '{name}' created.").format(name=org.name),
    )


@router.get("/admin/organizations/{organization_id}")
def organization_edit_form(
    request: Request, organization_id: int, session: SessionDep, user: AdminUser
) -> Response:
    org = service.get_organization(session, organization_id)
    return render(
        request,
        "accounts/organization_edit.html",
        {"org": org, "organizations": service.list_organizations(session), **_form_context()},
    )


@router.post("/admin/organizations/{organization_id}", dependencies=[CSRFChecked])
def organization_update(
    request: Request,
    organization_id: int,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    level: Annotated[str, Form(max_length=50)] = "",
    parent_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    org = service.get_organization(session, organization_id)
    try:
        service.update_organization(
            session,
            user,
            organization_id,
            name=name,
            level=level or None,
            parent_id=_int_or_none(parent_id),
            set_parent=True,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        org = service.get_organization(session, organization_id)
        return render(
            request,
            "accounts/organization_edit.html",
            {
                "org": org,
                "organizations": service.list_organizations(session),
                "error": exc.detail,
                **_form_context(),
            },
            status_code=exc.status_code,
        )
    return redirect(
        request,
        "/admin/organizations",
        message=_("Organisation '{name}' saved.").format(name=org.name),
    )


def _int_or_none(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(_("'{value}' is not a valid id.").format(value=value)) from None


# --- Admin: users -------------------------------------------------------------------------


@router.get("/admin/users")
def users_page(
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    organization_id: Annotated[str | None, Query(max_length=20)] = None,
    role: Annotated[str | None, Query(max_length=50)] = None,
    offset: Offset = 0,
) -> Response:
    org_filter = _int_or_none(organization_id)
    role_filter = role if role in {r.value for r in Role} else None
    page = service.list_users(
        session,
        user,
        q=q,
        organization_id=org_filter,
        role=role_filter,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "accounts/users.html",
        {
            "page": page,
            "pagination": Pagination(total=page.total, limit=PAGE_SIZE, offset=offset),
            "q": q or "",
            "organization_id": org_filter,
            "role": role_filter or "",
            "organizations": _visible_orgs(session, user),
            **_form_context(),
        },
    )


def _visible_orgs(session: SessionDep, user: User) -> list[Organization]:
    if policy.is_admin(user):
        return service.list_organizations(session)
    return [service.get_organization(session, user.organization_id)]


def _assignable_roles(user: User) -> list[str]:
    if policy.is_admin(user):
        return [r.value for r in Role]
    return [r.value for r in Role if r in policy.SCHOOL_MANAGER_ASSIGNABLE]


@router.get("/admin/users/new")
def user_new_form(request: Request, session: SessionDep, user: ManagerUser) -> Response:
    return render(
        request,
        "accounts/user_form.html",
        {
            "target": None,
            "form": {},
            "organizations": _visible_orgs(session, user),
            "roles": _assignable_roles(user),
        },
    )


@router.post("/admin/users", dependencies=[CSRFChecked])
def user_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ManagerUser,
    email: Annotated[str, Form(max_length=1000)] = "",
    full_name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=50)] = "",
    organization_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {
        "email": email,
        "full_name": full_name,
        "role": role,
        "organization_id": organization_id,
    }
    try:
        org_id = _int_or_none(organization_id)
        if org_id is None:
            raise InvalidInput(_("Choose an organisation."))
        created = service.create_user(
            session,
            settings,
            user,
            email=email,
            full_name=full_name,
            role=role,
            organization_id=org_id,
        )
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        session.rollback()
        return render(
            request,
            "accounts/user_form.html",
            {
                "target": None,
                "form": form,
                "error": exc.detail,
                "organizations": _visible_orgs(session, user),
                "roles": _assignable_roles(user),
            },
            status_code=exc.status_code,
        )
    code = auth.issue_activation_code(session, settings, created)
    return render(
        request,
        "accounts/user_created.html",
        {
            "target": created,
            "activation_url": activation_url(request, code),
        },
        status_code=201,
    )


@router.get("/admin/users/import")
def import_form(request: Request, user: ManagerUser) -> Response:
    return render(request, "accounts/import.html", {"header": ",".join(HEADER)})


@router.post("/admin/users/import", dependencies=[CSRFChecked])
async def import_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ManagerUser,
    file: Annotated[UploadFile | None, File()] = None,
    dry_run: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    from starlette.concurrency import run_in_threadpool

    if file is None or not file.filename:
        return render(
            request,
            "accounts/import.html",
            {"header": ",".join(HEADER), "error": _("Choose a CSV file.")},
            status_code=422,
        )
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(_("The file is larger than {n} MB.").format(n=10))
    result = await run_in_threadpool(
        import_users, session, settings, user, data, dry_run=bool(dry_run)
    )
    links = [(a.email, activation_url(request, a.code)) for a in result.activations]
    return render(
        request,
        "accounts/import.html",
        {
            "header": ",".join(HEADER),
            "result": result,
            "links": links,
            "filename": file.filename,
        },
        status_code=422 if result.errors else 200,
    )


@router.get("/admin/users/{user_id}")
def user_edit_form(
    request: Request, user_id: int, session: SessionDep, user: ManagerUser
) -> Response:
    target = service.get_user(session, user_id)
    policy.check_can_manage(user, target)
    return render(
        request,
        "accounts/user_form.html",
        {
            "target": target,
            "form": {
                "full_name": target.full_name,
                "role": target.role,
                "organization_id": str(target.organization_id),
            },
            "organizations": _visible_orgs(session, user),
            "roles": _assignable_roles(user),
        },
    )


@router.post("/admin/users/{user_id}", dependencies=[CSRFChecked])
def user_update(
    request: Request,
    user_id: int,
    session: SessionDep,
    user: ManagerUser,
    full_name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=50)] = "",
    organization_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    target = service.get_user(session, user_id)
    policy.check_can_manage(user, target)
    form = {"full_name": full_name, "role": role, "organization_id": organization_id}
    try:
        service.update_user(
            session,
            user,
            user_id,
            full_name=full_name,
            role=role or None,
            organization_id=_int_or_none(organization_id),
        )
    except (InvalidInput, PermissionDenied, NotFound) as exc:
        session.rollback()
        target = service.get_user(session, user_id)
        return render(
            request,
            "accounts/user_form.html",
            {
                "target": target,
                "form": form,
                "error": exc.detail,
                "organizations": _visible_orgs(session, user),
                "roles": _assignable_roles(user),
            },
            status_code=exc.status_code,
        )
    return redirect(
        request, "/admin/users", message=_("Saved {name}.").format(name=target.full_name)
    )


@router.post("/admin/users/{user_id}/deactivate", dependencies=[CSRFChecked])
def user_deactivate(
    request: Request, user_id: int, session: SessionDep, user: ManagerUser
) -> Response:
    try:
        target = service.deactivate_user(session, user, user_id)
    except InvalidInput as exc:
        return redirect(request, f"/admin/users/{user_id}", message=exc.detail, level="error")
    return redirect(
        request,
        "/admin/users",
        message=_("{name} has been deactivated.").format(name=target.full_name),
    )


@router.post("/admin/users/{user_id}/reactivate", dependencies=[CSRFChecked])
def user_reactivate(
    request: Request, user_id: int, session: SessionDep, user: ManagerUser
) -> Response:
    target = service.update_user(session, user, user_id, is_active=True)
    return redirect(
        request,
        "/admin/users",
        message=_("{name} has been reactivated.").format(name=target.full_name),
    )


@router.post("/admin/users/{user_id}/activation", dependencies=[CSRFChecked])
def user_activation_link(
    request: Request, user_id: int, session: SessionDep, settings: SettingsDep, user: ManagerUser
) -> Response:
    target = service.get_user(session, user_id)
    policy.check_can_manage(user, target)
    code = auth.issue_activation_code(session, settings, target)
    return render(
        request,
        "accounts/user_created.html",
        {
            "target": target,
            "activation_url": activation_url(request, code),
            "reissued": True,
        },
    )
