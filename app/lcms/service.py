"""Content items, immutable versions, publishing and the library search. Plain functions; the
caller's session commits. Permission rules are in ``app.lcms.policy``."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts.models import SchoolLevel, User
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.faults import pause_point
from app.core.i18n import gettext as _
from app.core.storage import BlobStore, remove_stale_temp_files
from app.core.text import escape_like, fold, search_terms
from app.lcms import policy
from app.lcms.models import (
    Blob,
    ContentItem,
    ContentKind,
    ContentLabel,
    ContentStatus,
    ContentVersion,
    LabelKind,
    PublishAction,
    PublishEvent,
    TextTrack,
)

MAX_TITLE = 300
MAX_DESCRIPTION = 5000
MAX_LABEL = 60
MAX_LABELS = 20
MAX_NOTE = 1000
MAX_URL = 2000
MAX_FILENAME = 200
MAX_EXTENSION = 10
SUGGESTED_TOPICS = ("KH-CN", "ĐMST", "CĐS", "STEM", "NQ57")


# --- Validation ----------------------------------------------------------------------------


def clean_text(value: str | None, *, field: str, max_len: int, required: bool = False) -> str:
    value = unicodedata.normalize("NFC", (value or "").strip())
    if required and not value:
        raise InvalidInput(_("{field} is required.").format(field=field))
    if len(value) > max_len:
        raise InvalidInput(
            _("{field} is longer than {n} characters.").format(field=field, n=max_len)
        )
    return value


def clean_labels(values: list[str] | None, *, field: str) -> list[str]:
    seen: dict[str, str] = {}
    for raw in values or []:
        value = unicodedata.normalize("NFC", re.sub(r"\s+", " ", raw or "").strip())
        if not value:
            continue
        if len(value) > MAX_LABEL:
            raise InvalidInput(
                _("{field}: '{value}' is longer than {n} characters.").format(
                    field=field, value=value[:20], n=MAX_LABEL
                )
            )
        seen.setdefault(fold(value), value)
    if len(seen) > MAX_LABELS:
        raise InvalidInput(_("{field}: at most {n} values.").format(field=field, n=MAX_LABELS))
    return list(seen.values())


def clean_levels(values: list[str] | None) -> list[str]:
    levels = clean_labels(values, field=_("Levels"))
    for level in levels:
        if level not in {lv.value for lv in SchoolLevel}:
            raise InvalidInput(_("Unknown school level '{level}'.").format(level=level))
    return levels


def clean_url(value: str | None) -> str:
    url = (value or "").strip()
    if not url:
        raise InvalidInput(_("A link needs a URL."))
    if len(url) > MAX_URL:
        raise InvalidInput(_("The URL is too long."))
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(_("Only http:// and https:// links are allowed."))
    if any(ord(c) < 33 for c in url):
        raise InvalidInput(_("The URL contains spaces or control characters."))
    return url


def clean_filename(value: str | None, *, extension: str) -> str:
    """A safe display name: no directories, no control characters, a sensible extension."""
    name = unicodedata.normalize("NFC", value or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    if not name:
        name = f"file.{extension}"
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > MAX_EXTENSION:
        # No extension, or one too long to be real: the type's own (the name stays bounded).
        stem, ext = name, extension
    stem = stem[: MAX_FILENAME - len(ext) - 1].rstrip() or "file"
    return f"{stem}.{ext}"


def _search_fields(title: str, description: str, labels: list[str]) -> tuple[str, str]:
    return fold(title), fold(" ".join([title, description, *labels]))


# --- Items ---------------------------------------------------------------------------------


def get_item(session: Session, item_id: int) -> ContentItem:
    item = session.get(ContentItem, item_id)
    if item is None:
        raise NotFound(_("Content item {id} does not exist.").format(id=item_id))
    return item


def get_item_for(session: Session, actor: User, item_id: int) -> ContentItem:
    """The item if ``actor`` may see it; otherwise 404 (learners never learn drafts exist)."""
    item = get_item(session, item_id)
    if not policy.can_see_item(actor, item):
        raise NotFound(_("Content item {id} does not exist.").format(id=item_id))
    return item


def create_item(
    session: Session,
    actor: User,
    *,
    title: str,
    kind: str,
    description: str | None = None,
    tags: list[str] | None = None,
    levels: list[str] | None = None,
    topics: list[str] | None = None,
    url: str | None = None,
) -> ContentItem:
    policy.require_author(actor)
    try:
        content_kind = ContentKind(kind)
    except ValueError:
        raise InvalidInput(_("Unknown content kind '{kind}'.").format(kind=kind)) from None
    title = clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True)
    description = clean_text(description, field=_("Description"), max_len=MAX_DESCRIPTION)
    if content_kind == ContentKind.link:
        link = clean_url(url)
    elif url:
        raise InvalidInput(_("Only items of kind 'link' have a URL."))
    else:
        link = None
    item = ContentItem(
        title=title,
        kind=content_kind.value,
        description=description,
        url=link,
        owner_id=actor.id,
        status=ContentStatus.draft.value,
    )
    _set_labels(item, tags=tags, levels=levels, topics=topics)
    session.add(item)
    session.flush()
    return item


def update_item(
    session: Session,
    actor: User,
    item_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    levels: list[str] | None = None,
    topics: list[str] | None = None,
    url: str | None = None,
) -> ContentItem:
    item = get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if title is not None:
        item.title = clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True)
    if description is not None:
        item.description = clean_text(description, field=_("Description"), max_len=MAX_DESCRIPTION)
    if url is not None:
        if item.kind != ContentKind.link:
            raise InvalidInput(_("Only items of kind 'link' have a URL."))
        item.url = clean_url(url)
    _set_labels(item, tags=tags, levels=levels, topics=topics)
    item.updated_at = utcnow()
    session.flush()
    return item


def _set_labels(
    item: ContentItem,
    *,
    tags: list[str] | None,
    levels: list[str] | None,
    topics: list[str] | None,
) -> None:
    wanted: dict[LabelKind, list[str] | None] = {
        LabelKind.tag: clean_labels(tags, field=_("Tags")) if tags is not None else None,
        LabelKind.level: clean_levels(levels) if levels is not None else None,
        LabelKind.topic: clean_labels(topics, field=_("Topics")) if topics is not None else None,
    }
    for kind, values in wanted.items():
        if values is None:
            continue
        keep = [label for label in item.labels if label.kind != kind]
        # Rows of values that stay are kept: the unit of work inserts before it deletes, so a
        # new row beside its old twin would break the unique (item, kind, value) key.
        same = {label.value: label for label in item.labels if label.kind == kind}
        item.labels = keep + [
            same.get(v) or ContentLabel(kind=kind.value, value=v, key=fold(v)[:60]) for v in values
        ]
    # Tags and topics are searchable words; levels are filters only.
    all_labels = [label.value for label in item.labels if label.kind != LabelKind.level]
    item.search_title, item.search_text = _search_fields(
        item.title, item.description or "", all_labels
    )


# --- Listing and search --------------------------------------------------------------------


@dataclass(frozen=True)
class ItemPage:
    items: list[ContentItem]
    total: int


def _has_label(kind: LabelKind, value: str) -> ColumnElement[bool]:
    return exists().where(
        ContentLabel.item_id == ContentItem.id,
        ContentLabel.kind == kind.value,
        ContentLabel.key == fold(value),
    )


def list_items(
    session: Session,
    actor: User,
    *,
    q: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    level: str | None = None,
    topic: str | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    library: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> ItemPage:
    """Items ``actor`` may see, filtered; with ``q``, ranked by relevance then recency.

    ``library=True`` is the digital library: published items only, whoever asks."""
    query = select(ContentItem)
    if library or not policy.is_author(actor):
        query = query.where(ContentItem.status == ContentStatus.published.value)
    if status:
        query = query.where(ContentItem.status == ContentStatus(status).value)
    if kind:
        query = query.where(ContentItem.kind == ContentKind(kind).value)
    if owner_id is not None:
        query = query.where(ContentItem.owner_id == owner_id)
    if tag:
        query = query.where(_has_label(LabelKind.tag, tag))
    if level:
        query = query.where(_has_label(LabelKind.level, level))
    if topic:
        query = query.where(_has_label(LabelKind.topic, topic))
    order: list[ColumnElement[object]] = []
    terms = search_terms(q or "")
    if terms:
        # Every word must appear somewhere; words in the title count more.
        patterns = [f"%{escape_like(t)}%" for t in terms]
        query = query.where(and_(*(ContentItem.search_text.like(p, escape="\\") for p in patterns)))
        phrase = f"%{escape_like(' '.join(fold(q or '').split()))}%"
        score = sum(
            (case((ContentItem.search_title.like(p, escape="\\"), 2), else_=0) for p in patterns),
            start=case((ContentItem.search_title.like(phrase, escape="\\"), 5), else_=0),
        )
        order.append(score.desc())
    order += [ContentItem.updated_at.desc(), ContentItem.id.desc()]  # type: ignore[list-item]
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    return ItemPage(items=items, total=total)


def version_numbers(
    session: Session, item_ids: list[int]
) -> dict[int, tuple[int | None, int | None]]:
    """{item id: (published version number, latest version number)} in two queries."""
    if not item_ids:
        return {}
    latest = dict(
        session.execute(
            select(ContentVersion.item_id, func.max(ContentVersion.number))
            .where(ContentVersion.item_id.in_(item_ids))
            .group_by(ContentVersion.item_id)
        )
        .tuples()
        .all()
    )
    published = dict(
        session.execute(
            select(ContentItem.id, ContentVersion.number)
            .join(ContentVersion, ContentVersion.id == ContentItem.published_version_id)
            .where(ContentItem.id.in_(item_ids))
        )
        .tuples()
        .all()
    )
    return {i: (published.get(i), latest.get(i)) for i in item_ids}


# --- Versions ------------------------------------------------------------------------------


def check_can_upload(session: Session, actor: User, item_id: int) -> ContentItem:
    item = get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if item.kind == ContentKind.link:
        raise InvalidInput(_("A link has no files: change its URL instead."))
    if item.status == ContentStatus.archived:
        raise Conflict(_("This item is archived: restore it before adding versions."))
    return item


def blob_known(session: Session, sha256: str) -> bool:
    return session.get(Blob, sha256) is not None


def add_version(
    session: Session,
    actor: User,
    item_id: int,
    *,
    sha256: str,
    size: int,
    media_type: str,
    filename: str,
    note: str | None = None,
) -> ContentVersion:
    """Record an uploaded file as the item's next version (1, 2, ...).

    The UPDATE on the item comes first: it takes the item's row lock (PostgreSQL) or the write
    lock (SQLite), so concurrent uploads to one item get consecutive numbers, never the same."""
    note = clean_text(note, field=_("Note"), max_len=MAX_NOTE)
    session.execute(
        update(ContentItem).where(ContentItem.id == item_id).values(updated_at=utcnow())
    )
    item = check_can_upload(session, actor, item_id)
    if session.get(Blob, sha256) is None:
        try:
            with session.begin_nested():
                session.add(Blob(sha256=sha256, size=size))
        except IntegrityError:
            pass  # the same bytes were recorded by a concurrent upload: stored once
    number = (
        session.scalar(
            select(func.max(ContentVersion.number)).where(ContentVersion.item_id == item.id)
        )
        or 0
    ) + 1
    version = ContentVersion(
        item_id=item.id,
        number=number,
        blob_sha256=sha256,
        size=size,
        media_type=media_type,
        filename=filename,
        note=note,
        created_by_id=actor.id,
    )
    session.add(version)
    session.flush()
    _carry_tracks(session, version)
    pause_point("lcms.add_version")
    return version


def _carry_tracks(session: Session, version: ContentVersion) -> None:
    """A new audio or video version starts with the previous version's captions and
    transcripts (decision 11): new rows, the same blobs. The author deletes what no longer
    fits the new recording."""
    if version.number == 1 or not version.media_type.startswith(("video/", "audio/")):
        return
    previous = select(ContentVersion.id).where(
        ContentVersion.item_id == version.item_id, ContentVersion.number == version.number - 1
    )
    for track in list(session.scalars(select(TextTrack).where(TextTrack.version_id.in_(previous)))):
        session.add(
            TextTrack(
                version_id=version.id,
                kind=track.kind,
                language=track.language,
                label=track.label,
                blob_sha256=track.blob_sha256,
                size=track.size,
                filename=track.filename,
                created_by_id=track.created_by_id,
                created_at=track.created_at,
            )
        )
    session.flush()


def list_versions(session: Session, actor: User, item_id: int) -> list[ContentVersion]:
    item = get_item_for(session, actor, item_id)
    query = select(ContentVersion).where(ContentVersion.item_id == item.id)
    if not policy.can_see_drafts(actor, item):
        query = query.where(ContentVersion.id == item.published_version_id)
    return list(session.scalars(query.order_by(ContentVersion.number.desc())))


def get_version_for(session: Session, actor: User, item_id: int, number: int) -> ContentVersion:
    """A version ``actor`` may fetch. Learners get only the published version (else 404)."""
    item = get_item_for(session, actor, item_id)
    version = session.scalar(
        select(ContentVersion).where(
            ContentVersion.item_id == item.id, ContentVersion.number == number
        )
    )
    if version is None or (
        not policy.can_see_drafts(actor, item) and version.id != item.published_version_id
    ):
        raise NotFound(_("Version {n} of this item does not exist.").format(n=number))
    return version


# --- Publishing ----------------------------------------------------------------------------

# Each publishing event is also an entry of the audit log (app.accounts.audit).
_AUDIT_ACTIONS = {
    PublishAction.publish: audit.AuditAction.content_published,
    PublishAction.rollback: audit.AuditAction.content_rolled_back,
    PublishAction.archive: audit.AuditAction.content_archived,
    PublishAction.restore: audit.AuditAction.content_restored,
}


def _log(
    session: Session,
    item: ContentItem,
    actor: User,
    action: PublishAction,
    from_version: int | None,
    to_version: int | None,
) -> PublishEvent:
    event = PublishEvent(
        item_id=item.id,
        action=action.value,
        from_version=from_version,
        to_version=to_version,
        actor_id=actor.id,
    )
    session.add(event)
    audit.record(
        session,
        actor=actor,
        action=_AUDIT_ACTIONS[action],
        target_type="content",
        target_id=item.id,
        target_label=item.title,
        detail={"from_version": from_version, "to_version": to_version},
    )
    return event


def _published_number(session: Session, item: ContentItem) -> int | None:
    if item.published_version_id is None:
        return None
    version = session.get(ContentVersion, item.published_version_id)
    return version.number if version else None


def publish(session: Session, actor: User, item_id: int, *, version: int) -> ContentItem:
    """Publish version ``version``. Publishing an older version than the current one is a
    rollback, logged as such."""
    item = get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if item.kind == ContentKind.link:
        if version != 0:
            raise InvalidInput(_("A link has no versions: publish it with version 0."))
        current = None
        target_id = None
    else:
        target = session.scalar(
            select(ContentVersion).where(
                ContentVersion.item_id == item.id, ContentVersion.number == version
            )
        )
        if target is None:
            raise NotFound(_("Version {n} of this item does not exist.").format(n=version))
        current = _published_number(session, item)
        target_id = target.id
    if item.status == ContentStatus.archived:
        raise Conflict(_("This item is archived: restore it first."))
    if item.status == ContentStatus.published and item.published_version_id == target_id:
        return item  # publishing what is already published changes nothing
    action = (
        PublishAction.rollback
        if current is not None and version < current
        else PublishAction.publish
    )
    item.published_version_id = target_id
    item.status = ContentStatus.published.value
    item.updated_at = utcnow()
    _log(session, item, actor, action, current, version if target_id else None)
    session.flush()
    return item


def archive(session: Session, actor: User, item_id: int) -> ContentItem:
    item = get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if item.status != ContentStatus.archived:
        current = _published_number(session, item)
        item.status = ContentStatus.archived.value
        item.updated_at = utcnow()
        _log(session, item, actor, PublishAction.archive, current, None)
        session.flush()
    return item


def restore(session: Session, actor: User, item_id: int) -> ContentItem:
    item = get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if item.status == ContentStatus.archived:
        published = item.published_version_id is not None or item.kind == ContentKind.link
        was_published = session.scalar(
            select(literal(True))
            .where(
                PublishEvent.item_id == item.id,
                PublishEvent.action.in_(
                    [PublishAction.publish.value, PublishAction.rollback.value]
                ),
            )
            .limit(1)
        )
        item.status = (
            ContentStatus.published.value
            if published and was_published
            else ContentStatus.draft.value
        )
        item.updated_at = utcnow()
        current = _published_number(session, item)
        _log(session, item, actor, PublishAction.restore, None, current)
        session.flush()
    return item


def history(session: Session, actor: User, item_id: int) -> list[PublishEvent]:
    item = get_item_for(session, actor, item_id)
    policy.require_can_see_drafts(actor, item)
    return list(
        session.scalars(
            select(PublishEvent)
            .where(PublishEvent.item_id == item.id)
            .order_by(PublishEvent.at.desc(), PublishEvent.id.desc())
        )
    )


# --- Garbage collection --------------------------------------------------------------------


@dataclass(frozen=True)
class GcResult:
    temp_files: int
    orphan_blobs: int


def collect_garbage(session: Session, store: BlobStore, *, grace_seconds: int = 3600) -> GcResult:
    """Remove temp files of interrupted uploads and stored blobs no version refers to.

    Only files older than ``grace_seconds`` go, so an upload still in flight (its blob stored
    but its version not yet committed) is never touched."""
    temp = remove_stale_temp_files(store, older_than_seconds=grace_seconds)
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    orphans = 0
    batch: list[str] = []

    def flush_batch() -> int:
        known = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(batch))))
        removed = 0
        for sha in batch:
            if sha not in known:
                store.delete(sha)
                removed += 1
        batch.clear()
        return removed

    for blob in store.iter_blobs():
        if blob.modified_at < cutoff:
            batch.append(blob.sha256)
            if len(batch) >= 500:
                orphans += flush_batch()
    if batch:
        orphans += flush_batch()
    return GcResult(temp_files=temp, orphan_blobs=orphans)


# --- For other packages (courses pin versions by id) ---------------------------------------


@dataclass(frozen=True)
class PinnedVersion:
    """What a course needs to know about a content version it pins."""

    version_id: int
    item_id: int
    item_title: str
    item_kind: str
    item_status: str
    number: int
    published_number: int | None
    media_type: str
    filename: str
    size: int


def resolve_version(session: Session, item_id: int, number: int | None) -> ContentVersion:
    """The version to pin for a new lesson: ``number``, or the item's published version.
    Archived items and unpublished versions cannot be added to new lessons."""
    item = get_item(session, item_id)
    if item.status == ContentStatus.archived:
        raise Conflict(_("This library item is archived: it cannot be added to a lesson."))
    if item.kind == ContentKind.link:
        raise InvalidInput(_("A link cannot be a lesson's content: upload a file instead."))
    if number is None:
        if item.published_version_id is None:
            raise Conflict(_("This library item has no published version yet."))
        version = session.get(ContentVersion, item.published_version_id)
    else:
        version = session.scalar(
            select(ContentVersion).where(
                ContentVersion.item_id == item.id, ContentVersion.number == number
            )
        )
    if version is None:
        raise NotFound(_("Version {n} of this item does not exist.").format(n=number))
    return version


def was_published(session: Session, version: ContentVersion) -> bool:
    """Is (or was) ``version`` the published version of its item?"""
    item = get_item(session, version.item_id)
    if item.published_version_id == version.id:
        return True
    return (
        session.scalar(
            select(literal(True))
            .where(
                PublishEvent.item_id == version.item_id,
                PublishEvent.to_version == version.number,
                PublishEvent.action.in_(
                    [PublishAction.publish.value, PublishAction.rollback.value]
                ),
            )
            .limit(1)
        )
        is not None
    )


def _pinned_query() -> Select[Any]:
    published = ContentVersion.__table__.alias("published")
    # Plain columns, not entities: no owner/creator joins, no label loads (a hot path).
    return (
        select(
            ContentVersion.id,
            ContentItem.id,
            ContentItem.title,
            ContentItem.kind,
            ContentItem.status,
            ContentVersion.number,
            published.c.number,
            ContentVersion.media_type,
            ContentVersion.filename,
            ContentVersion.size,
        )
        .join(ContentItem, ContentItem.id == ContentVersion.item_id)
        .outerjoin(published, published.c.id == ContentItem.published_version_id)
        .where(ContentVersion.id.in_(bindparam("ids", expanding=True)))
    )


# Built once: every course page runs it, and building the statement and its cache key
# anew each time cost more than the query itself.
_PINNED = _pinned_query()


def pinned_versions(session: Session, version_ids: list[int]) -> dict[int, PinnedVersion]:
    """Pinned versions with their items and the items' published numbers, in one query."""
    if not version_ids:
        return {}
    rows = session.execute(_PINNED, {"ids": sorted(set(version_ids))}).all()
    return {row[0]: PinnedVersion(*row) for row in rows}


def get_version(session: Session, version_id: int) -> ContentVersion:
    version = session.get(ContentVersion, version_id)
    if version is None:
        raise NotFound(_("This content version does not exist."))
    return version
