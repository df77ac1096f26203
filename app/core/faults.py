"""Named pause points for the fault drills (tests/security/test_faults.py); off in production.

A drill starts the server with ``HOCSO_ENV=test`` and ``HOCSO_TEST_PAUSE_AT=quiz.submit`` (names
separated by commas). ``pause_point("quiz.submit", session)`` then flushes the session, prints
``hocso: paused at quiz.submit`` on stderr and sleeps inside the request's open transaction, so
the drill can ``kill -9`` the server at a known point of a write and check what survives.
Without both variables (and unless the settings' environment is ``test``) it does nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Protocol

from app.core.config import get_settings

# Read once: a server is started with or without pause points, never changed while running.
_NAMES = frozenset(
    name.strip() for name in os.environ.get("HOCSO_TEST_PAUSE_AT", "").split(",") if name.strip()
)
PAUSE_SECONDS = 120  # far longer than a drill needs to kill the server


class _Flushable(Protocol):
    def flush(self) -> None: ...


def pause_point(name: str, session: _Flushable | None = None) -> None:
    if name not in _NAMES:
        return
    if get_settings().env != "test":
        return
    if session is not None:
        session.flush()  # the transaction's writes reach the database, uncommitted
    print(f"hocso: paused at {name}", file=sys.stderr, flush=True)
    time.sleep(PAUSE_SECONDS)
