"""The OpenAPI 3.0 document of API v1, generated from one place: the ``@op`` metadata on each view.

``build(app)`` walks the URL map: every rule under ``/api/v1/`` whose view carries ``@op``
metadata becomes an operation (path parameters from the rule's converters); operations
described elsewhere (``app.views.api_ops.OPENAPI_PATHS``, a ``paths`` fragment) are merged
in when that module provides them. ``undocumented(app)`` lists API rules described nowhere
(a test keeps it empty). Component schemas live in ``api_components``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from app.views.api_components import SCHEMAS, TAGS

PREFIX = "/api/v1"
ID = "int(max=2147483647)"  # URL converter for ids: larger numbers are unknown routes (404), not DB errors
ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_TEXT = {
    400: "请求格式错误（JSON 无效、参数类型错误）",
    401: "未登录或令牌无效",
    403: "无权执行",
    404: "不存在或无权查看",
    409: "状态已变化（如任务已办理）",
    422: "数据校验失败（fields 列出各字段错误）",
}
_TYPES = {"integer": {"type": "integer"}, "string": {"type": "string"}, "boolean": {"type": "boolean"}}


def query(name: str, kind: str = "string", description: str = "", **schema: Any) -> dict[str, Any]:
    """A query parameter; ``kind`` integer/string/boolean/date, extra JSON-schema keywords in ``schema``."""
    base: dict[str, Any] = {"type": "string", "format": "date"} if kind == "date" else dict(_TYPES[kind])
    base.update(schema)
    return {"name": name, "in": "query", "required": False, "description": description, "schema": base}


PAGING = (
    query("page", "integer", "页码，从 1 开始（小于 1 视为 1）"),
    query("per_page", "integer", "每页条数，默认 50，最多 100（超出按 100）"),
)


def op(
    summary: str,
    *,
    tag: str,
    response: str | dict[str, Any] | None = None,
    params: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
    body: str | dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    public: bool = False,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Describe the decorated API view (response/body: a component name or an inline schema)."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary, "tag": tag, "response": response, "params": list(params), "body": body,
            "errors": errors, "public": public, "description": description,
        }
        return view

    return wrap


def _schema(ref: str | dict[str, Any]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{ref}"} if isinstance(ref, str) else ref


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Flask rule → OpenAPI path and its path parameters."""
    params: list[dict[str, Any]] = []

    def swap(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "string", match.group(2)
        schema: dict[str, Any] = {"type": "string"}
        if converter.startswith("int"):
            schema = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
        params.append({"name": name, "in": "path", "required": True, "schema": schema, "example": 1})
        return "{" + name + "}"

    return re.sub(r"<(?:([a-z]+(?:\([^)]*\))?):)?([a-z_]+)>", swap, rule), params


def _operation(meta: dict[str, Any], path_params: list[dict[str, Any]], method: str, endpoint: str) -> dict[str, Any]:
    codes = set(meta["errors"])
    if not meta["public"]:
        codes.add(401)
    if path_params:
        codes.add(404)
    if meta["body"] is not None or meta["params"] or path_params:
        codes.add(400)
    success = _schema(meta["response"]) if meta["response"] else {"type": "object"}
    responses: dict[str, Any] = {"200": {"description": "成功", "content": {"application/json": {"schema": success}}}}
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "错误"),
                                "content": {"application/json": {"schema": ERROR}}}
    responses["default"] = {"description": "其他错误", "content": {"application/json": {"schema": ERROR}}}
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": meta["summary"],
        "tags": [meta["tag"]],
        "parameters": path_params + meta["params"],
        "responses": responses,
    }
    if meta["description"]:
        operation["description"] = meta["description"]
    if meta["public"]:
        operation["security"] = []
    if meta["body"] is not None and method in ("post", "put", "patch"):
        operation["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": _schema(meta["body"])}},
        }
    return operation


def _api_rules(app: Flask) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX + "/")]


def _external(name: str) -> dict[str, Any]:
    """``OPENAPI_PATHS`` / ``OPENAPI_SCHEMAS`` of the operations module, when it exists and has them."""
    if importlib.util.find_spec("app.views.api_ops") is None:
        return {}
    value = getattr(importlib.import_module("app.views.api_ops"), name, None)
    return dict(value) if isinstance(value, dict) else {}


def _external_paths() -> dict[str, Any]:
    return _external("OPENAPI_PATHS")


def build(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(_api_rules(app), key=lambda r: r.rule):
        meta = getattr(app.view_functions.get(rule.endpoint), "__openapi__", None)
        if meta is None:
            continue
        path, path_params = _path(rule.rule[len(PREFIX):])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, path_params, method.lower(), rule.endpoint)
    for path, operations in _external_paths().items():
        for method, operation in operations.items():
            paths.setdefault(path, {}).setdefault(method, operation)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "绩效考核管理系统 API",
            "version": "1.0.0",
            "description": (
                "认证：`POST /auth/token` 获取令牌，之后在请求头中发送 `Authorization: Bearer <token>`；"
                "浏览器会话方式调用写操作时须带 `X-CSRFToken`。所有错误的响应体均为 "
                '`{"error": {"code": 整数, "message": 文本, "fields": {字段: [错误]}}}`（fields 可选）。'
                "时间均为 UTC（ISO 8601，以 Z 结尾）。"
            ),
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "POST /auth/token 签发的访问令牌"}},
            "schemas": {**_external("OPENAPI_SCHEMAS"), **SCHEMAS},
        },
    }


def undocumented(app: Flask) -> list[str]:
    """``METHOD /path`` of API rules described neither by ``@op`` nor by the operations module."""
    external = _external_paths()
    missing = []
    for rule in _api_rules(app):
        if getattr(app.view_functions.get(rule.endpoint), "__openapi__", None) is not None:
            continue
        path, _ = _path(rule.rule[len(PREFIX):])
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() not in external.get(path, {}):
                missing.append(f"{method} {path}")
    return sorted(missing)
