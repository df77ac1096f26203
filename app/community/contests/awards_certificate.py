"""The certificate of merit ("GIẤY KHEN") of an award, as the words of a Vietnamese
administrative document: the issuing body upper-left, the national name and motto upper-right,
the title, who gives it, the recipient ("khen thưởng"), the reason, the decision number, and the
place and date line ("Tân Cương, ngày 05 tháng 01 năm 2027") above the signer's title.

An official document is written in Vietnamese whatever the reader's interface language, so the
fixed words here are Vietnamese, not gettext messages (the page around it is translated). No
database, no web: ``certificate_view`` turns an award into the strings the template prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from app.accounts.models import Organization, OrgKind
from app.community.contests.models import Award

NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
NATIONAL_MOTTO = "Độc lập - Tự do - Hạnh phúc"
TITLE = "GIẤY KHEN"
AWARD_VERB = "KHEN THƯỞNG"
PEOPLES_COMMITTEE = "ỦY BAN NHÂN DÂN"
PEOPLES_COMMITTEE_SHORT = "UBND"
# Administrative prefixes of a place name: "Xã Tân Cương" is written "Tân Cương" on the date
# line.
PLACE_PREFIXES = ("xã ", "phường ", "thị trấn ", "tỉnh ", "thành phố ", "huyện ", "quận ")


def vietnamese_date(day: date) -> str:
    """``ngày 05 tháng 01 năm 2027``: days below 10 and months 1 and 2 are written with a
    leading zero (Nghị định 30/2020, so "tháng 01" cannot be misread as 10, 11 or 12)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def place_name(name: str) -> str:
    """The place of the date line: the name without its administrative prefix."""
    lowered = name.strip().lower()
    for prefix in PLACE_PREFIXES:
        if lowered.startswith(prefix):
            return name.strip()[len(prefix) :].strip()
    return name.strip()


def _upper(text: str) -> str:
    return text.strip().upper()


@dataclass(frozen=True)
class CertificateView:
    governing_body: str  # the line above the issuing body ("UBND XÃ TÂN CƯƠNG"), or ""
    issuing_body: str  # "TRƯỜNG THCS TÂN CƯƠNG", "XÃ TÂN CƯƠNG"
    national_name: str
    national_motto: str
    title: str
    giver: str  # "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ TÂN CƯƠNG", "HIỆU TRƯỞNG TRƯỜNG THCS ..."
    award_verb: str
    recipient: str
    recipient_unit: str  # the person's school; empty for an organisation
    award_title: str
    reason: str
    decision_number: str  # "Số: 15/QĐ-UBND" or ""
    place_and_date: str
    signer_title: str


def _commune_of(org: Organization) -> Organization | None:
    current: Organization | None = org
    while current is not None:
        if current.kind == OrgKind.commune:
            return current
        current = current.parent
    return None


def certificate_view(award: Award, timezone: str = "Asia/Ho_Chi_Minh") -> CertificateView:
    issuer = award.issuer
    if issuer.kind == OrgKind.school:
        parent = issuer.parent
        governing = f"{PEOPLES_COMMITTEE_SHORT} {_upper(parent.name)}" if parent else ""
        body = _upper(issuer.name)
        signer = "HIỆU TRƯỞNG"
        giver = f"HIỆU TRƯỞNG {_upper(issuer.name)}"
    else:
        governing = PEOPLES_COMMITTEE
        body = _upper(issuer.name)
        signer = "CHỦ TỊCH"
        giver = f"CHỦ TỊCH {PEOPLES_COMMITTEE} {_upper(issuer.name)}"
    commune = _commune_of(issuer)
    place = place_name(commune.name if commune is not None else issuer.name)
    day = award.awarded_at.astimezone(ZoneInfo(timezone)).date()
    unit = award.user.organization.name if award.user is not None else ""
    return CertificateView(
        governing_body=governing,
        issuing_body=body,
        national_name=NATIONAL_NAME,
        national_motto=NATIONAL_MOTTO,
        title=TITLE,
        giver=giver,
        award_verb=AWARD_VERB,
        recipient=award.recipient_name,
        recipient_unit=unit,
        award_title=award.title,
        reason=award.reason,
        decision_number=f"Số: {award.decision_number}" if award.decision_number else "",
        place_and_date=f"{place}, {vietnamese_date(day)}",
        signer_title=signer,
    )
