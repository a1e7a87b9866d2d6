"""Building blocks of the admin API's OpenAPI 3.1 document (openapi.py)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "B",
    "ERRORS",
    "I",
    "N",
    "S",
    "json_content",
    "list_of",
    "obj",
    "op",
    "path_param",
    "query_param",
    "ref",
]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_PROBLEM = {"content": {"application/problem+json": {"schema": ref("Problem")}}}
ERRORS = {
    "401": {"description": "No valid admin token", **_PROBLEM},
    "404": {"description": "Not found", **_PROBLEM},
    "409": {"description": "Exists already", **_PROBLEM},
    "422": {"description": "Invalid request", **_PROBLEM},
}


def op(
    summary: str,
    ok: str = "200",
    schema: dict[str, Any] | None = None,
    body: str | None = None,
    *,
    media: str = "application/json",
    params: list[dict[str, Any]] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One operation: its success response, the shared errors, and `extra` ones
    (status -> description); `body` names a schema, or with another `media`
    describes a body of that type."""
    response: dict[str, Any] = {"description": "OK" if ok != "204" else "Done"}
    if schema is not None:
        response.update(json_content(schema))
    errors = {**ERRORS, **{k: {"description": v, **_PROBLEM} for k, v in (extra or {}).items()}}
    result: dict[str, Any] = {"summary": summary, "responses": {ok: response, **errors}}
    if body is not None and media == "application/json":
        result["requestBody"] = {"required": True, **json_content(ref(body))}
    elif body is not None:
        content = {media: {"schema": {"type": "string", "description": body}}}
        result["requestBody"] = {"required": True, "content": content}
    if params:
        result["parameters"] = params
    return result


def list_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


def path_param(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def query_param(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 0}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


S = {"type": "string"}
B = {"type": "boolean"}
I = {"type": "integer"}  # noqa: E741
N = {"type": "number"}
