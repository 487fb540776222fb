"""Every operation of a service's OpenAPI names each error status it can answer, with the
one error body (`ErrorAnswer`): the statuses the runtime gives on any route (no token, the
wrong role, an unreadable or oversized body, the store away) are added here once, beside
the ones each route documents itself."""

from __future__ import annotations

from typing import Any

from muster_runtime.errors import ErrorAnswer

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorAnswer"}
# FastAPI's own 422 body, which Muster's validation answer replaces.
FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"

AUTHENTICATED = {
    "401": "No valid bearer token (`unauthenticated`; `reason`: missing, invalid, expired, "
    "revoked).",
    "403": "The token's role may not do this, or the caller's area does not reach it "
    "(`forbidden`; `reason`: wrong_role, outside_scope).",
    "404": "What the request names is not known here (`not_found`, or a more precise code), "
    "or the login speaks for no volunteer (`not_registered`).",
}
WITH_BODY = {
    "400": "The body cannot be read (not UTF-8 JSON: `http_error`).",
    "413": "The body is over the size limit (`payload_too_large`).",
    "422": "The request is not valid (`validation_failed`, with `fields`).",
}
WITH_PARAMETERS = {"422": WITH_BODY["422"]}
EVERYWHERE = {
    "503": "The store is unavailable or refused the request; nothing was done "
    "(`store_unavailable`, `store_error`): retry after `Retry-After` seconds.",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}


def document_error_answers(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the runtime's error answers to every operation of `schema` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorAnswer.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["ErrorAnswer"] = body
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                _document(path, operation)
    return schema


def _document(path: str, operation: dict[str, Any]) -> None:
    statuses = dict(EVERYWHERE)
    if operation.get("security"):
        statuses |= AUTHENTICATED
    elif "{" in path:
        statuses["404"] = AUTHENTICATED["404"]
    if operation.get("parameters"):
        statuses |= WITH_PARAMETERS
    if operation.get("requestBody"):
        statuses |= WITH_BODY
    answers: dict[str, Any] = operation.setdefault("responses", {})
    for status, description in statuses.items():
        answers.setdefault(status, {"description": description})
    for status, answer in answers.items():
        if not status.startswith(("4", "5")):
            continue
        content = answer.setdefault("content", {}).setdefault("application/json", {})
        if "schema" not in content or content["schema"].get("$ref") == FASTAPI_VALIDATION:
            content["schema"] = ERROR_BODY
        if status in {"409", "429", "503"}:
            answer["headers"] = RETRY_AFTER | answer.get("headers", {})
        if status == "401":
            answer["headers"] = WWW_AUTHENTICATE | answer.get("headers", {})
