"""Content-hashed static URLs: ``static_url("css/app.css")`` gives
``/static/css/app.<sha256[:10]>.css``, and ``/static`` maps such a name back to the real file.

A hashed URL changes whenever the file does, so it is served ``immutable`` for a year: a phone
on mobile data downloads the stylesheet and scripts once, not on every visit. The plain name
still works (for the API docs and anything outside the templates) with a short lifetime, and so
does a hashed name whose hash is no longer current (a page rendered before a deploy): that one
gets the current file, but only the short lifetime, so no stale bytes stay cached for a year.

Digests are computed once (all files at start-up) and recomputed only when a file's size or
modification time changes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.core.config import PROJECT_ROOT

STATIC_ROOT = PROJECT_ROOT / "static"
STATIC_PREFIX = "/static/"
HASH_LENGTH = 10
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=300"
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^./]+)$")


class StaticManifest:
    """The digests of the files under one directory, keyed by their relative path."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._digests: dict[str, tuple[int, int, str]] = {}

    def warm(self) -> int:
        """Hash every file now; returns how many there are."""
        count = 0
        for path in self.root.rglob("*"):
            if path.is_file():
                self.digest(path.relative_to(self.root).as_posix())
                count += 1
        return count

    def digest(self, rel: str) -> str | None:
        """The first characters of the file's SHA-256, or None when there is no such file."""
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root):
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        cached = self._digests.get(rel)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        sha = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
        self._digests[rel] = (stat.st_mtime_ns, stat.st_size, sha)
        return sha

    def url(self, rel: str) -> str:
        """The hashed URL of a static file (the plain one when it has no extension or is
        missing, so a typo shows up as a 404 rather than an exception while rendering)."""
        rel = rel.lstrip("/")
        digest = self.digest(rel)
        stem, dot, ext = rel.rpartition(".")
        if digest is None or not dot or "/" in ext:
            return STATIC_PREFIX + rel
        return f"{STATIC_PREFIX}{stem}.{digest}.{ext}"

    def resolve(self, requested: str) -> tuple[str, bool]:
        """The real relative path behind a requested one, and whether the request named the
        file's current content (so it may be cached for good)."""
        match = _HASHED.match(requested)
        if match is None:
            return requested, False
        real = match["stem"] + match["ext"]
        current = self.digest(real)
        if current is None:
            return requested, False
        return real, current == match["digest"]


manifest = StaticManifest(STATIC_ROOT)


def static_url(rel: str) -> str:
    """Jinja global: ``{{ static_url("css/app.css") }}``."""
    return manifest.url(rel)


class HashedStaticFiles(StaticFiles):
    """StaticFiles that understands hashed names and sets the matching Cache-Control."""

    def __init__(self, *, directory: Path, static_manifest: StaticManifest | None = None) -> None:
        super().__init__(directory=directory)
        self.manifest = static_manifest or manifest

    async def get_response(self, path: str, scope: Scope) -> Response:
        real, immutable = self.manifest.resolve(path.replace("\\", "/"))
        response = await super().get_response(real, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE if immutable else SHORT_LIVED
        return response
