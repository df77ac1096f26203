"""Enrolment from a CSV file of email addresses.

The file is UTF-8 (with or without a byte-order mark), its first line is a header with an
``email`` column (other columns are ignored, so an exported user list works), and each further
line names one learner. Columns are separated by commas, or by semicolons when the header uses
them (spreadsheets set to Vietnamese often save that way). Blank lines are skipped and an email
listed twice counts once.

All or nothing: ``parse_emails`` (pure) and ``match_users`` report every problem with its line
number (line 1 is the header), and the caller enrols nobody while there is any.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.importer import LineError
from app.accounts.models import Role, User
from app.accounts.service import clean_email
from app.core.errors import AppError
from app.core.i18n import gettext as _
from app.lms.service import MAX_ASSIGN

HEADER = "email"
MAX_ROWS = MAX_ASSIGN
MAX_BYTES = 2 * 1024 * 1024
_CHUNK = 500


@dataclass(frozen=True)
class EmailLine:
    line: int
    email: str  # normalised (lower case)


@dataclass
class ParsedFile:
    lines: list[EmailLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


@dataclass
class CheckedFile:
    user_ids: list[int] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def parse_emails(data: bytes) -> ParsedFile:
    """The emails of a CSV file, or the problems of each line. Touches no database."""
    result = ParsedFile()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result.errors.append(LineError(line, _("Line {line} is not UTF-8 text.").format(line=line)))
        return result
    if not text.strip():
        result.errors.append(LineError(1, _("The file is empty.")))
        return result
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header_error = LineError(
        1, _("The first line must be the header: {header}.").format(header=HEADER)
    )
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
    except StopIteration:
        result.errors.append(header_error)
        return result
    except csv.Error as exc:
        result.errors.append(LineError(reader.line_num or 1, str(exc)))
        return result
    names = [cell.strip().lower() for cell in header]
    if HEADER not in names:
        result.errors.append(header_error)
        return result
    column = names.index(HEADER)
    seen: set[str] = set()
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(result.lines) + len(result.errors) >= MAX_ROWS:
                result.errors.append(
                    LineError(line, _("Too many lines: at most {n}.").format(n=MAX_ROWS))
                )
                break
            raw = row[column].strip() if column < len(row) else ""
            if not raw:
                result.errors.append(LineError(line, _("This line has no email.")))
                continue
            try:
                email = clean_email(raw)
            except AppError as exc:
                result.errors.append(LineError(line, exc.detail))
                continue
            if email not in seen:
                seen.add(email)
                result.lines.append(EmailLine(line, email))
    except csv.Error as exc:
        result.errors.append(LineError(reader.line_num, str(exc)))
    if not result.lines and not result.errors:
        result.errors.append(LineError(1, _("The file lists no email addresses.")))
    return result


def match_users(session: Session, actor: User, lines: list[EmailLine]) -> CheckedFile:
    """The users the emails name. Unknown emails, deactivated accounts and (for anyone but an
    administrator) users of another school are errors on their lines."""
    result = CheckedFile()
    emails = [entry.email for entry in lines]
    found: dict[str, User] = {}
    for start in range(0, len(emails), _CHUNK):
        chunk = emails[start : start + _CHUNK]
        for known in session.scalars(select(User).where(User.email.in_(chunk))):
            found[known.email] = known
    for entry in lines:
        user = found.get(entry.email)
        if user is None:
            message = _("No user has the email {email}.").format(email=entry.email)
        elif not user.is_active:
            message = _("The account {email} is deactivated.").format(email=entry.email)
        elif actor.role != Role.admin and user.organization_id != actor.organization_id:
            message = _("{email} is not in your school.").format(email=entry.email)
        else:
            result.user_ids.append(user.id)
            continue
        result.errors.append(LineError(entry.line, message))
    return result


def check_file(session: Session, actor: User, data: bytes) -> CheckedFile:
    """Parse the file and match its emails: the user ids to enrol, or every problem of every
    line, in line order."""
    parsed = parse_emails(data)
    matched = match_users(session, actor, parsed.lines)
    errors = sorted(parsed.errors + matched.errors, key=lambda error: error.line)
    return CheckedFile(user_ids=[] if errors else matched.user_ids, errors=errors)
