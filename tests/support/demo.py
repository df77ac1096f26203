"""What ``hocso demo`` loads (app/cli.py), in a test's transaction: the tests that look at the
whole site (page weight, the crawler) run over the same world a user sees after ``make run``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.demo import load_demo as load_accounts
from app.accounts.models import User
from app.community.clubs.demo import load_demo as load_clubs
from app.community.events.demo import load_demo as load_events
from app.core.config import Settings
from app.core.storage import BlobStore
from app.lcms.demo import load_demo as load_content
from app.lms.demo import load_demo as load_course
from app.reports.demo import load_demo as load_reports


def load_demo(db: Session, settings: Settings, store: BlobStore) -> None:
    assert load_accounts(db, settings) > 0
    author = db.scalars(select(User).where(User.email == "tacgia@tancuong.edu.vn")).one()
    admin = db.scalars(select(User).where(User.email == "admin@tancuong.edu.vn")).one()
    load_content(db, store, author)
    load_course(db, author, admin, admin.organization)
    load_clubs(db)
    load_events(db, admin, timezone=settings.timezone)
    load_reports(db, settings)
    db.flush()
