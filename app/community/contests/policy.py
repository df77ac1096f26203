"""Who may do what with contests and awards.

- organise a contest: administrators (any organisation) and school managers (a contest of
  their own school); the organiser is the contest's creator, and every administrator;
- enter: anyone of the contest's organisation subtree whose school level is one of the
  contest's levels (no levels: every level), between opens_at and closes_at, except the
  contest's organisers and judges (neither as the one who submits nor as a team member).
  "Organisers" is ``is_organizer``: the creator and every administrator. An administrator who
  did not create the contest is barred too, on purpose: administrators see every entry and the
  judged counts and may publish the results of any contest, which is what makes entering one's
  own contest unfair;
- judge: the panel the organiser names (staff, not students); with ``judges_skip_own_school``
  a judge never scores an entry of their own school, and nobody scores their own entry;
- see an entry: its members, the organiser, the panel, the managers of the entry's school, and
  after the results every signed-in user; a judge's scores: that judge alone until the results;
- awards: administrators create them (publishing a contest's results creates the prize
  winners' awards); a person sees their own, a school manager their school's, an
  administrator all.
"""

from __future__ import annotations

from app.accounts.models import Role, User
from app.core.errors import PermissionDenied
from app.core.i18n import gettext as _

ORGANIZER_ROLES = frozenset({Role.admin, Role.school_manager})
JUDGE_ROLES = frozenset({Role.admin, Role.school_manager, Role.teacher, Role.author})


def is_admin(actor: User) -> bool:
    return actor.role == Role.admin


def can_create_contest(actor: User) -> bool:
    return actor.role in ORGANIZER_ROLES


def require_contest_creator(actor: User, organization_id: int) -> None:
    if is_admin(actor):
        return
    if actor.role != Role.school_manager:
        raise PermissionDenied(_("Only administrators and school managers can organise contests."))
    if organization_id != actor.organization_id:
        raise PermissionDenied(_("A school manager can only organise contests of their school."))


def is_organizer(actor: User, created_by_id: int) -> bool:
    return is_admin(actor) or actor.id == created_by_id


def require_organizer(actor: User, created_by_id: int) -> None:
    if not is_organizer(actor, created_by_id):
        raise PermissionDenied(_("Only the contest's organiser or an administrator can do this."))


def require_award_creator(actor: User) -> None:
    if not is_admin(actor):
        raise PermissionDenied(_("Only an administrator can give awards."))
