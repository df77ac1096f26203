"""A demo Resolution-57 course built from the demo library items (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.core.db import utcnow
from app.lcms.models import ContentItem
from app.lms import quiz, service
from app.lms.models import Course

COURSE_TITLE = "Nghị quyết 57 và chuyển đổi số trong nhà trường"


def load_demo(session: Session, author: User, admin: User, commune: Organization) -> int:
    if session.scalar(select(Course.id).where(Course.title == COURSE_TITLE)) is not None:
        return 0
    items = {
        item.kind: item
        for item in session.scalars(
            select(ContentItem).where(
                ContentItem.status == "published", ContentItem.kind.in_(["handbook", "image"])
            )
        )
    }
    if set(items) != {"handbook", "image"}:
        return 0
    course = service.create_course(
        session,
        author,
        title=COURSE_TITLE,
        description=(
            "Khóa bồi dưỡng ngắn cho cán bộ quản lý và giáo viên xã Tân Cương: nội dung "
            "Nghị quyết 57-NQ/TW, chuyển đổi số trong dạy học và quản lý nhà trường."
        ),
        levels=["preschool", "primary", "lower_secondary"],
        topics=["NQ57", "CĐS"],
        roles=["teacher", "school_manager"],
        due_at=utcnow() + timedelta(days=60),
    )
    intro = service.add_module(session, author, course.id, title="Tìm hiểu Nghị quyết 57")
    service.add_lesson(
        session,
        author,
        intro.id,
        title="Infographic: 5 điểm chính",
        kind="content",
        content_id=items["image"].id,
    )
    service.add_lesson(
        session,
        author,
        intro.id,
        title="Sổ tay chuyển đổi số",
        kind="content",
        content_id=items["handbook"].id,
        completion_threshold=50,
    )
    check = service.add_module(session, author, course.id, title="Kiểm tra cuối khóa")
    test = service.add_lesson(
        session,
        author,
        check.id,
        title="Bài kiểm tra",
        kind="quiz",
        pass_score=50,
        max_attempts=3,
        time_limit_seconds=600,
    )
    quiz.add_question(
        session,
        author,
        test.id,
        kind="single",
        text="Nghị quyết 57-NQ/TW bàn về lĩnh vực nào?",
        choices=[
            ("Khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số", True),
            ("Phát triển nông nghiệp", False),
            ("Quốc phòng, an ninh", False),
        ],
    )
    quiz.add_question(
        session,
        author,
        test.id,
        kind="true_false",
        text="Chuyển đổi số chỉ dành cho trường trung học.",
        answer="false",
    )
    quiz.add_question(
        session,
        author,
        test.id,
        kind="short",
        text="Viết tắt thường dùng của “chuyển đổi số” là gì?",
        answer="CĐS|CDS",
    )
    service.publish_course(session, author, course.id)
    result = service.assign(session, admin, course.id, organization_id=commune.id, role="teacher")
    return 1 + result.enrolled
