"""Quizzes: questions, attempts, server-side scoring and review.

Correct answers never leave the server before submission. An attempt records the question and
choice order it was shown, saves answers as the learner goes, and is submitted once (a second
submission is 409). The time limit is the server's: answers saved or submitted after the deadline
(plus a short grace for the network) are not accepted; a submission that arrives late is scored
on the answers saved before the deadline, and an expired attempt that was never submitted is
scored the same way the next time the learner opens the quiz or asks for the attempt. Since
opening the quiz may then fail (no attempt left: 409) and a failed request rolls back, the
routes score expired attempts first (``close_expired``) and commit before they start the next.

A quiz whose shown questions are worth 0 points in all (a survey, an optional check) is passed
by submitting it: there is nothing to get wrong. A required quiz cannot be published that way
(``service.publish_course``).
"""

from __future__ import annotations

import random
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.faults import pause_point
from app.core.i18n import gettext as _
from app.core.text import fold
from app.lms import policy, progress, service
from app.lms.models import (
    Attempt,
    Choice,
    Lesson,
    LessonKind,
    Question,
    QuestionKind,
    ReviewPolicy,
)

GRACE = timedelta(seconds=15)
MAX_TEXT = 2000
MAX_CHOICES = 12


def normal_text(text: str) -> str:
    """A short answer as compared: NFC (Vietnamese typed in composed or decomposed Unicode is
    the same text), trimmed, internal whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def percent_of(score: int, max_score: int) -> int:
    """The percent shown for a score: rounded down, so it never contradicts ``passed`` (2 of 3
    is 66 %, not "67 %" and failed against a pass score of 67). Nothing to score is 100 %."""
    if max_score <= 0:
        return 100
    return score * 100 // max_score


def is_passed(score: int, max_score: int, pass_score: int) -> bool:
    """Passed when the exact ratio reaches ``pass_score``; a quiz of 0 points is passed."""
    return max_score <= 0 or score * 100 >= pass_score * max_score


# --- Authoring -----------------------------------------------------------------------------


def _quiz_lesson(session: Session, lesson_id: int) -> Lesson:
    lesson = service.get_lesson(session, lesson_id)
    if lesson.kind != LessonKind.quiz:
        raise InvalidInput(_("This lesson is not a quiz."))
    return lesson


def add_question(
    session: Session,
    actor: User,
    lesson_id: int,
    *,
    text: str,
    kind: str,
    choices: list[tuple[str, bool]] | None = None,
    answer: str | None = None,
    points: int = 1,
    ignore_accents: bool = True,
) -> Question:
    lesson = _quiz_lesson(session, lesson_id)
    course = service.course_of_lesson(session, lesson)
    policy.require_owner(actor, course)
    service.require_editable(course)
    try:
        question_kind = QuestionKind(kind)
    except ValueError:
        raise InvalidInput(_("Unknown question kind '{kind}'.").format(kind=kind)) from None
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(
            _("A question needs a text of at most {n} characters.").format(n=MAX_TEXT)
        )
    if not 0 <= points <= 100:
        raise InvalidInput(_("Points must be between 0 and 100."))
    options = [(t.strip(), bool(c)) for t, c in (choices or []) if t and t.strip()]
    if question_kind == QuestionKind.true_false and not options:
        if (answer or "").strip().lower() not in ("true", "false"):
            raise InvalidInput(_("A true/false question needs answer 'true' or 'false'."))
        truth = answer.strip().lower() == "true"  # type: ignore[union-attr]
        options = [(_("True"), truth), (_("False"), not truth)]
    correct = sum(1 for _t, c in options if c)
    if question_kind == QuestionKind.short:
        if not _accepted(answer or ""):
            raise InvalidInput(_("A short-answer question needs the accepted answer(s)."))
        options = []
    elif not 2 <= len(options) <= MAX_CHOICES:
        raise InvalidInput(_("A question needs between 2 and {n} choices.").format(n=MAX_CHOICES))
    elif question_kind in (QuestionKind.single, QuestionKind.true_false) and correct != 1:
        raise InvalidInput(_("Exactly one choice must be correct."))
    elif question_kind == QuestionKind.multiple and correct < 1:
        raise InvalidInput(_("At least one choice must be correct."))
    if any(len(t) > 1000 for t, _c in options):
        raise InvalidInput(_("A choice is longer than 1000 characters."))
    position = (
        session.scalar(select(func.max(Question.position)).where(Question.lesson_id == lesson.id))
        or 0
    ) + 1
    question = Question(
        lesson_id=lesson.id,
        kind=question_kind.value,
        text=text,
        points=points,
        position=position,
        ignore_accents=ignore_accents,
        answer=_accepted(answer) if question_kind == QuestionKind.short and answer else None,
        choices=[Choice(text=t, correct=c, position=i) for i, (t, c) in enumerate(options)],
    )
    session.add(question)
    session.flush()
    return question


def _accepted(answer: str) -> str:
    """The accepted answers as stored: each normalised (``normal_text``), joined by "|"."""
    return "|".join(normal_text(a) for a in answer.split("|") if a.strip())[:500]


def questions_of(session: Session, lesson_id: int) -> list[Question]:
    return list(
        session.scalars(
            select(Question)
            .where(Question.lesson_id == lesson_id)
            .order_by(Question.position, Question.id)
        )
    )


# --- Attempts ------------------------------------------------------------------------------


@dataclass
class ShownQuestion:
    """A question as the learner sees it: no correct flags, no accepted answers."""

    id: int
    kind: str
    text: str
    points: int
    choices: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class AttemptView:
    attempt: Attempt
    questions: list[ShownQuestion]
    seconds_left: int | None


def _shown(attempt: Attempt, questions: dict[int, Question]) -> list[ShownQuestion]:
    shown = []
    for qid in attempt.layout.get("questions", []):
        question = questions.get(qid)
        if question is None:
            continue
        by_id = {c.id: c for c in question.choices}
        order = attempt.layout.get("choices", {}).get(str(qid), list(by_id))
        shown.append(
            ShownQuestion(
                question.id,
                question.kind,
                question.text,
                question.points,
                [(cid, by_id[cid].text) for cid in order if cid in by_id],
            )
        )
    return shown


def _view(session: Session, attempt: Attempt) -> AttemptView:
    questions = {q.id: q for q in questions_of(session, attempt.lesson_id)}
    left = None
    if attempt.deadline_at is not None and attempt.submitted_at is None:
        left = max(0, int((attempt.deadline_at - utcnow()).total_seconds()))
    return AttemptView(attempt, _shown(attempt, questions), left)


def expired(attempt: Attempt) -> bool:
    """Never submitted and past its deadline (and the grace): it is scored as it stands."""
    return (
        attempt.submitted_at is None
        and attempt.deadline_at is not None
        and utcnow() > attempt.deadline_at + GRACE
    )


def close_expired(session: Session, actor: User, lesson_id: int) -> int:
    """Score the learner's expired attempts at this quiz on the answers saved in time; how
    many were scored. The route commits when this is not 0, before anything that may fail:
    a passed attempt then counts (lesson, course, certificate) even if no attempt is left."""
    lesson = _quiz_lesson(session, lesson_id)
    course = service.course_of_lesson(session, lesson)
    service.require_active_enrollment(session, actor, course)
    scored = 0
    for attempt in attempts_of(session, actor, lesson.id):
        if expired(attempt) and _score(session, actor, attempt, lesson):
            scored += 1
    return scored


def open_attempt(session: Session, actor: User, lesson_id: int) -> AttemptView | None:
    """The learner's attempt still in time, if any (an expired one is scored on the way)."""
    close_expired(session, actor, lesson_id)
    for attempt in attempts_of(session, actor, lesson_id):
        if attempt.submitted_at is None:
            return _view(session, attempt)
    return None


def start_attempt(session: Session, actor: User, lesson_id: int) -> AttemptView:
    """Resume the open attempt, or start the next one within the attempt limit.

    Expired attempts are scored first (``close_expired``), but in this transaction: a route
    calls ``close_expired`` and commits before, so that a 409 here does not undo the scoring."""
    close_expired(session, actor, lesson_id)
    lesson = _quiz_lesson(session, lesson_id)
    attempts = attempts_of(session, actor, lesson.id)
    for attempt in attempts:
        if attempt.submitted_at is None:
            return _view(session, attempt)
    if lesson.max_attempts is not None and len(attempts) >= lesson.max_attempts:
        raise Conflict(
            _("You have used all {n} attempts for this quiz.").format(n=lesson.max_attempts)
        )
    questions = questions_of(session, lesson.id)
    if not questions:
        raise Conflict(_("This quiz has no questions yet."))
    rng = random.Random(secrets.randbits(64))
    order = [q.id for q in questions]
    choice_orders = {str(q.id): [c.id for c in q.choices] for q in questions}
    if lesson.shuffle:
        rng.shuffle(order)
        for ids in choice_orders.values():
            rng.shuffle(ids)
    now = utcnow()
    attempt = Attempt(
        user_id=actor.id,
        lesson_id=lesson.id,
        number=len(attempts) + 1,
        started_at=now,
        layout={"questions": order, "choices": choice_orders},
        answers={},
        deadline_at=now + timedelta(seconds=lesson.time_limit_seconds)
        if lesson.time_limit_seconds
        else None,
    )
    try:
        with session.begin_nested():
            session.add(attempt)
    except IntegrityError:
        # A double tap started the same attempt a moment ago (PostgreSQL: its insert has
        # committed by the time ours fails): resume that one, as a later tap would.
        for other in attempts_of(session, actor, lesson.id):
            if other.submitted_at is None:
                return _view(session, other)
        raise Conflict(_("Another attempt was started at the same moment.")) from None
    return _view(session, attempt)


def _own_attempt(session: Session, actor: User, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != actor.id:
        raise NotFound(_("Attempt {id} does not exist.").format(id=attempt_id))
    return attempt


def get_attempt(
    session: Session, actor: User, attempt_id: int, *, score_expired: bool = False
) -> AttemptView:
    """The learner's attempt. With ``score_expired``, one whose time ran out unsubmitted is
    scored on the answers saved in time (a write: SQLite callers begin a writing transaction)."""
    attempt = _own_attempt(session, actor, attempt_id)
    if score_expired and expired(attempt):
        _score(session, actor, attempt, service.get_lesson(session, attempt.lesson_id))
    return _view(session, attempt)


def _clean_answers(
    attempt: Attempt, answers: dict[str, Any], questions: dict[int, Question]
) -> dict[str, Any]:
    allowed = set(attempt.layout.get("questions", []))
    cleaned: dict[str, Any] = {}
    for key, value in answers.items():
        try:
            qid = int(key)
        except (TypeError, ValueError):
            raise InvalidInput(_("'{key}' is not a question id.").format(key=key)) from None
        if qid not in allowed or qid not in questions:
            raise InvalidInput(_("Question {id} is not part of this quiz.").format(id=qid))
        question = questions[qid]
        if question.kind == QuestionKind.short:
            if not isinstance(value, str) or len(value) > 500:
                raise InvalidInput(_("Question {id} needs a short text answer.").format(id=qid))
            cleaned[str(qid)] = value
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise InvalidInput(_("Question {id} needs a list of choice ids.").format(id=qid))
        valid = {c.id for c in question.choices}
        if not set(value) <= valid:
            raise InvalidInput(_("A choice does not belong to question {id}.").format(id=qid))
        if question.kind != QuestionKind.multiple and len(set(value)) > 1:
            raise InvalidInput(_("Question {id} takes one choice.").format(id=qid))
        cleaned[str(qid)] = sorted(set(value))
    return cleaned


def save_answers(
    session: Session, actor: User, attempt_id: int, answers: dict[str, Any]
) -> AttemptView:
    attempt = _own_attempt(session, actor, attempt_id)
    if attempt.submitted_at is not None:
        raise Conflict(_("This attempt has already been submitted."))
    if attempt.deadline_at is not None and utcnow() > attempt.deadline_at + GRACE:
        raise Conflict(_("The time for this attempt is over."))
    questions = {q.id: q for q in questions_of(session, attempt.lesson_id)}
    attempt.answers = {**attempt.answers, **_clean_answers(attempt, answers, questions)}
    return _view(session, attempt)


@dataclass(frozen=True)
class QuestionReview:
    question_id: int
    correct: bool
    points: int
    correct_choice_ids: list[int] | None
    accepted_answer: str | None


@dataclass(frozen=True)
class SubmitResult:
    attempt: Attempt
    late: bool
    review: list[QuestionReview] | None


def submit_attempt(
    session: Session, actor: User, attempt_id: int, answers: dict[str, Any] | None = None
) -> SubmitResult:
    attempt = _own_attempt(session, actor, attempt_id)
    if attempt.submitted_at is not None:
        raise Conflict(_("This attempt has already been submitted."))
    lesson = service.get_lesson(session, attempt.lesson_id)
    late = attempt.deadline_at is not None and utcnow() > attempt.deadline_at + GRACE
    if answers and not late:
        questions = {q.id: q for q in questions_of(session, attempt.lesson_id)}
        attempt.answers = {**attempt.answers, **_clean_answers(attempt, answers, questions)}
    if not _score(session, actor, attempt, lesson):
        raise Conflict(_("This attempt has already been submitted."))
    pause_point("quiz.submit", session)
    return SubmitResult(attempt, late, review_of(session, attempt))


def _is_correct(question: Question, given: Any) -> bool:
    if question.kind == QuestionKind.short:
        if not isinstance(given, str):
            return False
        accepted = [a for a in (question.answer or "").split("|") if a.strip()]
        if question.ignore_accents:
            return fold(given) in {fold(a) for a in accepted}
        return normal_text(given) in {normal_text(a) for a in accepted}
    right = {c.id for c in question.choices if c.correct}
    return isinstance(given, list) and set(given) == right


def _score(session: Session, actor: User, attempt: Attempt, lesson: Lesson) -> bool:
    """Score and close the attempt once. False when another request closed it first."""
    questions = {q.id: q for q in questions_of(session, attempt.lesson_id)}
    shown = [questions[q] for q in attempt.layout.get("questions", []) if q in questions]
    max_score = sum(q.points for q in shown)
    score = sum(q.points for q in shown if _is_correct(q, attempt.answers.get(str(q.id))))
    passed = is_passed(score, max_score, lesson.pass_score)
    session.flush()
    result = session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.submitted_at.is_(None))
        .values(submitted_at=utcnow(), score=score, max_score=max_score, passed=passed)
        .execution_options(synchronize_session=False)
    )
    session.refresh(attempt)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if passed:
        course = service.course_of_lesson(session, lesson)
        enrollment = service.require_active_enrollment(session, actor, course, lock=True)
        record = progress._get_progress(session, actor.id, lesson)
        record.percent = 100
        progress.complete_lesson(session, record, lesson)
        progress.refresh_course(session, actor, course.id, enrollment)
    return True


def review_of(session: Session, attempt: Attempt) -> list[QuestionReview] | None:
    """What the learner may see of a submitted attempt, by the course's review policy."""
    if attempt.submitted_at is None:
        return None
    course = service.course_of_lesson(session, service.get_lesson(session, attempt.lesson_id))
    if course.review_policy == ReviewPolicy.none:
        return None
    return _review(session, attempt, with_answers=course.review_policy == ReviewPolicy.answers)


def _review(session: Session, attempt: Attempt, *, with_answers: bool) -> list[QuestionReview]:
    questions = {q.id: q for q in questions_of(session, attempt.lesson_id)}
    review = []
    for qid in attempt.layout.get("questions", []):
        question = questions.get(qid)
        if question is None:
            continue
        review.append(
            QuestionReview(
                question_id=qid,
                correct=_is_correct(question, attempt.answers.get(str(qid))),
                points=question.points,
                correct_choice_ids=[c.id for c in question.choices if c.correct]
                if with_answers and question.kind != QuestionKind.short
                else None,
                accepted_answer=(question.answer or "").split("|")[0]
                if with_answers and question.kind == QuestionKind.short
                else None,
            )
        )
    return review


def attempts_of(session: Session, actor: User, lesson_id: int) -> list[Attempt]:
    return list(
        session.scalars(
            select(Attempt)
            .where(Attempt.user_id == actor.id, Attempt.lesson_id == lesson_id)
            .order_by(Attempt.number)
        )
    )
