"""The OpenAPI document says what the routes really answer, written in ONE place rather than on
every route (the routers change often; a rule here covers a new route at once).

- Every error is `{"detail": ...}` (schema `Error`).
- A route that needs a signed-in user (it depends on deps.current_user) declares the bearer
  scheme, 401, and 403 (a role gate, or the CSRF check of a cookie request).
- A path parameter can name nothing (404). A body can be malformed (400) or too large (413); an
  upload can be of the wrong kind (415); a change to an object can meet a conflict (409). Sign-in
  can be throttled (429).
- The documents (CSV and XLSX exports, PDF reports and notices) are listed with their real
  content types.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from inspect_app import deps

DOCUMENT_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
}
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [{"type": "string"}, {"type": "object"}, {"type": "array"}],
        }
    },
}
DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Not signed in, or the token is invalid, revoked or expired",
    403: "Not allowed for this role, or a cookie request without a valid CSRF token",
    404: "Not found, or not visible to this user",
    409: "Conflicts with the current state",
    413: "Too large",
    415: "Unsupported media type",
    429: "Too many attempts; see Retry-After",
}
WRITES = {"post", "put", "patch", "delete"}


def _needs_user(route) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is deps.current_user:
            return True
        stack.extend(dependant.dependencies)
    return False


def _statuses(route, method: str, operation: dict) -> set[int]:
    out: set[int] = set()
    if _needs_user(route):
        out |= {401, 403}
    if "{" in route.path:
        out.add(404)
    body = operation.get("requestBody", {}).get("content", {})
    if body and method in WRITES:
        out |= {400, 413}
    if "multipart/form-data" in body:
        out.add(415)
    elif method in WRITES and _needs_user(route) and (body or "{" in route.path):
        out.add(409)
    if route.path.endswith("/auth/token") and method == "post":
        out |= {401, 429}  # wrong password; throttled
    return out


def document_contract(app: FastAPI) -> None:
    generate = app.openapi

    def openapi():
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "POST /api/v1/auth/token; the browser's session cookie works as well",
        }
        routes = {
            (route.path, method.lower()): route
            for route in iter_route_contexts(app.routes)
            if isinstance(route.original_route, APIRoute)
            for method in route.methods or ()
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                route = routes.get((path, method))
                if route is not None and isinstance(operation, dict):
                    _complete(route, path, method, operation)
                    _forms_need_values(operation, components["schemas"])
        return schema

    app.openapi = openapi


def _forms_need_values(operation: dict, schemas: dict) -> None:
    """A form field is text or absent: FastAPI reads an empty field as a missing one (422), and
    a form cannot carry null (a client would send the text "null"). So a required text field
    needs one character, and an optional field's `null` alternative means "leave it out"."""
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            continue
        ref = content.get("schema", {}).get("$ref", "")
        form = schemas.get(ref.rsplit("/", 1)[-1], {})
        for name, prop in form.get("properties", {}).items():
            options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
            if name not in form.get("required", []) and len(options) == 1:
                del prop["anyOf"]
                prop.update(options[0])
            if prop.get("type") == "string" and prop.get("format") != "binary":
                if name in form.get("required", []):
                    prop.setdefault("minLength", 1)


def _complete(route, path: str, method: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status in sorted(_statuses(route, method, operation)):
        entry = responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
        entry.setdefault("content", error)
    if _needs_user(route):
        operation.setdefault("security", [{"bearer": []}])
    suffix = next((s for s in DOCUMENT_TYPES if path.endswith(s)), None)
    if suffix:
        ok = responses.setdefault("200", {"description": "The document"})
        ok["content"] = {DOCUMENT_TYPES[suffix]: {"schema": {"type": "string", "format": "binary"}}}
        operation.setdefault("tags", ["documents"])
