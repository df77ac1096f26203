"""Request routing without trying every route of the app for every request.

FastAPI (0.137 and later) keeps each included router as one node of the app's route list. For
a request the app asks each node in turn whether it matches, and a node answers by trying each
of its routes, one at a time, with a few dictionary writes per route. A route near the end of
this app's ~280 routes (``/healthz``, a page of the last package) paid about 0.7-1 ms of route
matching on the benchmark machine: more than everything else a trivial endpoint does
(docs/benchmarks.md, "Route matching").

``guard_included_routers`` puts a cheap test in front of each node: the paths of its routes
without parameters, and the literal beginnings of the others (each path up to its first
``{parameter}``). A request path that is none of the first and starts with none of the second
cannot match any of the node's routes, so the node answers "no match" without trying them.
Nodes and routes keep their order and a node that may match is asked exactly as before, so the
route a request resolves to is unchanged (a test resolves every route of the app both ways).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette._utils import get_route_path  # the path FastAPI's own matching uses
from starlette.routing import Match
from starlette.types import Scope

Matcher = Callable[[Scope], tuple[Match, Scope]]


@dataclass(frozen=True)
class PathFilter:
    """What a node's routes can match: a path equal to one of ``exact`` (routes without
    parameters) or starting with one of ``prefixes`` (each parametrised path up to its first
    parameter). It may let through a path that matches no route; never the reverse."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def admits(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.prefixes)


def path_filter(paths: Iterable[str]) -> PathFilter | None:
    """The filter of these route paths; None when one of them begins with a parameter (or a
    node has no paths), i.e. when no cheap test can rule a request out."""
    exact, prefixes = set(), set()
    for path in paths:
        head, brace, _ = path.partition("{")
        if not brace:
            exact.add(path)
        elif head in ("", "/"):
            return None
        else:
            prefixes.add(head)
    if not exact and not prefixes:
        return None
    return PathFilter(frozenset(exact), tuple(sorted(prefixes)))


def guarded(matches: Matcher, admitted: PathFilter) -> Matcher:
    def guarded_matches(scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket") and not admitted.admits(get_route_path(scope)):
            return Match.NONE, {}
        return matches(scope)

    guarded_matches.path_filter = admitted  # type: ignore[attr-defined]  # for the tests
    return guarded_matches


def guard_included_routers(app: FastAPI) -> None:
    """Guard each included router of ``app`` (call it once every router is included: routes
    added to a router afterwards would not be in its guard)."""
    for node in app.router.routes:
        contexts = getattr(node, "effective_route_contexts", None)
        if contexts is None:  # a route or a mount of the app itself: cheap to try
            continue
        admitted = path_filter(getattr(context, "path", "") for context in contexts())
        if admitted is None:
            continue
        # The instance's own attribute: the class and every other use of the node (the OpenAPI
        # document, url_path_for, handling the request) stay as they are.
        node.matches = guarded(node.matches, admitted)  # type: ignore[method-assign,assignment]
