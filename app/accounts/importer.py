"""CSV import of users: ``email,full_name,role,organization_id`` with a header row.

All or nothing: every line is checked first and, if any line is wrong, nothing is created and
every error is reported with its line number (line 1 is the header). Emails that already exist
are skipped, so a file can be imported again. Nobody's password is hashed here: each new user
gets a one-time activation code instead, which keeps a 5,000-line import fast.

The audit log gets one ``user.imported`` entry per organisation that received new users (its
counts and first emails), not one entry per user.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.accounts import audit, policy
from app.accounts.models import ActivationCode, Organization, User
from app.accounts.service import clean_email, clean_name, clean_role
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import AppError
from app.core.i18n import gettext as _
from app.core.security import digest, new_secret

HEADER = ("email", "full_name", "role", "organization_id")
MAX_ROWS = 20_000
AUDIT_EMAILS = 20  # emails named in each organisation's audit entry; the count says the rest


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass(frozen=True)
class Activation:
    email: str
    code: str


@dataclass
class ImportResult:
    created: int = 0
    skipped: int = 0
    errors: list[LineError] = field(default_factory=list)
    activations: list[Activation] = field(default_factory=list)
    dry_run: bool = False


def _decode(data: bytes) -> tuple[str | None, LineError | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, LineError(line, _("Line {line} is not UTF-8 text.").format(line=line))


def import_users(
    session: Session, settings: Settings, actor: User | None, data: bytes, *, dry_run: bool = False
) -> ImportResult:
    """Import users from CSV bytes. ``actor=None`` is the command line (trusted)."""
    result = ImportResult(dry_run=dry_run)
    if actor is not None:
        policy.require_user_manager(actor)
    text, decode_error = _decode(data)
    if decode_error is not None or text is None:
        result.errors.append(decode_error or LineError(1, _("The file is empty.")))
        return result
    if not text.strip():
        result.errors.append(LineError(1, _("The file is empty.")))
        return result
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        result.errors.append(LineError(1, str(exc)))
        return result
    if tuple(h.strip().lower() for h in header) != HEADER:
        result.errors.append(
            LineError(1, _("The header must be: {header}.").format(header=",".join(HEADER)))
        )
        return result

    org_ids = set(session.scalars(select(Organization.id)))
    pending: list[tuple[int, dict[str, object]]] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(pending) + len(result.errors) >= MAX_ROWS:
                result.errors.append(
                    LineError(line, _("Too many lines: at most {n}.").format(n=MAX_ROWS))
                )
                break
            parsed = _parse_row(row, line, org_ids, actor)
            if isinstance(parsed, LineError):
                result.errors.append(parsed)
                continue
            email = str(parsed["email"])
            if email in seen:
                result.errors.append(
                    LineError(
                        line,
                        _("{email} appears twice (first on line {first}).").format(
                            email=email, first=seen[email]
                        ),
                    )
                )
                continue
            seen[email] = line
            pending.append((line, parsed))
    except csv.Error as exc:
        result.errors.append(LineError(reader.line_num, str(exc)))
    if result.errors:
        return result

    existing = _existing_emails(session, list(seen))
    new_rows = [row for _line, row in pending if row["email"] not in existing]
    result.skipped = len(pending) - len(new_rows)
    result.created = len(new_rows)
    if dry_run or not new_rows:
        return result

    now = utcnow()
    for new_row in new_rows:
        new_row.update(
            password_hash=None, is_active=True, token_version=0, created_at=now, updated_at=now
        )
    ids = session.scalars(
        insert(User).returning(User.id, sort_by_parameter_order=True), new_rows
    ).all()
    expires = now + timedelta(days=settings.activation_ttl_days)
    codes = [new_secret(18) for _ in ids]
    session.execute(
        insert(ActivationCode),
        [
            {"code_digest": digest(code), "user_id": uid, "created_at": now, "expires_at": expires}
            for uid, code in zip(ids, codes, strict=True)
        ],
    )
    result.activations = [
        Activation(email=str(row["email"]), code=code)
        for row, code in zip(new_rows, codes, strict=True)
    ]
    _audit(session, actor, new_rows, [row for _line, row in pending if row["email"] in existing])
    return result


def _audit(
    session: Session,
    actor: User | None,
    created: list[dict[str, object]],
    skipped: list[dict[str, object]],
) -> None:
    """One audit entry per organisation that received new users."""
    emails: dict[int, list[str]] = {}
    for row in created:
        emails.setdefault(_org_id(row), []).append(str(row["email"]))
    skipped_per_org = Counter(_org_id(row) for row in skipped)
    names = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(list(emails)))
        )
        .tuples()
        .all()
    )
    for org_id in sorted(emails):
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.user_imported,
            target_type="organization",
            target_id=org_id,
            target_label=names.get(org_id, ""),
            organization_id=org_id,
            detail={
                "created": len(emails[org_id]),
                "skipped": skipped_per_org[org_id],
                "emails": emails[org_id][:AUDIT_EMAILS],
            },
        )


def _parse_row(
    row: list[str], line: int, org_ids: set[int], actor: User | None
) -> dict[str, object] | LineError:
    if len(row) != len(HEADER):
        return LineError(
            line,
            _("Expected {n} columns, found {found}.").format(n=len(HEADER), found=len(row)),
        )
    email_raw, name_raw, role_raw, org_raw = (cell.strip() for cell in row)
    try:
        email = clean_email(email_raw)
        full_name = clean_name(name_raw, field=_("Full name"))
        role = clean_role(role_raw)
        try:
            org_id = int(org_raw)
        except ValueError:
            return LineError(line, _("'{value}' is not an organisation id.").format(value=org_raw))
        if org_id not in org_ids:
            return LineError(line, _("Organisation {id} does not exist.").format(id=org_id))
        if actor is not None:
            policy.check_can_place_user(actor, organization_id=org_id, role=role)
    except AppError as exc:
        return LineError(line, exc.detail)
    return {"email": email, "full_name": full_name, "role": role.value, "organization_id": org_id}


def _org_id(row: dict[str, object]) -> int:
    value = row["organization_id"]
    assert isinstance(value, int)
    return value


def _existing_emails(session: Session, emails: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        found.update(session.scalars(select(User.email).where(User.email.in_(chunk))))
    return found
