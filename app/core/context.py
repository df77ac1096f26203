"""Where the current unit of work comes from: the client address and the channel ("web" for
pages, "api" for the JSON API), for the audit log.

``WebMiddleware`` sets it for every HTTP request. Nothing sets it on the command line or in
background work, which therefore reads as channel "cli" with no address. It is a context
variable, so it follows the request into the worker threads that run sync endpoints and
dependencies (Starlette copies the context into them).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

VIA_WEB = "web"
VIA_API = "api"
VIA_CLI = "cli"


@dataclass(frozen=True)
class Origin:
    ip: str | None
    via: str


CLI_ORIGIN = Origin(ip=None, via=VIA_CLI)

_origin: ContextVar[Origin | None] = ContextVar("hocso_origin", default=None)


def set_origin(ip: str | None, via: str) -> Token[Origin | None]:
    """Set for the current context; pass the token to ``reset_origin`` when the request ends."""
    return _origin.set(Origin(ip=ip, via=via))


def reset_origin(token: Token[Origin | None]) -> None:
    _origin.reset(token)


def current_origin() -> Origin:
    return _origin.get() or CLI_ORIGIN
