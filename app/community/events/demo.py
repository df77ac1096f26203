"""Demo events and a partner for ``hocso demo`` (idempotent): the provincial Department of
Science and Technology as a partner, a commune seminar for teachers and managers next week
(with the demo handbook as material) and a STEM day at the lower-secondary school."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.community.events import service
from app.community.events.models import Partner
from app.core.db import utcnow
from app.lcms.models import ContentItem

PARTNER_NAME = "Sở Khoa học và Công nghệ tỉnh Thái Nguyên"


def _at(days: int, hour: int, timezone: str) -> datetime:
    local_day = utcnow().astimezone(ZoneInfo(timezone)).date() + timedelta(days=days)
    return datetime.combine(local_day, time(hour), ZoneInfo(timezone)).astimezone(UTC)


def load_demo(session: Session, admin: User, *, timezone: str = "Asia/Ho_Chi_Minh") -> int:
    if session.scalar(select(Partner.id).where(Partner.name == PARTNER_NAME)) is not None:
        return 0
    handbook = session.scalar(
        select(ContentItem.id).where(
            ContentItem.status == "published", ContentItem.kind == "handbook"
        )
    )
    materials = [handbook] if handbook is not None else []
    partner = service.create_partner(
        session,
        admin,
        name=PARTNER_NAME,
        kind="agency",
        website="https://sokhcn.thainguyen.gov.vn",
        contact="Phòng Quản lý khoa học",
        description="Phối hợp tổ chức hội thảo và cung cấp tài liệu về khoa học, công nghệ.",
        content_ids=materials,
    )
    service.create_event(
        session,
        admin,
        title="Hội thảo: Ứng dụng trí tuệ nhân tạo trong dạy học",
        kind="seminar",
        starts_at=_at(7, 8, timezone),
        ends_at=_at(7, 11, timezone),
        organization_id=admin.organization_id,
        location="Hội trường UBND xã Tân Cương",
        online_url="https://meet.google.com/hocso-demo",
        description="Chia sẻ kinh nghiệm dùng AI soạn bài, đánh giá học sinh an toàn.",
        roles=["teacher", "school_manager"],
        capacity=60,
        material_ids=materials,
        partner_ids=[partner.id],
    )
    created = 2
    school = session.scalar(
        select(Organization).where(
            Organization.parent_id == admin.organization_id,
            Organization.level == "lower_secondary",
        )
    )
    if school is not None:
        service.create_event(
            session,
            admin,
            title="Ngày hội STEM",
            kind="extracurricular",
            starts_at=_at(14, 7, timezone),
            ends_at=_at(14, 11, timezone),
            organization_id=school.id,
            location="Sân trường",
            description="Học sinh trưng bày sản phẩm STEM và thi thuyết trình ý tưởng.",
            levels=["lower_secondary"],
            partner_ids=[partner.id],
        )
        created += 1
    return created
