"""Who may do what to whom. The only place the account rules are written down.

- admin: manages everything;
- school_manager: manages the teachers, students and authors of their own school;
- everyone else: only themselves.
"""

from __future__ import annotations

from app.accounts.models import Role, User
from app.core.errors import PermissionDenied
from app.core.i18n import gettext as _

# Roles a school manager may give to the users of their school.
SCHOOL_MANAGER_ASSIGNABLE = frozenset({Role.teacher, Role.student, Role.author})


def is_admin(actor: User) -> bool:
    return actor.role == Role.admin


def can_manage_users(actor: User) -> bool:
    return actor.role in (Role.admin, Role.school_manager)


def require_admin(actor: User) -> None:
    if not is_admin(actor):
        raise PermissionDenied(_("Only an administrator can do this."))


def require_user_manager(actor: User) -> None:
    if not can_manage_users(actor):
        raise PermissionDenied(_("You are not allowed to manage users."))


def check_can_place_user(actor: User, *, organization_id: int, role: str) -> None:
    """May ``actor`` create (or move) a user with ``role`` in ``organization_id``?"""
    if is_admin(actor):
        return
    require_user_manager(actor)
    if organization_id != actor.organization_id:
        raise PermissionDenied(_("You can only manage users of your own school."))
    if role not in SCHOOL_MANAGER_ASSIGNABLE:
        raise PermissionDenied(_("You are not allowed to give this role."))


def check_can_manage(actor: User, target: User) -> None:
    if is_admin(actor):
        return
    require_user_manager(actor)
    if target.organization_id != actor.organization_id:
        raise PermissionDenied(_("You can only manage users of your own school."))
    if target.id != actor.id and target.role not in SCHOOL_MANAGER_ASSIGNABLE:
        raise PermissionDenied(_("You are not allowed to manage this user."))


def check_can_view(actor: User, target: User) -> None:
    if actor.id == target.id or is_admin(actor):
        return
    if actor.role == Role.school_manager and target.organization_id == actor.organization_id:
        return
    raise PermissionDenied(_("You are not allowed to see this user."))
