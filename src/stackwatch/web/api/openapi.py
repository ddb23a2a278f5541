"""The OpenAPI 3.1 document of the REST API, generated from the endpoint declarations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from stackwatch import __version__
from stackwatch.web.api.endpoint import Endpoint

REF = "#/components/schemas/{model}"
#: aiohttp's max_line_size and max_field_size (the server keeps its defaults): beyond
#: them aiohttp answers 400 in plain text before any handler runs
MAX_LINE = 8190
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}}}}
_PATH_PARAM = re.compile(r"{(\w+)}")


def _parameters(endpoint: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = endpoint.params.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    in_path = set(_PATH_PARAM.findall(endpoint.path))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "path" if name in in_path else "query",
                                 "required": name in in_path or name in required}
        if prop.get("contentMediaType") == "application/json":
            # a value sent as JSON text (label matchers): OpenAPI's parameter ``content``
            param["content"] = {"application/json": {"schema": prop["contentSchema"]}}
        else:
            param["schema"] = prop
        if description:
            param["description"] = description
        out.append(param)
    return out


def _response_schema(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(endpoint.response).json_schema(mode="serialization",
                                                        ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    return schema


def document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The OpenAPI document of ``endpoints``."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        error = {"content": {"application/json": {"schema": {"$ref": REF.format(
            model="Error")}}}}
        responses: dict[str, Any] = {
            str(endpoint.status): {"description": "OK", "content": {"application/json": {
                "schema": _response_schema(endpoint, schemas)}}},
            "400": {"description": "a parameter is not valid (JSON); or, in plain text from "
                                   "the HTTP server itself, a request line or header over "
                                   f"{MAX_LINE:,} bytes",
                    "content": {**error["content"], "text/plain": {"schema": {"type": "string"}}}},
            "401": {"description": "a token is needed (not from localhost)", **error},
            "403": {"description": "the token's role may not do this", **error},
        }
        if _PATH_PARAM.search(endpoint.path) or endpoint.method != "GET":
            responses["404"] = {"description": "nothing by that name", **error}
        for status, why in endpoint.errors:
            responses[str(status)] = {"description": why, **error}
        if endpoint.body is not None:
            responses["400"]["description"] = ("the body is not valid (the message says why); "
                                               + responses["400"]["description"])
            responses["413"] = {"description": "the body is too large", **error}
        operation: dict[str, Any] = {
            "operationId": f"{endpoint.method.lower()}_{_operation_id(endpoint.path)}",
            "summary": endpoint.summary, "tags": [endpoint.tag],
            "parameters": _parameters(endpoint, schemas), "responses": responses,
            "x-role": endpoint.role,
        }
        if endpoint.description:
            operation["description"] = endpoint.description
        if endpoint.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _body_schema(endpoint.body, schemas)}}}
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "stackwatch", "version": __version__,
                 "description": "The REST API of stackwatch, an operations monitor for "
                                "OpenStack clouds. Times are given as epoch seconds "
                                "(`timestamp`) and ISO 8601 UTC (`time`). Lists are paged "
                                "with `limit` and `offset`. Requests not from localhost need "
                                "`Authorization: Bearer <token>`."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
    }


def _body_schema(body: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(body).json_schema(mode="validation", ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _operation_id(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.removeprefix("/api/v1/").lower()).strip("_")
