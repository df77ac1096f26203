"""The error answers in the OpenAPI schema: every /api operation documents the
``{"error", "detail"}`` body that ``app.core.web``'s one handler renders, instead of FastAPI's
default ``HTTPValidationError`` (which the API never sends)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# What any API operation may answer besides its success: bad input, authentication and
# permission, missing objects, conflicts, size and type limits, throttling, a database that is
# down. Routers may document a status themselves (e.g. a 422 with a per-row report); that wins.
ERROR_STATUSES: dict[int, str] = {
    400: "Bad request",
    401: "Not signed in, or the token is invalid or expired",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests (see Retry-After)",
    503: "Service unavailable (see Retry-After)",
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. not_found"},
        "detail": {"type": "string", "description": "A message for people, in their language"},
        "fields": {
            "type": "array",
            "description": "Which inputs were invalid (422 only)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def add_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the error answers on every /api operation of ``schema`` (changed in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                response = responses.setdefault(str(status), {"description": description})
                content = response.get("content", {}).get("application/json", {})
                if not content or content.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION_REF:
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
    if _FASTAPI_VALIDATION_REF not in repr(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the error answers (once, when first generated)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def file_response(media_type: str = "*/*", description: str = "The file") -> dict[str, Any]:
    """A documented answer whose body is a file, for ``responses={200: file_response(...)}``
    on routes with ``response_class=Response`` (else FastAPI documents JSON)."""
    return {
        "description": description,
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
    }
