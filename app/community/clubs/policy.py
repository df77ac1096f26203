"""Who may do what with clubs. The only place the club rules are written down.

- **Create**: administrators anywhere in the tree (a commune: a commune-wide club, or any
  school); school managers and teachers only in their own school. Authors and students do not
  create clubs (they join them). The creator becomes the club's first leader.
- **See and join**: the users of the club's organisation subtree — a school club is seen by
  the users of that school, a commune-wide club by everyone in the commune and its schools.
  Administrators see every club; members always see their clubs. Anyone else gets 404: a
  teacher of another school does not learn the club exists.
- **Read and post**: members. Administrators read (to moderate) but, like everyone, post only
  as members.
- **Lead**: leaders (and administrators) approve or reject join requests, promote, demote and
  remove members, hide posts and lock threads. A club always keeps at least one leader.

Functions here are pure: the service looks the facts up (membership, the actor's chain of
organisations) and passes them in.
"""

from __future__ import annotations

from collections.abc import Collection

from app.accounts.models import Organization, OrgKind, Role, User
from app.community.clubs.models import Club, ClubMember, MemberRole
from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.i18n import gettext as _

CREATOR_ROLES = frozenset({Role.admin, Role.school_manager, Role.teacher})
CLUB_HOME_KINDS = frozenset({OrgKind.school, OrgKind.commune})


def is_admin(actor: User) -> bool:
    return actor.role == Role.admin


def can_create_clubs(actor: User) -> bool:
    return actor.role in CREATOR_ROLES


def check_can_create(actor: User, organization: Organization) -> None:
    if not can_create_clubs(actor):
        raise PermissionDenied(
            _("Only administrators, school managers and teachers can create clubs.")
        )
    if organization.kind not in CLUB_HOME_KINDS:
        raise InvalidInput(_("A club belongs to a school or to a commune (commune-wide)."))
    if is_admin(actor):
        return
    if organization.id != actor.organization_id or organization.kind != OrgKind.school:
        raise PermissionDenied(_("You can create clubs only in your own school."))


def can_see(actor: User, club: Club, *, member: ClubMember | None, chain: Collection[int]) -> bool:
    """``chain``: the actor's organisation and every organisation above it."""
    return is_admin(actor) or member is not None or club.organization_id in chain


def check_visible(
    actor: User, club: Club, *, member: ClubMember | None, chain: Collection[int]
) -> None:
    if not can_see(actor, club, member=member, chain=chain):
        raise NotFound(_("Club {id} does not exist.").format(id=club.id))


def is_moderator(actor: User, member: ClubMember | None) -> bool:
    return is_admin(actor) or (member is not None and member.role == MemberRole.leader)


def require_moderator(actor: User, member: ClubMember | None) -> None:
    if not is_moderator(actor, member):
        raise PermissionDenied(_("Only the club's leaders and administrators can do this."))


def can_read(actor: User, member: ClubMember | None) -> bool:
    return member is not None or is_admin(actor)


def require_reader(actor: User, member: ClubMember | None) -> None:
    if not can_read(actor, member):
        raise PermissionDenied(_("Join the club to read its discussions."))


def require_member(member: ClubMember | None) -> None:
    if member is None:
        raise PermissionDenied(_("Only members of the club can post. Ask to join first."))
