"""HTML pages of awards ("biểu dương, khen thưởng").

- ``/awards``: the awards the reader may see (their own; a school manager's school's; all for
  an administrator) with year and text filters; administrators give an award there;
- ``/awards/{id}/certificate``: the printable certificate of merit (GIẤY KHEN);
- ``/users/{id}/awards``: a person's awards (themselves, their school's managers,
  administrators). ``community/awards/_section.html`` is the same list as a section another
  page (a profile) can include with ``awards`` and ``awards_title`` in its context.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.accounts import policy as accounts_policy
from app.accounts import service as accounts
from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import User
from app.community.contests import awards, policy
from app.community.contests.awards_certificate import certificate_view
from app.community.contests.pages import users_by_email
from app.core.db import SessionDep, SettingsDep
from app.core.errors import AppError, InvalidInput
from app.core.forms import parse_local_datetime
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, redirect, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30

Text = Annotated[str, Form(max_length=1000)]
LongText = Annotated[str, Form(max_length=5000)]
Short = Annotated[str, Form(max_length=50)]


def _render_list(
    request: Request,
    session: Session,
    user: User,
    *,
    year: int | None = None,
    q: str = "",
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    items, total = awards.list_awards(
        session,
        user,
        year=year,
        q=q or None,
        limit=PAGE_SIZE,
        offset=offset,
        timezone=request.app.state.settings.timezone,
    )
    can_create = policy.is_admin(user)
    context: dict[str, Any] = {
        "awards": items,
        "total": total,
        "year": year,
        "q": q,
        "pagination": Pagination(total=total, limit=PAGE_SIZE, offset=offset),
        "can_create": can_create,
        "organizations": accounts.list_organizations(session) if can_create else [],
        "form": {"recipient": "user", "issuer_organization_id": user.organization_id},
        "error": None,
    }
    context.update(extra)
    return render(request, "community/awards/list.html", context, status_code=status_code)


@router.get("/awards")
def awards_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    year: Annotated[str | None, Query(max_length=4)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
) -> Response:
    year_filter = int(year) if year and year.isdecimal() and 2000 <= int(year) <= 2100 else None
    return _render_list(request, session, user, year=year_filter, q=q or "", offset=offset)


@router.post("/awards", dependencies=[CSRFChecked])
def award_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    title: Text = "",
    recipient: Short = "user",
    email: Text = "",
    organization_id: Short = "",
    reason: LongText = "",
    decision_number: Text = "",
    awarded_on: Short = "",
    issuer_organization_id: Short = "",
) -> Response:
    form = {
        "title": title,
        "recipient": recipient,
        "email": email,
        "organization_id": organization_id,
        "reason": reason,
        "decision_number": decision_number,
        "awarded_on": awarded_on,
        "issuer_organization_id": issuer_organization_id,
    }
    try:
        policy.require_award_creator(user)
        user_id = org_id = None
        if recipient == "organization":
            if not organization_id.isdecimal():
                raise InvalidInput(_("Choose the organisation to award."))
            org_id = int(organization_id)
        else:
            if not email.strip():
                raise InvalidInput(_("{field} is required.").format(field=_("Email")))
            [user_id] = users_by_email(session, [email.strip()])
        award = awards.create_award(
            session,
            user,
            title=title,
            user_id=user_id,
            organization_id=org_id,
            reason=reason,
            decision_number=decision_number,
            awarded_at=parse_local_datetime(
                awarded_on, field=_("Award date"), timezone=settings.timezone
            ),
            issuer_organization_id=(
                int(issuer_organization_id) if issuer_organization_id.isdecimal() else None
            ),
        )
    except AppError as exc:
        session.rollback()
        if exc.status_code == 403:
            raise
        return _render_list(
            request, session, user, status_code=exc.status_code, form=form, error=exc.detail
        )
    return redirect(
        request,
        "/awards",
        message=_("Award '{title}' given to {name}.").format(
            title=award.title, name=award.recipient_name
        ),
    )


@router.get("/awards/{award_id}/certificate")
def award_certificate(
    request: Request, award_id: int, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    award = awards.get_award_for(session, user, award_id)
    return render(
        request,
        "community/awards/certificate.html",
        {"award": award, "cert": certificate_view(award, settings.timezone)},
    )


@router.get("/users/{user_id}/awards")
def user_awards(request: Request, user_id: int, session: SessionDep, user: PageUser) -> Response:
    person = accounts.get_user(session, user_id)
    accounts_policy.check_can_view(user, person)
    return render(
        request,
        "community/awards/user.html",
        {
            "person": person,
            "awards": awards.awards_for_user(session, person.id),
            "awards_title": _("Awards"),
        },
    )
