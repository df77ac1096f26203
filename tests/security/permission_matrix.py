"""The permission matrix: for every route of the app and every role, the answer it gives.

``TABLE`` has one line per route and method; its seven columns are the roles of
``permission_world.ROLES``. Students, teachers and the author work in school A (the author at the
commune) and are tested on the objects of school B or of another user; ``mgB`` is the school
manager of A on school B's objects, ``mgA`` the same manager on school A's objects; the
administrator works on school B's objects. ``permission_world`` says what exists.

A cell is a status code, or:

- ``L``  — 303 to the sign-in page (a page asked for without a session; also where signing out
  and activating an account lead);
- ``R``  — 303 elsewhere without an error message (a form that worked);
- ``R!`` — 303 with an error flash message (a form refused, the page says why);
- ``F``  — a file: 200 from local storage, 307 to a presigned URL with S3.

``REQUESTS`` says what to send where a route needs a body, a query or particular path values.

A route of the app missing from the table fails ``test_every_route_has_a_row``: a new route needs
a decision. ``PRIVATE_PARAMS`` names the path values that point at objects private to school B or
to another user; ``test_no_private_object_is_reachable`` checks that the table refuses (401, 403,
404) every role but the administrator and the manager of A on A's objects on those routes, and
the matrix test checks that the app does, and that no answer carries school B's data."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.lcms import samples

Ids = Mapping[str, Any]
Make = Callable[[Ids], dict[str, Any]]
Files = Callable[[Ids], dict[str, tuple[str, bytes, str]]]

ROLE_COUNT = 7
TOKENS = frozenset({"L", "R", "R!", "F"})


@dataclass(frozen=True)
class Send:
    """What a request carries besides the role's credentials."""

    json: Make | None = None  # a JSON body
    form: Make | None = None  # form fields (urlencoded, or multipart with ``files``)
    files: Files | None = None
    query: Make | None = None
    # Path parameter -> key of the world's ids ("=text": that text as it is).
    ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    expect: tuple[str, ...]  # one cell per role
    send: Send


def _soon(hours: int = 24) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _day(days: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _file(name: str, data: bytes, media_type: str) -> Files:
    return lambda i: {"file": (name, data, media_type)}


PDF = _file("bai.pdf", samples.pdf(), "application/pdf")
MP4 = _file("video.mp4", samples.mp4(2048), "video/mp4")
VTT = _file("en.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n", "text/vtt")
# A list or report filtered on the scope's school (school B, or A for the manager of A).
ORG = Send(query=lambda i: {"organization_id": i["organization_id"]})

# Path values (keys of the world's ids) of objects that belong to school B or to another user.
PRIVATE_PARAMS = frozenset(
    {
        "user_id",
        "member_id",
        "attendee_id",
        "judge_id",
        "attempt_id",
        "report_id",
        "event_id",
        "club_id",
        "thread_id",
        "post_id",
        "request_id",
        "entry_id",
        "file_id",
        "award_id",
    }
)

# Routes that hand out what a secret in their path or body opens (a certificate's code for
# verification, a calendar feed's token, an activation code, a password): they may show the
# person of school B it belongs to. Every other answer to anyone but an administrator must not.
CAPABILITY_ROUTES = frozenset(
    {
        ("GET", "/api/v1/certificates/{code}"),
        ("GET", "/verify/{code}"),
        ("GET", "/api/v1/calendar/{token}.ics"),
        ("GET", "/activate/{code}"),
        ("POST", "/activate/{code}"),
        ("POST", "/api/v1/auth/activate"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/login"),
    }
)

TABLE = """
#      route                                                          ano stu tea aut mgB mgA adm
# Accounts: API ----------------------------------------------------------------------------------
POST   /api/v1/auth/token                                             200 200 200 200 200 200 200
#   sign-in and activation are public; each answer is the signed-in or activated person's own
POST   /api/v1/auth/activate                                          200 200 200 200 200 200 200
GET    /api/v1/me                                                     401 200 200 200 200 200 200
POST   /api/v1/me/password                                            401 204 204 204 204 204 204
GET    /api/v1/organizations                                          401 200 200 200 200 200 200
POST   /api/v1/organizations                                          401 403 403 403 403 403 201
GET    /api/v1/organizations/{organization_id}                        401 200 200 200 200 200 200
PATCH  /api/v1/organizations/{organization_id}                        401 403 403 403 403 403 200
GET    /api/v1/users                                                  401 200 200 200 403 200 200
#   a filter on school B: students, teachers and authors only ever list themselves
POST   /api/v1/users                                                  401 403 403 403 403 201 201
POST   /api/v1/users/import                                           401 403 403 403 200 200 200
#   mgB: 200 with the line refused and nobody created (test_imports_refuse_other_schools)
GET    /api/v1/users/{user_id}                                        401 403 403 403 403 200 200
PATCH  /api/v1/users/{user_id}                                        401 403 403 403 403 200 200
POST   /api/v1/users/{user_id}/deactivate                             401 403 403 403 403 200 200
DELETE /api/v1/users/{user_id}                                        401 403 403 403 403 200 200
POST   /api/v1/users/{user_id}/activation                             401 403 403 403 403 200 200
# Accounts: pages --------------------------------------------------------------------------------
GET    /login                                                         200 R   R   R   R   R   R
POST   /login                                                         R   R   R   R   R   R   R
GET    /logout                                                        L   200 200 200 200 200 200
POST   /logout                                                        L   L   L   L   L   L   L
GET    /activate/{code}                                               200 200 200 200 200 200 200
POST   /activate/{code}                                               L   L   L   L   L   L   L
GET    /                                                              L   200 200 200 200 200 200
GET    /account/password                                              L   200 200 200 200 200 200
POST   /account/password                                              L   R   R   R   R   R   R
GET    /admin/organizations                                           L   403 403 403 403 403 200
POST   /admin/organizations                                           L   403 403 403 403 403 R
GET    /admin/organizations/{organization_id}                         L   403 403 403 403 403 200
POST   /admin/organizations/{organization_id}                         L   403 403 403 403 403 R
GET    /admin/users                                                   L   403 403 403 403 200 200
GET    /admin/users/new                                               L   403 403 403 200 200 200
POST   /admin/users                                                   L   403 403 403 403 201 201
GET    /admin/users/import                                            L   403 403 403 200 200 200
POST   /admin/users/import                                            L   403 403 403 422 200 200
#   mgB: 422, the form shows the line refused
GET    /admin/users/{user_id}                                         L   403 403 403 403 200 200
POST   /admin/users/{user_id}                                         L   403 403 403 403 R   R
POST   /admin/users/{user_id}/deactivate                              L   403 403 403 403 R   R
POST   /admin/users/{user_id}/reactivate                              L   403 403 403 403 R   R
POST   /admin/users/{user_id}/activation                              L   403 403 403 403 200 200
# Content library: API ---------------------------------------------------------------------------
POST   /api/v1/content                                                401 403 403 201 403 403 201
GET    /api/v1/content                                                401 200 200 200 200 200 200
GET    /api/v1/content/{item_id}                                      401 200 200 200 200 200 200
#   a published item of another author; its draft version 2 is for authors and admins only
PATCH  /api/v1/content/{item_id}                                      401 403 403 403 403 403 200
DELETE /api/v1/content/{item_id}                                      401 403 403 403 403 403 200
POST   /api/v1/content/{item_id}/restore                              401 403 403 403 403 403 200
POST   /api/v1/content/{item_id}/publish                              401 403 403 403 403 403 200
GET    /api/v1/content/{item_id}/history                              401 404 404 200 404 404 200
GET    /api/v1/content/{item_id}/versions                             401 200 200 200 200 200 200
#   learners and managers see the published version only (DRAFT never in their answers)
POST   /api/v1/content/{item_id}/versions                             401 403 403 403 403 403 201
GET    /api/v1/content/{item_id}/versions/{number}/file               401 404 404 F   404 404 F
#   captions of the draft version 2 (a copy of version 1's): authors and admins see them; only
#   the owner (author_b, not in the table) and admins change them
GET    /api/v1/content/{item_id}/versions/{number}/tracks             401 404 404 200 404 404 200
POST   /api/v1/content/{item_id}/versions/{number}/tracks             401 403 403 403 403 403 201
DELETE /api/v1/content/{item_id}/versions/{number}/tracks/{track_id}  401 403 403 403 403 403 204
GET /api/v1/content/{item_id}/versions/{number}/tracks/{track_id}/file 401 404 404 200 404 404 200
# Content library: pages -------------------------------------------------------------------------
GET    /library                                                       L   200 200 200 200 200 200
GET    /library/{item_id}                                             L   200 200 200 200 200 200
GET    /library/{item_id}/versions/{number}/file                      L   404 404 F   404 404 F
GET    /library/{item_id}/versions/{number}/tracks/{track_id}         L   404 404 200 404 404 200
GET    /studio                                                        L   403 403 200 403 403 200
POST   /studio/items                                                  L   403 403 R   403 403 R
GET    /studio/items/{item_id}                                        L   403 403 200 403 403 200
POST   /studio/items/{item_id}                                        L   403 403 403 403 403 R
POST   /studio/items/{item_id}/versions                               L   403 403 403 403 403 R
POST   /studio/items/{item_id}/tracks                                 L   403 403 403 403 403 R
POST /studio/items/{item_id}/versions/{number}/tracks/{track_id}/delete   L   403 403 R!  403 403 R
POST   /studio/items/{item_id}/publish                                L   403 403 R!  403 403 R
#   author: another author's item, refused with a message on the studio page
POST   /studio/items/{item_id}/archive                                L   403 403 R!  403 403 R
POST   /studio/items/{item_id}/restore                                L   403 403 R!  403 403 R
# Learning: API ----------------------------------------------------------------------------------
POST   /api/v1/courses                                                401 403 403 201 403 403 201
GET    /api/v1/courses                                                401 200 200 200 200 200 200
GET    /api/v1/courses/{course_id}                                    401 200 200 200 200 200 200
PATCH  /api/v1/courses/{course_id}                                    401 403 403 403 403 403 200
POST   /api/v1/courses/{course_id}/publish                            401 403 403 403 403 403 200
POST   /api/v1/courses/{course_id}/archive                            401 403 403 403 403 403 200
POST   /api/v1/courses/{course_id}/modules                            401 403 403 403 403 403 201
PUT    /api/v1/courses/{course_id}/modules/order                      401 403 403 403 403 403 204
POST   /api/v1/modules/{module_id}/lessons                            401 403 403 403 403 403 201
PUT    /api/v1/modules/{module_id}/lessons/order                      401 403 403 403 403 403 204
POST   /api/v1/lessons/{lesson_id}/update-content                     401 403 403 403 403 403 200
GET    /api/v1/lessons/{lesson_id}/file                               401 403 403 F   403 403 F
POST   /api/v1/courses/{course_id}/enroll                             401 200 200 200 200 200 200
#   a published course: anyone signed in enrols themselves
POST   /api/v1/courses/{course_id}/withdraw                           401 404 404 404 404 404 404
POST   /api/v1/courses/{course_id}/enrollments                        401 403 403 403 403 200 200
POST   /api/v1/courses/{course_id}/enrollments/import                 401 403 403 403 200 200 200
#   mgB: 200 with the line refused and nobody enrolled (test_imports_refuse_other_schools)
GET    /api/v1/courses/{course_id}/enrollments                        401 403 403 403 200 200 200
#   a school manager sees the learners of their own school only
GET    /api/v1/me/enrollments                                         401 200 200 200 200 200 200
POST   /api/v1/lessons/{lesson_id}/progress                           401 403 403 403 403 403 403
#   nobody acting is enrolled: progress and attempts are refused (403, enrol first)
POST   /api/v1/lessons/{lesson_id}/questions                          401 403 403 403 403 403 201
POST   /api/v1/lessons/{lesson_id}/attempts                           401 403 403 403 403 403 403
GET    /api/v1/attempts/{attempt_id}                                  401 404 404 404 404 404 404
PATCH  /api/v1/attempts/{attempt_id}                                  401 404 404 404 404 404 404
POST   /api/v1/attempts/{attempt_id}/submit                           401 404 404 404 404 404 404
GET    /api/v1/me/certificates                                        401 200 200 200 200 200 200
GET    /api/v1/certificates/{code}                                    200 200 200 200 200 200 200
#   verification by code is public by design (the code is on the printed certificate)
POST   /api/v1/certificates/{code}/revoke                             401 403 403 403 403 403 200
# Learning: pages --------------------------------------------------------------------------------
GET    /courses                                                       L   200 200 200 200 200 200
GET    /courses/{course_id}                                           L   200 200 200 200 200 200
POST   /courses/{course_id}/enroll                                    L   R   R   R   R   R   R
POST   /courses/{course_id}/withdraw                                  L   R!  R!  R!  R!  R!  R!
GET    /courses/{course_id}/certificate                               L   404 404 404 404 404 404
GET    /lessons/{lesson_id}                                           L   R!  R!  200 R!  R!  200
#   not enrolled: back to the course page, which says to enrol
GET    /lessons/{lesson_id}/file                                      L   403 403 F   403 403 F
GET    /lessons/{lesson_id}/tracks/{track_id}                         L   403 403 200 403 403 200
POST   /lessons/{lesson_id}/progress                                  401 403 403 403 403 403 403
POST   /lessons/{lesson_id}/done                                      L   R!  R!  R!  R!  R!  R!
POST   /lessons/{lesson_id}/quiz                                      L   R!  R!  R!  R!  R!  R!
GET    /lessons/{lesson_id}/quiz                                      L   R!  R!  R!  R!  R!  R!
POST   /attempts/{attempt_id}/submit-form                             L   404 404 404 404 404 404
PATCH  /attempts/{attempt_id}/answers                                 401 404 404 404 404 404 404
POST   /attempts/{attempt_id}/submit                                  401 404 404 404 404 404 404
GET    /attempts/{attempt_id}/result                                  L   404 404 404 404 404 404
GET    /my                                                            L   200 200 200 200 200 200
GET    /my/certificates                                               L   200 200 200 200 200 200
GET    /certificates/{code}                                           L   404 404 404 404 404 200
#   the printable certificate: its holder and administrators
GET    /verify/{code}                                                 200 200 200 200 200 200 200
# Course builder pages ---------------------------------------------------------------------------
GET    /studio/courses                                                L   403 403 200 403 403 200
POST   /studio/courses                                                L   403 403 R   403 403 R
GET    /studio/courses/{course_id}                                    L   403 403 200 403 403 200
POST   /studio/courses/{course_id}                                    L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/modules                            L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/modules/{module_id}/move           L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/modules/{module_id}/lessons        L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/lessons/{lesson_id}/move           L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/lessons/{lesson_id}/update-content L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/lessons/{lesson_id}/questions      L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/publish                            L   403 403 403 403 403 R
POST   /studio/courses/{course_id}/archive                            L   403 403 403 403 403 R
GET    /courses/{course_id}/learners                                  L   403 403 403 200 200 200
POST   /courses/{course_id}/learners/assign                           L   403 403 403 403 R   R
POST   /courses/{course_id}/learners/import                           L   403 403 403 422 R   R
#   mgB: 422, the form shows the line refused
# Events and partners: API -----------------------------------------------------------------------
POST   /api/v1/events                                                 401 403 403 201 403 201 201
#   author: a commune author may hold events in the commune's schools
GET    /api/v1/events                                                 401 200 200 200 200 200 200
GET    /api/v1/events/{event_id}.ics                                  401 404 404 404 404 200 200
GET    /api/v1/events/{event_id}                                      401 404 404 404 404 200 200
PATCH  /api/v1/events/{event_id}                                      401 404 404 404 404 200 200
POST   /api/v1/events/{event_id}/register                             401 404 404 404 404 201 201
DELETE /api/v1/events/{event_id}/register                             401 404 404 404 404 404 404
POST   /api/v1/events/{event_id}/checkin-code                         401 404 404 404 404 200 200
POST   /api/v1/events/{event_id}/checkin                              401 404 404 404 404 422 422
#   organisers: 422, a wrong code
GET    /api/v1/events/{event_id}/attendance                           401 404 404 404 404 200 200
PUT    /api/v1/events/{event_id}/attendance/{user_id}                 401 404 404 404 404 200 200
POST   /api/v1/events/{event_id}/attendance/import                    401 404 404 404 404 200 200
GET    /api/v1/me/calendar.ics                                        401 200 200 200 200 200 200
GET    /api/v1/calendar/{token}.ics                                   200 200 200 200 200 200 200
#   the secret feed address is the credential (calendar apps cannot sign in)
GET    /api/v1/me/calendar-feed                                       401 200 200 200 200 200 200
POST   /api/v1/me/calendar-feed                                       401 200 200 200 200 200 200
DELETE /api/v1/me/calendar-feed                                       401 204 204 204 204 204 204
POST   /api/v1/partners                                               401 403 403 403 403 403 201
GET    /api/v1/partners                                               401 200 200 200 200 200 200
GET    /api/v1/partners/{partner_id}                                  401 200 200 200 200 200 200
PATCH  /api/v1/partners/{partner_id}                                  401 403 403 403 403 403 200
DELETE /api/v1/partners/{partner_id}                                  401 403 403 403 403 403 204
# Events and partners: pages ---------------------------------------------------------------------
GET    /events                                                        L   200 200 200 200 200 200
POST   /events/feed                                                   L   R   R   R   R   R   R
POST   /events/feed/revoke                                            L   R   R   R   R   R   R
GET    /events/my.ics                                                 L   200 200 200 200 200 200
GET    /events/new                                                    L   403 403 200 200 200 200
POST   /events/new                                                    L   403 403 R   403 R   R
GET    /events/by-lesson/{lesson_id}                                  L   404 404 404 404 404 R
#   the event lesson is linked to school B's event: only its audience and organisers
GET    /events/{event_id}                                             L   404 404 404 404 200 200
GET    /events/{event_id}/calendar.ics                                L   404 404 404 404 200 200
GET    /events/{event_id}/edit                                        L   404 404 404 404 200 200
POST   /events/{event_id}/edit                                        L   404 404 404 404 R   R
POST   /events/{event_id}/register                                    L   404 404 404 404 R   R
POST   /events/{event_id}/cancel                                      L   404 404 404 404 R!  R!
#   mgA, admin: not registered, said on the event's page (found by this matrix: was R! for all)
POST   /events/{event_id}/code                                        L   404 404 404 404 R   R
GET    /events/{event_id}/checkin                                     L   404 404 404 404 200 200
POST   /events/{event_id}/checkin                                     L   404 404 404 404 422 422
POST   /events/{event_id}/attendance                                  L   404 404 404 404 R   R
POST   /events/{event_id}/attendance/import                           L   404 404 404 404 R   R
POST   /events/{event_id}/attendance/{user_id}                        L   404 404 404 404 R   R
GET    /partners                                                      L   200 200 200 200 200 200
POST   /partners                                                      L   403 403 403 403 403 R
GET    /partners/{partner_id}                                         L   200 200 200 200 200 200
POST   /partners/{partner_id}                                         L   403 403 403 403 403 R
POST   /partners/{partner_id}/delete                                  L   403 403 403 403 403 R
# Audit log --------------------------------------------------------------------------------------
GET    /api/v1/audit                                                  401 403 403 403 403 403 200
GET    /api/v1/audit.csv                                              401 403 403 403 403 403 200
GET    /admin/audit                                                   L   403 403 403 403 403 200
GET    /admin/audit.csv                                               L   403 403 403 403 403 200
# Reports: API -----------------------------------------------------------------------------------
GET    /api/v1/reports/completion                                     401 403 403 403 403 200 200
GET    /api/v1/reports/completion.csv                                 401 403 403 403 403 200 200
GET    /api/v1/reports/completion.xlsx                                401 403 403 403 403 200 200
GET    /api/v1/reports/completion/learners                            401 403 403 403 403 200 200
GET    /api/v1/reports/completion/learners.csv                        401 403 403 403 403 200 200
GET    /api/v1/reports/completion/learners.xlsx                       401 403 403 403 403 200 200
POST   /api/v1/reports/periodic                                       401 403 403 403 403 201 201
GET    /api/v1/reports/periodic                                       401 403 403 403 403 200 200
GET    /api/v1/reports/periodic/overview                              401 403 403 403 403 403 200
GET    /api/v1/reports/periodic/{report_id:int}                       401 403 403 403 403 200 200
PATCH  /api/v1/reports/periodic/{report_id:int}                       401 403 403 403 403 200 409
#   school B's report is submitted (409 to change; a revision instead), A's is a draft
POST   /api/v1/reports/periodic/{report_id:int}/submit                401 403 403 403 403 200 409
POST   /api/v1/reports/periodic/{report_id:int}/revise                401 403 403 403 403 409 201
GET    /api/v1/reports/periodic/{report_id:int}.xlsx                  401 403 403 403 403 200 200
GET    /api/v1/reports/periodic/{report_id:int}.pdf                   401 403 403 403 403 200 200
# Reports: pages ---------------------------------------------------------------------------------
GET    /reports/periodic                                              L   403 403 403 200 200 200
#   the pages take a school manager's own school whatever the filter asks (mgB shows A's)
GET    /reports/periodic/new                                          L   403 403 403 200 200 200
POST   /reports/periodic                                              L   403 403 403 R   R   R
#   mgB: the draft is made for the manager's own school, not for the school in the form
GET    /reports/periodic/overview                                     L   403 403 403 403 403 200
GET    /reports/periodic/{report_id:int}                              L   403 403 403 403 200 200
GET    /reports/periodic/{report_id:int}/edit                         L   403 403 403 403 200 R!
POST   /reports/periodic/{report_id:int}/edit                         L   403 403 403 403 R   409
POST   /reports/periodic/{report_id:int}/submit                       L   403 403 403 403 R   409
POST   /reports/periodic/{report_id:int}/revise                       L   403 403 403 403 409 R
GET    /reports/periodic/{report_id:int}.xlsx                         L   403 403 403 403 200 200
GET    /reports/periodic/{report_id:int}.pdf                          L   403 403 403 403 200 200
GET    /reports                                                       L   403 403 403 403 200 200
GET    /reports/completion                                            L   403 403 403 403 200 200
GET    /reports/completion/learners                                   L   403 403 403 403 200 200
GET    /reports/completion.{extension}                                L   403 403 403 403 200 200
GET    /reports/completion/learners.{extension}                       L   403 403 403 403 200 200
GET    /reports/completion/months.{extension}                         L   403 403 403 403 200 200
# Clubs: API -------------------------------------------------------------------------------------
POST   /api/v1/clubs                                                  401 403 403 403 403 201 201
GET    /api/v1/clubs                                                  401 200 200 200 200 200 200
GET    /api/v1/clubs/unread                                           401 200 200 200 200 200 200
GET    /api/v1/clubs/{club_id}                                        401 404 404 404 404 200 200
POST   /api/v1/clubs/{club_id}/join                                   401 404 404 404 404 201 201
GET    /api/v1/clubs/{club_id}/requests                               401 404 404 404 404 403 200
#   mgA: school A's club is visible to its school, but leading it is for its leaders
POST   /api/v1/clubs/{club_id}/requests/{request_id}/approve          401 404 404 404 404 403 200
POST   /api/v1/clubs/{club_id}/requests/{request_id}/reject           401 404 404 404 404 403 200
GET    /api/v1/clubs/{club_id}/members                                401 404 404 404 404 200 200
PUT    /api/v1/clubs/{club_id}/members/{user_id}                      401 404 404 404 404 403 200
DELETE /api/v1/clubs/{club_id}/members/{user_id}                      401 404 404 404 404 403 204
POST   /api/v1/clubs/{club_id}/threads                                401 404 404 404 404 403 403
#   administrators read and moderate every club but post only as members
GET    /api/v1/clubs/{club_id}/threads                                401 404 404 404 404 403 200
GET    /api/v1/threads/{thread_id}                                    401 404 404 404 404 403 200
GET    /api/v1/threads/{thread_id}/posts                              401 404 404 404 404 403 200
POST   /api/v1/threads/{thread_id}/posts                              401 404 404 404 404 403 403
POST   /api/v1/threads/{thread_id}/read                               401 404 404 404 404 403 200
POST   /api/v1/posts/{post_id}/hide                                   401 404 404 404 404 403 200
POST   /api/v1/posts/{post_id}/unhide                                 401 404 404 404 404 403 200
POST   /api/v1/threads/{thread_id}/lock                               401 404 404 404 404 403 200
POST   /api/v1/threads/{thread_id}/unlock                             401 404 404 404 404 403 200
GET    /api/v1/threads/{thread_id}/moderation                         401 404 404 404 404 403 200
# Clubs: pages -----------------------------------------------------------------------------------
GET    /clubs                                                         L   200 200 200 200 200 200
POST   /clubs                                                         L   403 403 403 403 R   R
GET    /clubs/{club_id}                                               L   404 404 404 404 200 200
POST   /clubs/{club_id}/join                                          L   404 404 404 404 R   R
POST   /clubs/{club_id}/requests/{request_id}/{decision}              L   404 404 404 404 R!  R
POST   /clubs/{club_id}/members/{member_id}/role                      L   404 404 404 404 R!  R
POST   /clubs/{club_id}/members/{member_id}/remove                    L   404 404 404 404 R!  R
POST   /clubs/{club_id}/leave                                         L   404 404 404 404 404 404
POST   /clubs/{club_id}/threads                                       L   404 404 404 404 403 403
GET    /threads/{thread_id}                                           L   404 404 404 404 403 200
POST   /threads/{thread_id}/posts                                     L   404 404 404 404 403 403
POST   /posts/{post_id}/{action}                                      L   404 404 404 404 403 R
POST   /threads/{thread_id}/{action}                                  L   404 404 404 404 403 R
# Contests and awards: API -----------------------------------------------------------------------
POST   /api/v1/contests                                               401 403 403 403 403 201 201
GET    /api/v1/contests                                               401 200 200 200 200 200 200
GET    /api/v1/contests/{contest_id}                                  401 200 200 200 200 200 200
#   contests are announcements: every signed-in user reads them (not their entries)
POST   /api/v1/contests/{contest_id}/judges                           401 403 403 403 403 403 201
DELETE /api/v1/contests/{contest_id}/judges/{user_id}                 401 403 403 403 403 403 204
POST   /api/v1/contests/{contest_id}/entries                          401 403 403 403 403 201 403
#   mgA: the manager is of the contest's school and level; admin: at the commune, not eligible
GET    /api/v1/contests/{contest_id}/entries                          401 200 200 200 200 200 200
#   everyone: only the entries they may see (none before the results)
POST   /api/v1/contests/{contest_id}/publish-results                  401 403 403 403 403 403 409
GET    /api/v1/contests/{contest_id}/results                          401 409 409 409 409 409 409
#   409: the results are not published yet
GET    /api/v1/entries/{entry_id}                                     401 404 404 404 404 200 200
PATCH  /api/v1/entries/{entry_id}                                     401 404 404 404 404 403 403
#   mgA, admin: they see the entry (its school's manager, the organiser) but only members edit
POST   /api/v1/entries/{entry_id}/files                               401 404 404 404 404 403 403
GET    /api/v1/entries/{entry_id}/files/{file_id}                     401 404 404 404 404 F   F
DELETE /api/v1/entries/{entry_id}/files/{file_id}                     401 404 404 404 404 403 403
POST   /api/v1/entries/{entry_id}/scores                              401 403 403 403 403 403 403
#   only the panel scores (the acting users are not on it)
GET    /api/v1/entries/{entry_id}/scores                              401 404 404 404 404 200 200
#   mgA, admin: an empty list, since a judge's scores are the judge's until the results
POST   /api/v1/awards                                                 401 403 403 403 403 403 201
GET    /api/v1/awards                                                 401 200 200 200 200 200 200
GET    /api/v1/awards/{award_id}                                      401 404 404 404 404 200 200
# Contests and awards: pages ---------------------------------------------------------------------
GET    /contests                                                      L   200 200 200 200 200 200
POST   /contests                                                      L   403 403 403 403 R   R
GET    /contests/{contest_id}                                         L   200 200 200 200 200 200
POST   /contests/{contest_id}/entries                                 L   403 403 403 403 R   403
POST   /contests/{contest_id}/judges                                  L   403 403 403 403 403 R
POST   /contests/{contest_id}/judges/{user_id}/remove                 L   403 403 403 403 403 R
POST   /contests/{contest_id}/publish                                 L   403 403 403 403 403 409
GET    /entries/{entry_id}                                            L   404 404 404 404 200 200
POST   /entries/{entry_id}                                            L   404 404 404 404 403 403
POST   /entries/{entry_id}/files                                      L   404 404 404 404 403 403
GET    /entries/{entry_id}/files/{file_id}                            L   404 404 404 404 F   F
POST   /entries/{entry_id}/files/{file_id}/remove                     L   404 404 404 404 403 403
GET    /judging/{contest_id}                                          L   403 403 403 403 403 403
#   the judging pages are the panel's (admins organise, they do not judge)
POST   /judging/{contest_id}/entries/{entry_id}                       L   403 403 403 403 403 403
GET    /awards                                                        L   200 200 200 200 200 200
POST   /awards                                                        L   403 403 403 403 403 R
GET    /awards/{award_id}/certificate                                 L   404 404 404 404 200 200
GET    /users/{user_id}/awards                                        L   403 403 403 403 200 200
# The app itself ---------------------------------------------------------------------------------
GET    /openapi.json                                                  200 200 200 200 200 200 200
#   the API's description and the health check are public
GET    /docs                                                          200 200 200 200 200 200 200
GET    /healthz                                                       200 200 200 200 200 200 200
"""

REQUESTS: dict[tuple[str, str], Send] = {
    # --- Accounts: API --------------------------------------------------------------------
    ("POST", "/api/v1/auth/token"): Send(
        form=lambda i: {"username": i["login_email"], "password": i["login_password"]},
    ),
    ("POST", "/api/v1/auth/activate"): Send(
        json=lambda i: {"code": i["activation_code"], "password": "Mat-khau-moi-2026"},
    ),
    ("POST", "/api/v1/me/password"): Send(
        json=lambda i: {
            "current_password": i["login_password"],
            "new_password": "Mat-khau-moi-2026",
        },
    ),
    ("POST", "/api/v1/organizations"): Send(
        json=lambda i: {
            "name": "Trường mới",
            "kind": "school",
            "level": "primary",
            "parent_id": i["commune_id"],
        },
    ),
    ("PATCH", "/api/v1/organizations/{organization_id}"): Send(
        json=lambda i: {"name": "Tên trường mới"},
    ),
    ("GET", "/api/v1/users"): ORG,
    ("POST", "/api/v1/users"): Send(
        json=lambda i: {
            "email": "nguoi.moi@matrix.edu.vn",
            "full_name": "Người mới",
            "role": "teacher",
            "organization_id": i["organization_id"],
        },
    ),
    ("POST", "/api/v1/users/import"): Send(
        files=lambda i: {
            "file": (
                "users.csv",
                _csv(
                    "email,full_name,role,organization_id",
                    f"nhap.moi@matrix.edu.vn,Nhập Mới,teacher,{i['organization_id']}",
                ),
                "text/csv",
            )
        },
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Send(
        json=lambda i: {"full_name": "Tên mới"},
    ),
    # --- Accounts: pages ------------------------------------------------------------------
    ("POST", "/login"): Send(
        form=lambda i: {"email": i["login_email"], "password": i["login_password"]},
    ),
    ("GET", "/activate/{code}"): Send(
        ids={"code": "activation_code"},
    ),
    ("POST", "/activate/{code}"): Send(
        ids={"code": "activation_code"},
        form=lambda i: {"password": "Mat-khau-moi-2026", "password_confirm": "Mat-khau-moi-2026"},
    ),
    ("POST", "/account/password"): Send(
        form=lambda i: {
            "current_password": i["login_password"],
            "new_password": "Mat-khau-moi-2026",
            "new_password_confirm": "Mat-khau-moi-2026",
        },
    ),
    ("POST", "/admin/organizations"): Send(
        form=lambda i: {
            "name": "Trường mới",
            "kind": "school",
            "level": "primary",
            "parent_id": str(i["commune_id"]),
        },
    ),
    ("POST", "/admin/organizations/{organization_id}"): Send(
        form=lambda i: {
            "name": "Tên trường mới",
            "level": "primary",
            "parent_id": str(i["commune_id"]),
        },
    ),
    ("GET", "/admin/users"): ORG,
    ("POST", "/admin/users"): Send(
        form=lambda i: {
            "email": "nguoi.moi@matrix.edu.vn",
            "full_name": "Người mới",
            "role": "teacher",
            "organization_id": str(i["organization_id"]),
        },
    ),
    ("POST", "/admin/users/import"): Send(
        form=lambda i: {"dry_run": "1"},
        files=lambda i: {
            "file": (
                "users.csv",
                _csv(
                    "email,full_name,role,organization_id",
                    f"nhap.moi@matrix.edu.vn,Nhập Mới,teacher,{i['organization_id']}",
                ),
                "text/csv",
            )
        },
    ),
    ("POST", "/admin/users/{user_id}"): Send(
        form=lambda i: {
            "full_name": "Tên mới",
            "role": "teacher",
            "organization_id": str(i["organization_id"]),
        },
    ),
    # --- Content library: API -------------------------------------------------------------
    ("POST", "/api/v1/content"): Send(
        json=lambda i: {"title": "Tài liệu mới", "kind": "document"},
    ),
    ("GET", "/api/v1/content"): Send(query=lambda i: {"status": "draft"}),
    ("PATCH", "/api/v1/content/{item_id}"): Send(
        json=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/api/v1/content/{item_id}/publish"): Send(
        json=lambda i: {"version": i["number"]},
    ),
    ("POST", "/api/v1/content/{item_id}/versions"): Send(
        files=MP4,
    ),
    ("POST", "/api/v1/content/{item_id}/versions/{number}/tracks"): Send(
        form=lambda i: {"kind": "captions", "language": "en"},
        files=VTT,
    ),
    # --- Content library: pages -----------------------------------------------------------
    ("POST", "/studio/items"): Send(
        form=lambda i: {"title": "Tài liệu mới", "kind": "document"},
    ),
    ("POST", "/studio/items/{item_id}"): Send(
        form=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/studio/items/{item_id}/versions"): Send(
        files=MP4,
    ),
    ("GET", "/lessons/{lesson_id}/tracks/{track_id}"): Send(
        ids={"track_id": "published_track_id"},
    ),
    ("POST", "/studio/items/{item_id}/tracks"): Send(
        form=lambda i: {"version": str(i["number"]), "kind": "captions", "language": "en"},
        files=VTT,
    ),
    ("POST", "/studio/items/{item_id}/publish"): Send(
        form=lambda i: {"version": str(i["number"])},
    ),
    # --- Learning: API --------------------------------------------------------------------
    ("POST", "/api/v1/courses"): Send(
        json=lambda i: {"title": "Khoá mới"},
    ),
    ("GET", "/api/v1/courses"): Send(query=lambda i: {"status": "draft"}),
    ("PATCH", "/api/v1/courses/{course_id}"): Send(
        json=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/api/v1/courses/{course_id}/modules"): Send(
        json=lambda i: {"title": "Học phần mới"},
    ),
    ("PUT", "/api/v1/courses/{course_id}/modules/order"): Send(
        json=lambda i: {"ids": [i["module_id"]]},
    ),
    ("POST", "/api/v1/modules/{module_id}/lessons"): Send(
        json=lambda i: {"title": "Bài mới", "kind": "quiz"},
    ),
    ("PUT", "/api/v1/modules/{module_id}/lessons/order"): Send(
        json=lambda i: {"ids": [i["quiz_lesson_id"], i["lesson_id"], i["event_lesson_id"]]},
    ),
    ("POST", "/api/v1/courses/{course_id}/enrollments"): Send(
        json=lambda i: {"user_ids": [i["user_id"]]},
    ),
    ("POST", "/api/v1/courses/{course_id}/enrollments/import"): Send(
        files=lambda i: {"file": ("emails.csv", _csv("email", i["user_email"]), "text/csv")},
    ),
    ("POST", "/api/v1/lessons/{lesson_id}/progress"): Send(
        json=lambda i: {"event_id": str(uuid.uuid4()), "percent": 40},
    ),
    ("POST", "/api/v1/lessons/{lesson_id}/questions"): Send(
        ids={"lesson_id": "quiz_lesson_id"},
        json=lambda i: {"text": "Thủ đô?", "kind": "short", "answer": "Hà Nội"},
    ),
    ("POST", "/api/v1/lessons/{lesson_id}/attempts"): Send(
        ids={"lesson_id": "quiz_lesson_id"},
    ),
    ("PATCH", "/api/v1/attempts/{attempt_id}"): Send(
        json=lambda i: {"answers": {str(i["question_id"]): [i["choice_id"]]}},
    ),
    ("POST", "/api/v1/attempts/{attempt_id}/submit"): Send(
        json=lambda i: {"answers": {str(i["question_id"]): [i["choice_id"]]}},
    ),
    ("POST", "/api/v1/certificates/{code}/revoke"): Send(
        json=lambda i: {"reason": "Cấp nhầm"},
    ),
    # --- Learning: pages ------------------------------------------------------------------
    ("POST", "/lessons/{lesson_id}/progress"): Send(
        json=lambda i: {"event_id": str(uuid.uuid4()), "percent": 40},
    ),
    ("POST", "/lessons/{lesson_id}/quiz"): Send(
        ids={"lesson_id": "quiz_lesson_id"},
    ),
    ("GET", "/lessons/{lesson_id}/quiz"): Send(
        ids={"lesson_id": "quiz_lesson_id"},
    ),
    ("POST", "/attempts/{attempt_id}/submit-form"): Send(
        form=lambda i: {f"q{i['question_id']}": str(i["choice_id"])},
    ),
    ("PATCH", "/attempts/{attempt_id}/answers"): Send(
        json=lambda i: {"answers": {str(i["question_id"]): [i["choice_id"]]}},
    ),
    ("POST", "/attempts/{attempt_id}/submit"): Send(
        json=lambda i: {"answers": {str(i["question_id"]): [i["choice_id"]]}},
    ),
    # --- Course builder pages -------------------------------------------------------------
    ("POST", "/studio/courses"): Send(
        form=lambda i: {"title": "Khoá mới"},
    ),
    ("POST", "/studio/courses/{course_id}"): Send(
        form=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/studio/courses/{course_id}/modules"): Send(
        form=lambda i: {"title": "Học phần mới"},
    ),
    ("POST", "/studio/courses/{course_id}/modules/{module_id}/move"): Send(
        form=lambda i: {"direction": "up"},
    ),
    ("POST", "/studio/courses/{course_id}/modules/{module_id}/lessons"): Send(
        form=lambda i: {"title": "Bài mới", "kind": "quiz"},
    ),
    ("POST", "/studio/courses/{course_id}/lessons/{lesson_id}/move"): Send(
        form=lambda i: {"direction": "down"},
    ),
    ("POST", "/studio/courses/{course_id}/lessons/{lesson_id}/questions"): Send(
        ids={"lesson_id": "quiz_lesson_id"},
        form=lambda i: {"text": "Thủ đô?", "kind": "short", "answer": "Hà Nội"},
    ),
    ("POST", "/studio/courses/{course_id}/archive"): Send(
        form=lambda i: {"confirm": "1"},
    ),
    ("POST", "/courses/{course_id}/learners/assign"): Send(
        form=lambda i: {"organization_id": str(i["organization_id"]), "role": "teacher"},
    ),
    ("POST", "/courses/{course_id}/learners/import"): Send(
        files=lambda i: {"file": ("emails.csv", _csv("email", i["user_email"]), "text/csv")},
    ),
    # --- Events and partners: API ---------------------------------------------------------
    ("POST", "/api/v1/events"): Send(
        json=lambda i: {
            "title": "Sự kiện mới",
            "kind": "seminar",
            "starts_at": _soon(24),
            "ends_at": _soon(26),
            "organization_id": i["organization_id"],
        },
    ),
    ("GET", "/api/v1/events"): ORG,
    ("PATCH", "/api/v1/events/{event_id}"): Send(
        json=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/api/v1/events/{event_id}/checkin"): Send(
        json=lambda i: {"code": "ABCDEF"},
    ),
    ("PUT", "/api/v1/events/{event_id}/attendance/{user_id}"): Send(
        ids={"user_id": "attendee_id"},
        json=lambda i: {"present": True},
    ),
    ("POST", "/api/v1/events/{event_id}/attendance/import"): Send(
        files=lambda i: {"file": ("emails.csv", _csv("email", i["attendee_email"]), "text/csv")},
    ),
    ("POST", "/api/v1/partners"): Send(
        json=lambda i: {"name": "Đối tác mới", "kind": "ngo"},
    ),
    ("PATCH", "/api/v1/partners/{partner_id}"): Send(
        json=lambda i: {"name": "Tên mới"},
    ),
    # --- Events and partners: pages -------------------------------------------------------
    ("GET", "/events"): ORG,
    ("POST", "/events/new"): Send(
        form=lambda i: {
            "title": "Sự kiện mới",
            "kind": "seminar",
            "organization_id": str(i["organization_id"]),
            "start_date": _day(2),
            "start_time": "08:00",
            "end_date": _day(2),
            "end_time": "10:00",
        },
    ),
    ("GET", "/events/by-lesson/{lesson_id}"): Send(
        ids={"lesson_id": "event_lesson_id"},
    ),
    ("POST", "/events/{event_id}/edit"): Send(
        form=lambda i: {
            "title": "Tên mới",
            "kind": "seminar",
            "organization_id": str(i["organization_id"]),
            "start_date": _day(2),
            "start_time": "08:00",
            "end_date": _day(2),
            "end_time": "10:00",
        },
    ),
    ("POST", "/events/{event_id}/checkin"): Send(
        form=lambda i: {"code": "ABCDEF"},
    ),
    ("POST", "/events/{event_id}/attendance"): Send(
        form=lambda i: {"email": i["attendee_email"]},
    ),
    ("POST", "/events/{event_id}/attendance/import"): Send(
        files=lambda i: {"file": ("emails.csv", _csv("email", i["attendee_email"]), "text/csv")},
    ),
    ("POST", "/events/{event_id}/attendance/{user_id}"): Send(
        ids={"user_id": "attendee_id"},
        form=lambda i: {"present": "1"},
    ),
    ("POST", "/partners"): Send(
        form=lambda i: {"name": "Đối tác mới", "kind": "ngo"},
    ),
    ("POST", "/partners/{partner_id}"): Send(
        form=lambda i: {"name": "Tên mới", "kind": "ngo"},
    ),
    # --- Audit log ------------------------------------------------------------------------
    ("GET", "/api/v1/audit"): ORG,
    ("GET", "/api/v1/audit.csv"): ORG,
    ("GET", "/admin/audit"): ORG,
    ("GET", "/admin/audit.csv"): ORG,
    # --- Reports: API ---------------------------------------------------------------------
    ("GET", "/api/v1/reports/completion"): ORG,
    ("GET", "/api/v1/reports/completion.csv"): ORG,
    ("GET", "/api/v1/reports/completion.xlsx"): ORG,
    ("GET", "/api/v1/reports/completion/learners"): ORG,
    ("GET", "/api/v1/reports/completion/learners.csv"): ORG,
    ("GET", "/api/v1/reports/completion/learners.xlsx"): ORG,
    ("POST", "/api/v1/reports/periodic"): Send(
        json=lambda i: {"organization_id": i["organization_id"], "period": "2024"},
    ),
    ("GET", "/api/v1/reports/periodic"): ORG,
    ("GET", "/api/v1/reports/periodic/overview"): Send(
        query=lambda i: {"period": i["period"]},
    ),
    ("PATCH", "/api/v1/reports/periodic/{report_id:int}"): Send(
        json=lambda i: {"narrative": "Đã sửa"},
    ),
    # --- Reports: pages -------------------------------------------------------------------
    ("GET", "/reports/periodic"): ORG,
    ("POST", "/reports/periodic"): Send(
        form=lambda i: {"organization_id": str(i["organization_id"]), "period": "2024"},
    ),
    ("GET", "/reports/periodic/overview"): Send(
        query=lambda i: {"period": i["period"]},
    ),
    ("POST", "/reports/periodic/{report_id:int}/edit"): Send(
        form=lambda i: {"narrative": "Đã sửa", "number": "12/BC"},
    ),
    ("POST", "/reports/periodic/{report_id:int}/submit"): Send(
        form=lambda i: {"confirm": "1"},
    ),
    ("GET", "/reports"): ORG,
    ("GET", "/reports/completion"): ORG,
    ("GET", "/reports/completion/learners"): ORG,
    ("GET", "/reports/completion.{extension}"): ORG,
    ("GET", "/reports/completion/learners.{extension}"): ORG,
    ("GET", "/reports/completion/months.{extension}"): ORG,
    # --- Clubs: API -----------------------------------------------------------------------
    ("POST", "/api/v1/clubs"): Send(
        json=lambda i: {"name": "CLB mới", "organization_id": i["organization_id"]},
    ),
    ("PUT", "/api/v1/clubs/{club_id}/members/{user_id}"): Send(
        ids={"user_id": "member_id"},
        json=lambda i: {"role": "leader"},
    ),
    ("DELETE", "/api/v1/clubs/{club_id}/members/{user_id}"): Send(
        ids={"user_id": "member_id"},
    ),
    ("POST", "/api/v1/clubs/{club_id}/threads"): Send(
        json=lambda i: {"title": "Chủ đề mới", "body": "Nội dung"},
    ),
    ("POST", "/api/v1/threads/{thread_id}/posts"): Send(
        json=lambda i: {"body": "Trả lời"},
    ),
    # --- Clubs: pages ---------------------------------------------------------------------
    ("POST", "/clubs"): Send(
        form=lambda i: {
            "name": "CLB mới",
            "organization_id": str(i["organization_id"]),
            "kind": "club",
        },
    ),
    ("POST", "/clubs/{club_id}/requests/{request_id}/{decision}"): Send(
        ids={"decision": "=approve"},
    ),
    ("POST", "/clubs/{club_id}/members/{member_id}/role"): Send(
        form=lambda i: {"role": "leader"},
    ),
    ("POST", "/clubs/{club_id}/threads"): Send(
        form=lambda i: {"title": "Chủ đề mới", "body": "Nội dung"},
    ),
    ("POST", "/threads/{thread_id}/posts"): Send(
        form=lambda i: {"body": "Trả lời"},
    ),
    ("POST", "/posts/{post_id}/{action}"): Send(
        ids={"action": "=hide"},
    ),
    ("POST", "/threads/{thread_id}/{action}"): Send(
        ids={"action": "=lock"},
    ),
    # --- Contests and awards: API ---------------------------------------------------------
    ("POST", "/api/v1/contests"): Send(
        json=lambda i: {
            "title": "Cuộc thi mới",
            "kind": "idea",
            "opens_at": _soon(1),
            "closes_at": _soon(240),
            "organization_id": i["organization_id"],
            "criteria": [{"name": "Ý tưởng", "weight": 1, "max_score": 10}],
        },
    ),
    ("POST", "/api/v1/contests/{contest_id}/judges"): Send(
        json=lambda i: {"user_id": i["staff_id"]},
    ),
    ("DELETE", "/api/v1/contests/{contest_id}/judges/{user_id}"): Send(
        ids={"user_id": "judge_id"},
    ),
    ("POST", "/api/v1/contests/{contest_id}/entries"): Send(
        json=lambda i: {"title": "Bài dự thi mới"},
    ),
    ("PATCH", "/api/v1/entries/{entry_id}"): Send(
        json=lambda i: {"title": "Tên mới"},
    ),
    ("POST", "/api/v1/entries/{entry_id}/files"): Send(
        files=PDF,
    ),
    ("POST", "/api/v1/entries/{entry_id}/scores"): Send(
        json=lambda i: {"scores": {str(i["criterion_id"]): 7}},
    ),
    ("POST", "/api/v1/awards"): Send(
        json=lambda i: {
            "title": "Khen thưởng",
            "user_id": i["user_id"],
            "reason": "Tốt",
            "awarded_at": _soon(-24),
        },
    ),
    ("GET", "/api/v1/awards"): Send(
        query=lambda i: {"user_id": i["user_id"]},
    ),
    # --- Contests and awards: pages -------------------------------------------------------
    ("POST", "/contests"): Send(
        form=lambda i: {
            "title": "Cuộc thi mới",
            "kind": "idea",
            "organization_id": str(i["organization_id"]),
            "opens_at": f"{_day(1)}T08:00",
            "closes_at": f"{_day(10)}T17:00",
            "entry_mode": "individual",
            "crit_name": "Ý tưởng",
            "crit_weight": "1",
            "crit_max": "10",
        },
    ),
    ("POST", "/contests/{contest_id}/entries"): Send(
        form=lambda i: {"title": "Bài dự thi mới"},
    ),
    ("POST", "/contests/{contest_id}/judges"): Send(
        form=lambda i: {"email": i["staff_email"]},
    ),
    ("POST", "/contests/{contest_id}/judges/{user_id}/remove"): Send(
        ids={"user_id": "judge_id"},
    ),
    ("POST", "/entries/{entry_id}"): Send(
        form=lambda i: {"title": "Tên mới", "summary": ""},
    ),
    ("POST", "/entries/{entry_id}/files"): Send(
        files=PDF,
    ),
    ("POST", "/judging/{contest_id}/entries/{entry_id}"): Send(
        form=lambda i: {"criterion": str(i["criterion_id"]), "value": "7", "comment": ""},
    ),
    ("POST", "/awards"): Send(
        form=lambda i: {
            "title": "Khen thưởng",
            "recipient": "user",
            "email": i["user_email"],
            "reason": "Tốt",
            "awarded_on": _day(-1),
        },
    ),
    # --- The app itself -------------------------------------------------------------------
}


def parse_table(text: str) -> dict[tuple[str, str], tuple[str, ...]]:
    rows: dict[tuple[str, str], tuple[str, ...]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        method, path, *cells = line.split()
        assert len(cells) == ROLE_COUNT, line
        assert all(c in TOKENS or (c.isdigit() and len(c) == 3) for c in cells), line
        assert (method, path) not in rows, f"two rows for {method} {path}"
        rows[(method, path)] = tuple(cells)
    return rows


_ROWS = parse_table(TABLE)
assert REQUESTS.keys() <= _ROWS.keys(), sorted(REQUESTS.keys() - _ROWS.keys())
MATRIX: dict[tuple[str, str], Case] = {
    key: Case(cells, REQUESTS.get(key, Send())) for key, cells in _ROWS.items()
}
