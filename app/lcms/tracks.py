"""Text tracks of audio and video versions (decision 11): WebVTT captions and subtitles, and
plain-text transcripts. This module owns what a track's bytes may be (UTF-8, WebVTT for timed
tracks, at most ``MAX_TRACK_BYTES``), who may add and delete tracks (the item's owner or an
admin, like versions), who may list them (whoever may fetch the version) and the player's view
of them. Serving the bytes is ``app.lcms.files``. Plain functions; the caller's session
commits."""

from __future__ import annotations

import hashlib
import html
import os
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from app.core.i18n import gettext as _
from app.core.storage import BlobStore, new_temp_file
from app.lcms import policy, service
from app.lcms.models import Blob, ContentStatus, ContentVersion, TextTrack, TrackKind

# Captions of a two-hour film are about 150 KB; a megabyte leaves room and bounds the pages
# that show a transcript inline.
MAX_TRACK_BYTES = 1024 * 1024
MAX_TRACK_LABEL = 100
MAX_LANGUAGE = 35
TIMED_KINDS = frozenset({TrackKind.captions, TrackKind.subtitles})
TRACK_MEDIA_TYPES = {
    TrackKind.captions: "text/vtt",
    TrackKind.subtitles: "text/vtt",
    TrackKind.transcript: "text/plain",
}
# Default labels: a language menu names each language in itself, whatever the page's language.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
PREFERRED_LANGUAGE = "vi"
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
# The WebVTT signature: "WEBVTT" alone on the first line, or followed by a space or a tab.
_WEBVTT_HEADER = re.compile(r"^WEBVTT(?:[ \t][^\n]*)?$")
_VTT_TAG = re.compile(r"<[^>]*>")
# Characters a text file never holds (C0 controls but tab, line feed, form feed, return).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def is_timed(kind: str) -> bool:
    """Captions and subtitles (WebVTT, inside the player) rather than a transcript."""
    return kind in TIMED_KINDS


def media_type_of(track: TextTrack) -> str:
    return TRACK_MEDIA_TYPES[TrackKind(track.kind)]


# --- Validation ----------------------------------------------------------------------------


def clean_kind(value: str | None) -> TrackKind:
    try:
        return TrackKind((value or "").strip())
    except ValueError:
        raise InvalidInput(
            _("Choose the kind of track: captions, subtitles or transcript.")
        ) from None


def clean_language(value: str | None) -> str:
    """A BCP 47 tag in its usual case: "vi", "en-US", "zh-Hant"."""
    tag = (value or "").strip().replace("_", "-")
    if not tag:
        raise InvalidInput(_("Give the language of the track, such as vi or en."))
    if len(tag) > MAX_LANGUAGE or not _LANGUAGE_TAG.match(tag):
        raise InvalidInput(
            _("'{value}' is not a language tag such as vi or en.").format(value=tag[:40])
        )
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())  # region: en-US
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script: zh-Hant
        else:
            parts.append(part.lower())
    return "-".join(parts)


def clean_label(value: str | None, language: str) -> str:
    label = service.clean_text(value, field=_("Label"), max_len=MAX_TRACK_LABEL)
    if any(unicodedata.category(c) == "Cc" for c in label):
        raise InvalidInput(_("The label contains control characters."))
    return label or LANGUAGE_NAMES.get(language.split("-")[0], language)


def decode_text(data: bytes) -> str:
    """The file as text: UTF-8 (a byte-order mark is dropped), lines ending in "\\n"."""
    if not data:
        raise InvalidInput(_("The file is empty."))
    if b"\x00" in data:
        raise UnsupportedMediaType(
            _("This file is not a text file: upload a WebVTT (.vtt) or plain text (.txt) file.")
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            _("The file is not UTF-8 text: save it with the UTF-8 encoding and upload it again.")
        ) from None
    if _CONTROL.search(text):
        raise UnsupportedMediaType(
            _("This file is not a text file: upload a WebVTT (.vtt) or plain text (.txt) file.")
        )
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def is_webvtt(text: str) -> bool:
    return bool(_WEBVTT_HEADER.match(text.split("\n", 1)[0]))


def check_webvtt(text: str) -> None:
    if not is_webvtt(text):
        raise UnsupportedMediaType(
            _(
                "Captions and subtitles must be a WebVTT file (.vtt) whose first line is "
                "“WEBVTT”. A subtitle editor can convert other formats such as SRT."
            )
        )
    if "-->" not in text:
        raise InvalidInput(_("The WebVTT file has no cues (no line with “-->”)."))


def vtt_to_text(text: str) -> str:
    """The words of a WebVTT file, a cue's lines after another: no header, identifiers,
    timings, notes, styles or tags; a line repeated by the next cue is kept once."""
    lines: list[str] = []
    for block in re.split(r"\n{2,}", text.strip("\n"))[1:]:  # the first block is the header
        rows = block.split("\n")
        timing = next((i for i, row in enumerate(rows) if "-->" in row), None)
        if timing is None:
            continue  # NOTE, STYLE and REGION blocks
        for row in rows[timing + 1 :]:
            words = html.unescape(_VTT_TAG.sub("", row)).replace("\xa0", " ").strip()
            if words and (not lines or lines[-1] != words):
                lines.append(words)
    return "\n".join(lines)


@dataclass(frozen=True)
class PreparedTrack:
    """A checked upload: the bytes to store (a transcript is stored as normalised text)."""

    kind: TrackKind
    language: str
    label: str
    data: bytes
    filename: str


def prepare_track(
    data: bytes, filename: str | None, *, kind: str | None, language: str | None, label: str | None
) -> PreparedTrack:
    """Check an uploaded track. Captions and subtitles must be WebVTT (415) in UTF-8 (422) and
    are stored as sent; a transcript is UTF-8 text, or WebVTT whose words become the text."""
    track_kind = clean_kind(kind)
    tag = clean_language(language)
    track_label = clean_label(label, tag)
    if len(data) > MAX_TRACK_BYTES:
        raise too_large()
    text = decode_text(data)
    if is_timed(track_kind):
        check_webvtt(text)
        return PreparedTrack(
            track_kind, tag, track_label, data, service.clean_filename(filename, extension="vtt")
        )
    if is_webvtt(text):
        text = vtt_to_text(text)
    text = "\n".join(line.rstrip() for line in text.strip().split("\n"))
    if not text:
        raise InvalidInput(_("The transcript has no text."))
    name = service.clean_filename(filename, extension="txt")
    stem, _dot, ext = name.rpartition(".")
    if ext.lower() != "txt":
        name = f"{stem or name}.txt"
    return PreparedTrack(track_kind, tag, track_label, (text + "\n").encode(), name)


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        _("A captions or transcript file may be at most {n} MB.").format(
            n=MAX_TRACK_BYTES // (1024 * 1024)
        )
    )


# --- Tracks of a version -------------------------------------------------------------------


def _version(session: Session, item_id: int, number: int) -> ContentVersion:
    version = session.scalar(
        select(ContentVersion).where(
            ContentVersion.item_id == item_id, ContentVersion.number == number
        )
    )
    if version is None:
        raise NotFound(_("Version {n} of this item does not exist.").format(n=number))
    return version


def check_can_edit_tracks(
    session: Session, actor: User, item_id: int, number: int
) -> ContentVersion:
    """The version whose tracks ``actor`` may add or delete: the item's owner or an admin
    (403), an item that is not archived (409), a version that exists (404) and is audio or
    video (422)."""
    item = service.get_item_for(session, actor, item_id)
    policy.require_owner(actor, item)
    if item.status == ContentStatus.archived:
        raise Conflict(_("This item is archived: restore it before changing its tracks."))
    version = _version(session, item.id, number)
    if not version.media_type.startswith(("video/", "audio/")):
        raise InvalidInput(_("Only audio and video versions have captions and transcripts."))
    return version


def _check_free(session: Session, version: ContentVersion, kind: str, language: str) -> None:
    taken = session.scalar(
        select(TextTrack.id).where(
            TextTrack.version_id == version.id,
            TextTrack.kind == kind,
            TextTrack.language == language,
        )
    )
    if taken is not None:
        raise _taken(language)


def _taken(language: str) -> Conflict:
    return Conflict(
        _(
            "This version already has a track of this kind in this language ({language}): "
            "delete it first, then upload the new one."
        ).format(language=language)
    )


def check_can_add(
    session: Session, actor: User, item_id: int, number: int, prepared: PreparedTrack
) -> ContentVersion:
    """Everything ``add_track`` checks, before the bytes are stored."""
    version = check_can_edit_tracks(session, actor, item_id, number)
    _check_free(session, version, prepared.kind.value, prepared.language)
    return version


def add_track(
    session: Session,
    actor: User,
    item_id: int,
    number: int,
    *,
    prepared: PreparedTrack,
    sha256: str,
) -> TextTrack:
    """Record stored bytes as a track of version ``number``. One track per kind and language:
    a second one is a 409 (delete the old one first), never a silent replacement."""
    version = check_can_add(session, actor, item_id, number, prepared)
    if session.get(Blob, sha256) is None:
        try:
            with session.begin_nested():
                session.add(Blob(sha256=sha256, size=len(prepared.data)))
        except IntegrityError:
            pass  # the same bytes were recorded by a concurrent upload: stored once
    track = TextTrack(
        version_id=version.id,
        kind=prepared.kind.value,
        language=prepared.language,
        label=prepared.label,
        blob_sha256=sha256,
        size=len(prepared.data),
        filename=prepared.filename,
        created_by_id=actor.id,
    )
    try:
        with session.begin_nested():
            session.add(track)
    except IntegrityError:
        raise _taken(prepared.language) from None  # a concurrent upload took the place
    return track


def _order(track: TextTrack) -> tuple[int, bool, str, int]:
    kinds = list(TrackKind)
    return (
        kinds.index(TrackKind(track.kind)),
        track.language.split("-")[0] != PREFERRED_LANGUAGE,
        track.language,
        track.id,
    )


def tracks_of_version(session: Session, version_id: int) -> list[TextTrack]:
    """Captions, then subtitles, then transcripts; Vietnamese first in each."""
    tracks = session.scalars(select(TextTrack).where(TextTrack.version_id == version_id))
    return sorted(tracks, key=_order)


def list_tracks(session: Session, actor: User, item_id: int, number: int) -> list[TextTrack]:
    """The tracks of a version ``actor`` may fetch (learners: the published version only)."""
    version = service.get_version_for(session, actor, item_id, number)
    return tracks_of_version(session, version.id)


def get_version_track(session: Session, version_id: int, track_id: int) -> TextTrack:
    """Track ``track_id`` if it belongs to version ``version_id`` (whose access the caller
    checked: a lesson's pinned version, or a version of the library)."""
    track = session.get(TextTrack, track_id)
    if track is None or track.version_id != version_id:
        raise NotFound(_("This track does not exist."))
    return track


def get_track_for(
    session: Session, actor: User, item_id: int, number: int, track_id: int
) -> TextTrack:
    """A track of a version ``actor`` may fetch, on the same terms as the version's file."""
    version = service.get_version_for(session, actor, item_id, number)
    return get_version_track(session, version.id, track_id)


def delete_track(session: Session, actor: User, item_id: int, number: int, track_id: int) -> None:
    """Remove a track from one version (other versions sharing its blob keep theirs)."""
    version = check_can_edit_tracks(session, actor, item_id, number)
    session.delete(get_version_track(session, version.id, track_id))
    session.flush()


# --- The players' view ---------------------------------------------------------------------


def read_text(store: BlobStore, track: TextTrack) -> str:
    body = store.open(track.blob_sha256)
    try:
        return body.read(MAX_TRACK_BYTES + 1).decode("utf-8", "replace")
    finally:
        body.close()


@dataclass(frozen=True)
class Transcript:
    track: TextTrack
    # Paragraphs (separated by blank lines) of lines: shown as <p> with <br> between lines.
    paragraphs: list[list[str]]


@dataclass(frozen=True)
class PlayerTracks:
    """What a player shows of a version's tracks: <track> elements and transcripts."""

    timed: list[TextTrack]
    default_id: int | None  # the <track default>: Vietnamese captions, else subtitles
    transcripts: list[Transcript]


def paragraphs(text: str) -> list[list[str]]:
    blocks = re.split(r"\n\s*\n", text.strip())
    return [[line.strip() for line in b.split("\n") if line.strip()] for b in blocks if b.strip()]


def player_tracks(session: Session, store: BlobStore, version_id: int) -> PlayerTracks | None:
    """The tracks of a version for its player, transcripts read from storage; None when the
    version has none (the page then shows nothing extra)."""
    tracks = tracks_of_version(session, version_id)
    if not tracks:
        return None
    timed = [t for t in tracks if is_timed(t.kind)]
    preferred = [t for t in timed if t.language.split("-")[0] == PREFERRED_LANGUAGE]
    return PlayerTracks(
        timed=timed,
        default_id=preferred[0].id if preferred else None,
        transcripts=[
            Transcript(t, paragraphs(read_text(store, t))) for t in tracks if not is_timed(t.kind)
        ],
    )


def store_bytes(store: BlobStore, data: bytes) -> str:
    """Put checked track bytes into storage (a temp file, then ``put``); their SHA-256."""
    sha256 = hashlib.sha256(data).hexdigest()
    fh, path = new_temp_file(store)
    try:
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        store.put(sha256, path)
    finally:
        path.unlink(missing_ok=True)
    return sha256


def tracks_of_versions(session: Session, version_ids: list[int]) -> dict[int, list[TextTrack]]:
    """{version id: its tracks, in ``tracks_of_version``'s order} in one query."""
    found: dict[int, list[TextTrack]] = {v: [] for v in version_ids}
    if version_ids:
        for track in session.scalars(
            select(TextTrack).where(TextTrack.version_id.in_(version_ids))
        ):
            found[track.version_id].append(track)
    return {v: sorted(ts, key=_order) for v, ts in found.items()}
