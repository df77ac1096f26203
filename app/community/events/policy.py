"""Who may do what with events and partners.

- **Create** an event: administrators, school managers and content authors (teachers and
  students attend). Administrators place it in any organisation; the others only in their own
  organisation or below it (a school manager: their school; a commune author: the commune or
  one of its schools).
- **Organise** (edit, show the check-in code, see and record attendance): the event's creator,
  any administrator, and the school manager of the event's own organisation.
- **See** an event: users whose organisation lies in the event's organisation subtree (and, when
  the event names audience organisations, in one of their subtrees); administrators and the
  event's organisers always.
- **Register / check in**: those who see it and match its audience levels and roles. A level
  restriction concerns users of a school (the school's level); users placed above the schools
  (a commune's staff) are not held to it.
- **Partners**: administrators manage them; everyone signed in reads them.
"""

from __future__ import annotations

from collections.abc import Collection

from app.accounts.models import Role, User
from app.community.events.models import Event
from app.core.errors import PermissionDenied
from app.core.i18n import gettext as _

CREATOR_ROLES = frozenset({Role.admin, Role.school_manager, Role.author})


def can_create(actor: User) -> bool:
    return actor.role in CREATOR_ROLES


def require_creator(actor: User) -> None:
    if not can_create(actor):
        raise PermissionDenied(
            _("Only administrators, school managers and content authors can create events.")
        )


def is_organiser(actor: User, event: Event) -> bool:
    if actor.role == Role.admin or (
        event.created_by_id is not None and event.created_by_id == actor.id
    ):
        return True
    return actor.role == Role.school_manager and actor.organization_id == event.organization_id


def require_organiser(actor: User, event: Event) -> None:
    if not is_organiser(actor, event):
        raise PermissionDenied(_("Only the event's organisers can do this."))


def can_see(actor: User, event: Event, ancestors: Collection[int]) -> bool:
    """``ancestors``: the actor's organisation and every organisation above it."""
    if is_organiser(actor, event):
        return True
    if event.organization_id not in ancestors:
        return False
    return not event.audience or any(a.organization_id in ancestors for a in event.audience)


def audience_problem(user: User, event: Event, level: str | None) -> str | None:
    """Why ``user`` is not in the event's audience (levels, roles), or None.
    ``level``: the level of the user's school (None above the schools)."""
    roles = event.values("role")
    if roles and user.role not in roles:
        return _("This event is for other roles than yours.")
    levels = event.values("level")
    if levels and level is not None and level not in levels:
        return _("This event is for other school levels than yours.")
    return None


def require_partner_admin(actor: User) -> None:
    if actor.role != Role.admin:
        raise PermissionDenied(_("Only an administrator can manage partners."))
