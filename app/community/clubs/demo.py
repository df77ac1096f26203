"""Demo clubs for the demo accounts (idempotent): a robotics club at the lower-secondary
school with a member, a pending request and a discussion; a commune-wide digital-transformation
forum for the teachers, with a reply that shows up as unread."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.community.clubs import service
from app.community.clubs.models import Club
from app.lcms.models import ContentItem, ContentStatus

SCHOOL_CLUB = "CLB Robot và Lập trình"
COMMUNE_CLUB = "Diễn đàn Chuyển đổi số Tân Cương"


def _users(session: Session, *emails: str) -> dict[str, User]:
    found = {u.email: u for u in session.scalars(select(User).where(User.email.in_(emails)))}
    return found if len(found) == len(emails) else {}


def load_demo(session: Session) -> int:
    """Create the demo clubs unless they exist; returns the number of new records."""
    if session.scalar(select(Club.id).where(Club.name == SCHOOL_CLUB)) is not None:
        return 0
    people = _users(
        session,
        "admin@tancuong.edu.vn",
        "gv.thcs@tancuong.edu.vn",
        "gv.th@tancuong.edu.vn",
        "gv.mn@tancuong.edu.vn",
        "hs.thcs1@tancuong.edu.vn",
        "hs.thcs2@tancuong.edu.vn",
    )
    if not people:
        return 0
    admin = people["admin@tancuong.edu.vn"]
    teacher = people["gv.thcs@tancuong.edu.vn"]
    handbook = session.scalar(
        select(ContentItem.id)
        .where(ContentItem.status == ContentStatus.published, ContentItem.kind == "handbook")
        .limit(1)
    )
    created = 0

    robot = service.create_club(
        session,
        teacher,
        name=SCHOOL_CLUB,
        organization_id=teacher.organization_id,
        kind="academic_team",
        description=(
            "Lắp ráp robot, lập trình **Scratch** và **micro:bit**, chuẩn bị cho hội thi "
            "khoa học kỹ thuật cấp xã. Sinh hoạt chiều thứ Năm hằng tuần."
        ),
        topics=["STEM", "KH-CN"],
        levels=["lower_secondary"],
    )
    student = people["hs.thcs1@tancuong.edu.vn"]
    request = service.request_join(session, student, robot.id, message="Em muốn học lập trình.")
    service.decide_request(session, teacher, robot.id, request.id, approve=True)
    service.request_join(
        session, people["hs.thcs2@tancuong.edu.vn"], robot.id, message="Cho em tham gia ạ."
    )
    thread = service.create_thread(
        session,
        teacher,
        robot.id,
        title="Ý tưởng cho hội thi STEM năm nay",
        body=(
            "Các em đề xuất ý tưởng sản phẩm nhé. Gợi ý:\n\n"
            "- Hệ thống tưới cây tự động cho vườn chè\n"
            "- Cảm biến báo cháy cho lớp học\n\n"
            "Xem thêm sổ tay trong thư viện số."
        ),
        attachments=[handbook] if handbook else [],
    )
    service.add_post(
        session, student, thread.id, body="Em chọn tưới cây tự động, dùng **độ ẩm đất** ạ."
    )
    created += 6

    forum = service.create_club(
        session,
        admin,
        name=COMMUNE_CLUB,
        organization_id=admin.organization_id,
        description="Nơi giáo viên toàn xã chia sẻ kinh nghiệm dạy học số và học liệu hay.",
        topics=["CĐS", "NQ57"],
    )
    for email in ("gv.thcs@tancuong.edu.vn", "gv.th@tancuong.edu.vn", "gv.mn@tancuong.edu.vn"):
        joined = service.request_join(session, people[email], forum.id)
        service.decide_request(session, admin, forum.id, joined.id, approve=True)
    topic = service.create_thread(
        session,
        admin,
        forum.id,
        title="Chia sẻ kinh nghiệm dạy học với học liệu số",
        body="Thầy cô đã dùng học liệu số nào hiệu quả trong tiết học? Hãy chia sẻ tại đây.",
    )
    service.add_post(
        session,
        people["gv.th@tancuong.edu.vn"],
        topic.id,
        body="Lớp 4 của tôi dùng video ngắn 3 phút trước giờ học, các em rất hào hứng.",
    )
    created += 9
    session.flush()
    return created
