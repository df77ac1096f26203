"""The included routers' guards (app/core/routing.py): every route resolves as it did without
them, and a request for a route near the end of the list no longer tries the routes before it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

from app.core.routing import PathFilter, path_filter


def _resolve(app: FastAPI, method: str, path: str, *, guards: bool) -> tuple[Any, Any]:
    """The node of the app's route list a request resolves to, and the endpoint it selects, as
    the app's router does (the first full match; else the first partial one, a 405)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    partial = None
    for index, node in enumerate(app.router.routes):
        # Without guards: the class's own method, as FastAPI would call it.
        found, child = node.matches(scope) if guards else type(node).matches(node, scope)
        if found == Match.FULL:
            return index, child.get("endpoint")
        if found == Match.PARTIAL and partial is None:
            partial = (index, "405")
    return partial or (None, None)


def _every_route(app: FastAPI) -> list[tuple[str, str]]:
    requests = []
    for node in app.router.routes:
        contexts = getattr(node, "effective_route_contexts", None)
        routes = [c.original_route for c in contexts()] if contexts else [node]
        for route in routes:
            if not isinstance(route, APIRoute):
                continue
            # Any value fits a parameter's segment; "1" also fits an int convertor.
            path = re.sub(r"\{[^}:]+:path\}", "a/b", route.path)
            path = re.sub(r"\{[^}]+\}", "1", path)
            for method in sorted(route.methods or ()):
                requests.append((method, path))
    return requests


def test_every_route_resolves_as_without_guards(app: FastAPI) -> None:
    requests = _every_route(app)
    assert len(requests) > 250  # the whole app, not an empty walk
    strays = [
        ("GET", "/nope"),
        ("GET", "/api/v1/nope"),
        ("DELETE", "/login"),  # a 405: the partial match must survive the guards too
        ("GET", "/api/v1/courses/1/extra/segments"),
        ("GET", "/static/app.css"),
    ]
    for method, path in requests + strays:
        assert _resolve(app, method, path, guards=True) == _resolve(
            app, method, path, guards=False
        ), (method, path)
    assert _resolve(app, "GET", "/nope", guards=True) == (None, None)
    assert _resolve(app, "DELETE", "/login", guards=True)[1] == "405"


def test_every_included_router_is_guarded(app: FastAPI) -> None:
    # A FastAPI upgrade that renamed what the guards are built from would leave them off
    # silently (and every request slow again): this fails instead.
    nodes = [n for n in app.router.routes if hasattr(n, "effective_route_contexts")]
    assert len(nodes) >= 20
    assert all(hasattr(n.__dict__.get("matches"), "path_filter") for n in nodes)


def test_a_late_route_tries_no_route_of_the_routers_before_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_type = next(type(n) for n in app.router.routes if hasattr(n, "effective_route_contexts"))
    tried: list[object] = []
    original = node_type._match  # type: ignore[attr-defined]

    def counting(self: Any, scope: Any) -> Any:
        tried.append(self)
        return original(self, scope)

    monkeypatch.setattr(node_type, "_match", counting)
    assert _resolve(app, "GET", "/healthz", guards=True)[1].__name__ == "healthz"
    assert tried == []
    # Without the guards every router tries its routes first (so the check above can fail).
    assert _resolve(app, "GET", "/healthz", guards=False)[1].__name__ == "healthz"
    assert len(tried) >= 20


def test_path_filter() -> None:
    found = path_filter(["/api/v1/courses/{id}", "/api/v1/courses", "/", "/login"])
    assert found == PathFilter(frozenset({"/api/v1/courses", "/", "/login"}), ("/api/v1/courses/",))
    assert found is not None
    for admitted in ("/", "/login", "/api/v1/courses/7"):
        assert found.admits(admitted)
    for refused in ("/login/", "/logout", "/api/v1/course"):
        assert not found.admits(refused)
    # A path that begins with a parameter may match anything: no filter.
    assert path_filter(["/login", "/{slug}"]) is None
    assert path_filter([]) is None
