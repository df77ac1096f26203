"""Who may do what with courses.

- admins and authors build courses (only the course's owner or an admin changes one);
- admins assign anyone; a school manager assigns only users of their own school;
- learners (anyone with an active enrolment) record their own progress and take quizzes;
- everyone signed in sees published courses; drafts are "not found" to non-authors.
"""

from __future__ import annotations

from app.accounts.models import Role, User
from app.core.errors import NotFound, PermissionDenied
from app.core.i18n import gettext as _
from app.lms.models import Course, CourseStatus

AUTHOR_ROLES = frozenset({Role.admin, Role.author})


def is_author(actor: User) -> bool:
    return actor.role in AUTHOR_ROLES


def require_author(actor: User) -> None:
    if not is_author(actor):
        raise PermissionDenied(_("Only content authors and administrators can do this."))


def require_owner(actor: User, course: Course) -> None:
    if not (actor.role == Role.admin or course.owner_id == actor.id):
        raise PermissionDenied(_("Only the course's owner or an administrator can do this."))


def require_assigner(actor: User) -> None:
    if actor.role not in (Role.admin, Role.school_manager):
        raise PermissionDenied(_("Only administrators and school managers assign courses."))


def check_visible(actor: User, course: Course, *, enrolled: bool = False) -> None:
    if is_author(actor) or enrolled or course.status == CourseStatus.published:
        return
    raise NotFound(_("Course {id} does not exist.").format(id=course.id))
