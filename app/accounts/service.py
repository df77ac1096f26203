"""Organisations and users: create, list, change, deactivate. Plain functions; the caller's
session commits. Every function that acts for someone takes ``actor`` and checks the policy."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit, policy
from app.accounts.models import (
    PARENT_KIND,
    Organization,
    OrgKind,
    Role,
    SchoolLevel,
    User,
    WebSession,
)
from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.security import hash_password
from app.core.text import search_terms

MAX_NAME = 200
MAX_EMAIL = 254
MIN_PASSWORD = 8
MAX_PASSWORD = 128
# Kind names as they appear inside sentences ("A school must belong to a commune.").
KIND_NAMES = {
    OrgKind.province: N_("province"),
    OrgKind.commune: N_("commune"),
    OrgKind.school: N_("school"),
}


# --- Validation shared by the API, the pages and the CSV import ---------------------------


def clean_email(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(_("Email is required."))
    if len(value) > MAX_EMAIL:
        raise InvalidInput(_("Email is too long."))
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput(
            _("'{email}' is not a valid email address.").format(email=value)
        ) from None
    return result.normalized.lower()


def clean_name(value: str, *, field: str | None = None) -> str:
    value = unicodedata.normalize("NFC", re.sub(r"\s+", " ", value or "").strip())
    if not value:
        raise InvalidInput(_("{field} is required.").format(field=field or _("Name")))
    if len(value) > MAX_NAME:
        raise InvalidInput(
            _("{field} is longer than {n} characters.").format(field=field or _("Name"), n=MAX_NAME)
        )
    return value


def clean_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(_("Unknown role '{role}'.").format(role=value)) from None


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            _("The password must have at least {n} characters.").format(n=MIN_PASSWORD)
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            _("The password must have at most {n} characters.").format(n=MAX_PASSWORD)
        )


# --- Organisations ------------------------------------------------------------------------


def get_organization(session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound(_("Organisation {id} does not exist.").format(id=organization_id))
    return org


def list_organizations(session: Session) -> list[Organization]:
    return list(
        session.scalars(select(Organization).order_by(Organization.sort_name, Organization.id))
    )


def descendant_ids(session: Session, organization_id: int) -> list[int]:
    """The organisation and everything below it (a recursive query, one round trip)."""
    tree = (
        select(Organization.id)
        .where(Organization.id == organization_id)
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(select(Organization.id).where(Organization.parent_id == tree.c.id))
    return list(session.scalars(select(tree.c.id)))


@dataclass
class OrgNode:
    org: Organization
    children: list[OrgNode]


def organization_tree(session: Session) -> list[OrgNode]:
    orgs = list_organizations(session)
    nodes = {o.id: OrgNode(o, []) for o in orgs}
    roots: list[OrgNode] = []
    for org in orgs:
        parent = nodes.get(org.parent_id) if org.parent_id is not None else None
        (parent.children if parent else roots).append(nodes[org.id])
    return roots


def _check_placement(
    session: Session, *, kind: OrgKind, level: str | None, parent_id: int | None
) -> None:
    if kind == OrgKind.school:
        if level is None:
            raise InvalidInput(_("A school needs a level."))
        try:
            SchoolLevel(level)
        except ValueError:
            raise InvalidInput(_("Unknown school level '{level}'.").format(level=level)) from None
    elif level is not None:
        raise InvalidInput(_("Only schools have a level."))
    expected = PARENT_KIND[kind]
    if expected is None:
        if parent_id is not None:
            raise InvalidInput(_("A province cannot have a parent organisation."))
        return
    if parent_id is None:
        raise InvalidInput(_("This organisation needs a parent organisation."))
    parent = session.get(Organization, parent_id)
    if parent is None:
        raise InvalidInput(_("Parent organisation {id} does not exist.").format(id=parent_id))
    if parent.kind != expected:
        raise InvalidInput(
            _("A {kind} must belong to a {parent}.").format(
                kind=_(KIND_NAMES[kind]), parent=_(KIND_NAMES[expected])
            )
        )


def create_organization(
    session: Session,
    actor: User,
    *,
    name: str,
    kind: str,
    level: str | None = None,
    parent_id: int | None = None,
) -> Organization:
    policy.require_admin(actor)
    name = clean_name(name)
    try:
        org_kind = OrgKind(kind)
    except ValueError:
        raise InvalidInput(_("Unknown organisation kind '{kind}'.").format(kind=kind)) from None
    _check_placement(session, kind=org_kind, level=level, parent_id=parent_id)
    _check_unique_sibling(session, name=name, parent_id=parent_id, exclude_id=None)
    org = Organization(name=name, kind=org_kind.value, level=level, parent_id=parent_id)
    session.add(org)
    _flush_unique_name(session, name)
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.organization_created,
        target_type="organization",
        target_id=org.id,
        target_label=org.name,
        organization_id=org.id,
        detail={"kind": org.kind, "level": org.level, "parent_id": org.parent_id},
    )
    return org


def update_organization(
    session: Session,
    actor: User,
    organization_id: int,
    *,
    name: str | None = None,
    level: str | None = None,
    parent_id: int | None = None,
    set_parent: bool = False,
) -> Organization:
    policy.require_admin(actor)
    org = get_organization(session, organization_id)
    new_parent = parent_id if set_parent else org.parent_id
    if set_parent and new_parent is not None and new_parent in descendant_ids(session, org.id):
        raise InvalidInput(_("An organisation cannot be placed under itself or its own members."))
    new_level = level if level is not None else org.level
    _check_placement(session, kind=OrgKind(org.kind), level=new_level, parent_id=new_parent)
    new_name = clean_name(name) if name is not None else org.name
    _check_unique_sibling(session, name=new_name, parent_id=new_parent, exclude_id=org.id)
    changes = _changes(
        {"name": org.name, "level": org.level, "parent_id": org.parent_id},
        {"name": new_name, "level": new_level, "parent_id": new_parent},
    )
    org.name, org.level, org.parent_id = new_name, new_level, new_parent
    _flush_unique_name(session, new_name)
    if changes:
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.organization_updated,
            target_type="organization",
            target_id=org.id,
            target_label=org.name,
            organization_id=org.id,
            detail=changes,
        )
    return org


def _changes(before: dict[str, object], after: dict[str, object]) -> dict[str, list[object]]:
    """``{field: [old, new]}`` for the fields that differ: an audit entry's detail."""
    return {key: [before[key], after[key]] for key in before if before[key] != after[key]}


def _flush_unique_name(session: Session, name: str) -> None:
    # A concurrent request may have taken the name after our check: the constraint decides.
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            _("An organisation named '{name}' already exists here.").format(name=name)
        ) from None


def _check_unique_sibling(
    session: Session, *, name: str, parent_id: int | None, exclude_id: int | None
) -> None:
    # Compared in Python: SQLite's lower() (and PostgreSQL's in the C locale) only folds ASCII,
    # so "Trường Mầm non Đồng Tâm" and "trường mầm non đồng tâm" would both pass. Siblings are
    # few (the schools of one commune).
    query = select(Organization.name).where(
        Organization.parent_id.is_(None)
        if parent_id is None
        else Organization.parent_id == parent_id,
    )
    if exclude_id is not None:
        query = query.where(Organization.id != exclude_id)
    wanted = _same_name_key(name)
    if any(_same_name_key(sibling) == wanted for sibling in session.scalars(query)):
        raise Conflict(_("An organisation named '{name}' already exists here.").format(name=name))


def _same_name_key(name: str) -> str:
    """Names that differ only in case, Unicode form or spacing are the same name."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


# --- Users --------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("User {id} does not exist.").format(id=user_id))
    return user


def get_user_for(session: Session, actor: User, user_id: int) -> User:
    user = get_user(session, user_id)
    policy.check_can_view(actor, user)
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(
    session: Session,
    settings: Settings,
    actor: User | None,
    *,
    email: str,
    full_name: str,
    role: str,
    organization_id: int,
    password: str | None = None,
) -> User:
    """Create a user. ``actor=None`` is the command line (trusted). Without a password the user
    activates their account with a code (see ``auth.issue_activation_code``)."""
    email = clean_email(email)
    full_name = clean_name(full_name, field=_("Full name"))
    role_value = clean_role(role)
    get_organization(session, organization_id)
    if actor is not None:
        policy.check_can_place_user(actor, organization_id=organization_id, role=role_value)
    if password is not None:
        check_password_strength(password)
    if find_user_by_email(session, email) is not None:
        raise Conflict(_("A user with email {email} already exists.").format(email=email))
    user = User(
        email=email,
        full_name=full_name,
        role=role_value.value,
        organization_id=organization_id,
        password_hash=hash_password(settings, password) if password else None,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Two requests raced for the same email: the unique constraint decides.
        raise Conflict(_("A user with email {email} already exists.").format(email=email)) from None
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.user_created,
        target_type="user",
        target_id=user.id,
        target_label=audit.user_label(user),
        organization_id=user.organization_id,
        detail={"role": user.role, "with_password": password is not None},
    )
    return user


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    total: int


def list_users(
    session: Session,
    actor: User,
    *,
    q: str | None = None,
    organization_id: int | None = None,
    role: str | None = None,
    include_inactive: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> UserPage:
    query = select(User)
    if policy.is_admin(actor):
        if organization_id is not None:
            query = query.where(User.organization_id.in_(descendant_ids(session, organization_id)))
    elif actor.role == Role.school_manager:
        if organization_id is not None and organization_id != actor.organization_id:
            raise PermissionDenied(_("You can only see users of your own school."))
        query = query.where(User.organization_id == actor.organization_id)
    else:
        query = query.where(User.id == actor.id)
    if role:
        query = query.where(User.role == clean_role(role).value)
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    # Every word of the query, accents and case ignored, in the name or the e-mail address.
    for term in search_terms(q or ""):
        pattern = f"%{_escape_like(term)}%"
        query = query.where(
            or_(
                User.search_name.like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(User.sort_name, User.id).limit(limit).offset(offset)
    ).all()
    return UserPage(items=list(items), total=total)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def update_user(
    session: Session,
    actor: User,
    user_id: int,
    *,
    full_name: str | None = None,
    role: str | None = None,
    organization_id: int | None = None,
    is_active: bool | None = None,
) -> User:
    user = get_user(session, user_id)
    policy.check_can_manage(actor, user)
    new_role = clean_role(role) if role is not None else Role(user.role)
    new_org = organization_id if organization_id is not None else user.organization_id
    if (role is not None and new_role != user.role) or new_org != user.organization_id:
        if actor.id == user.id and not policy.is_admin(actor):
            raise PermissionDenied(_("You cannot change your own role or school."))
        get_organization(session, new_org)
        policy.check_can_place_user(actor, organization_id=new_org, role=new_role)
    before = {
        "full_name": user.full_name,
        "role": user.role,
        "organization_id": user.organization_id,
    }
    if full_name is not None:
        user.full_name = clean_name(full_name, field=_("Full name"))
    user.role, user.organization_id = new_role.value, new_org
    changes = _changes(
        before,
        {"full_name": user.full_name, "role": user.role, "organization_id": user.organization_id},
    )
    if changes:
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.user_updated,
            target_type="user",
            target_id=user.id,
            target_label=audit.user_label(user),
            organization_id=user.organization_id,
            detail=changes,
        )
    if is_active is False:
        _deactivate(session, actor, user)
    elif is_active is True and not user.is_active:
        user.is_active = True
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.user_reactivated,
            target_type="user",
            target_id=user.id,
            target_label=audit.user_label(user),
            organization_id=user.organization_id,
        )
    session.flush()
    return user


def deactivate_user(session: Session, actor: User, user_id: int) -> User:
    user = get_user(session, user_id)
    policy.check_can_manage(actor, user)
    _deactivate(session, actor, user)
    session.flush()
    return user


def _deactivate(session: Session, actor: User, user: User) -> None:
    if user.id == actor.id:
        raise InvalidInput(_("You cannot deactivate your own account."))
    if user.is_active:
        user.is_active = False
        user.token_version += 1
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.user_deactivated,
            target_type="user",
            target_id=user.id,
            target_label=audit.user_label(user),
            organization_id=user.organization_id,
        )
