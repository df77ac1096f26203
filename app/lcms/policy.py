"""Who may do what with content.

- admins and authors create items and see every item, drafts included (the studio);
- only an item's owner or an admin uploads versions, publishes, rolls back, archives, restores;
- everyone else (teachers, students, school managers) sees published items and fetches only
  the published version's file; anything else is "not found" to them.
"""

from __future__ import annotations

from app.accounts.models import Role, User
from app.core.errors import NotFound, PermissionDenied
from app.core.i18n import gettext as _
from app.lcms.models import ContentItem, ContentStatus

AUTHOR_ROLES = frozenset({Role.admin, Role.author})


def is_author(actor: User) -> bool:
    return actor.role in AUTHOR_ROLES


def require_author(actor: User) -> None:
    if not is_author(actor):
        raise PermissionDenied(_("Only content authors and administrators can do this."))


def is_owner(actor: User, item: ContentItem) -> bool:
    return actor.role == Role.admin or item.owner_id == actor.id


def require_owner(actor: User, item: ContentItem) -> None:
    if not is_owner(actor, item):
        raise PermissionDenied(_("Only the item's owner or an administrator can do this."))


def can_see_drafts(actor: User, item: ContentItem) -> bool:
    return is_author(actor)


def require_can_see_drafts(actor: User, item: ContentItem) -> None:
    if not can_see_drafts(actor, item):
        raise NotFound(_("Content item {id} does not exist.").format(id=item.id))


def can_see_item(actor: User, item: ContentItem) -> bool:
    return is_author(actor) or item.status == ContentStatus.published
