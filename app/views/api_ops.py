"""JSON API v1 of the approval operations (on the ``api`` blueprint; imported by ``app.web.init_app``).

Same authentication, CSRF rule and error body as ``app.views.api``. ``OPENAPI_PATHS`` /
``OPENAPI_SCHEMAS`` describe every route here in OpenAPI 3 form (merged by ``api_doc.build``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, jsonify, request

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, User
from app.models.workflow import TaskProxy
from app.services import access, cases, operations, ops_notify, proxies
from app.views import api_schema as schema
from app.views.api import BadRequest, _json_object, _user, bp
from app.views.api_doc import ID

# --------------------------------------------------------------------------- helpers


def _task_for(task_id: int, user: User) -> HumanTask:
    """The task if ``user`` may act on it or view its case (else 404, like ``complete``)."""
    task = db.session.get(HumanTask, task_id)
    if task is None or not (cases.may_work_on(user, task) or access.can_view_case(user, task.case)):
        raise NotFound("任务不存在")
    return task


def _raw(body: dict[str, Any], name: str) -> Any:
    """A value the service validates itself (ids, id lists): wrong types are 422 with field errors."""
    return body.get(name)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} 应为字符串")
    return value


def _case_result(case_id: int) -> Response:
    db.session.commit()
    case = db.session.get_one(Case, case_id)
    return jsonify({"case_id": case.id, "case_status": case.status, "current_step": case.current_step,
                    "next_tasks": [schema.next_task(t) for t in cases.open_tasks(case)]})


def _task_result(task: HumanTask) -> Response:
    task_id = task.id
    db.session.commit()
    task = db.session.get_one(HumanTask, task_id)
    return jsonify({"task_id": task.id, "status": task.status, "assignee_id": task.assignee_id,
                    "delegated_to_id": task.delegated_to_id})


def _when(body: dict[str, Any], name: str) -> dt.datetime:
    value = body.get(name)
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed(f"{name} 应为 ISO 8601 时间", {name: ["应为 ISO 8601 时间，如 2025-07-01T00:00:00Z"]})
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _proxy(row: TaskProxy) -> dict[str, Any]:
    return {"id": row.id, "user": schema.user_ref(row.user), "proxy": schema.user_ref(row.proxy),
            "starts_at": schema.iso(row.starts_at), "ends_at": schema.iso(row.ends_at), "reason": row.reason,
            "ended_at": schema.iso(row.ended_at)}


# --------------------------------------------------------------------------- task operations


@bp.get(f"/tasks/<{ID}:task_id>/return-targets")
def return_targets(task_id: int) -> Response:
    task = _task_for(task_id, _user())
    return jsonify({"items": [{"step": s, "name": n} for s, n in operations.return_targets(task)]})


@bp.post(f"/tasks/<{ID}:task_id>/return")
def return_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    case = operations.return_to(task.id, _user(), target_step=_text(body, "target_step") or None,
                                reason=_text(body, "reason") or "")
    return _case_result(case.id)


@bp.post(f"/tasks/<{ID}:task_id>/transfer")
def transfer_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    return _task_result(operations.transfer(task.id, _user(), _raw(body, "to_user_id"), _text(body, "reason") or ""))


@bp.post(f"/tasks/<{ID}:task_id>/delegate")
def delegate_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    return _task_result(operations.delegate(task.id, _user(), _raw(body, "to_user_id"), _text(body, "reason") or ""))


@bp.post(f"/tasks/<{ID}:task_id>/resolve")
def resolve_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    return _task_result(operations.resolve_delegation(task.id, _user(), _text(body, "comment") or ""))


@bp.post(f"/tasks/<{ID}:task_id>/cosign")
def cosign_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    rows = operations.add_cosigner(task.id, _user(), _raw(body, "user_ids"), _text(body, "reason") or "")
    ids = [row.id for row in rows]
    db.session.commit()
    return jsonify({"task_id": task_id, "cosign_task_ids": ids})


@bp.post(f"/tasks/<{ID}:task_id>/cc")
def cc_task(task_id: int) -> Response:
    body = _json_object()
    task = _task_for(task_id, _user())
    rows = ops_notify.carbon_copy(task.case_id, _user(), _raw(body, "user_ids"), _text(body, "note"), task_id=task.id)
    case_id, count = task.case_id, len(rows)
    db.session.commit()
    return jsonify({"case_id": case_id, "copies": count})


@bp.post(f"/tasks/<{ID}:task_id>/urge")
def urge_task(task_id: int) -> Response:
    body = _json_object()
    count = ops_notify.urge(task_id, _user(), _text(body, "note"))
    db.session.commit()
    return jsonify({"task_id": task_id, "notified": count})


@bp.post("/tasks/bulk-approve")
def bulk_approve() -> Response:
    body = _json_object()
    results = operations.bulk_approve(_raw(body, "task_ids"), _user(), _text(body, "comment"))
    db.session.commit()
    approved = sum(1 for r in results if r.ok)
    return jsonify({"results": [r.as_dict() for r in results], "approved": approved,
                    "failed": len(results) - approved})


# --------------------------------------------------------------------------- case operations, cc, proxies


@bp.post(f"/cases/<{ID}:case_id>/withdraw")
def withdraw_case(case_id: int) -> Response:
    body = _json_object()
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(_user(), case):
        raise NotFound("案件不存在")
    operations.withdraw(case.id, _user(), _text(body, "reason") or "")
    return _case_result(case_id)


@bp.get("/cc")
def list_copies() -> Response:
    page = request.args.get("page", 1, type=int) or 1
    per_page = request.args.get("per_page", 50, type=int) or 50
    result = ops_notify.copies_for(_user(), page=min(max(page, 1), 100_000), per_page=min(max(per_page, 1), 100))
    items = [{"id": c.id, "case": {"id": k.id, "title": k.title, "status": k.status}, "task_id": c.task_id,
              "sender": schema.user_ref(c.sender), "note": c.note, "created_at": schema.iso(c.created_at),
              "read_at": schema.iso(c.read_at)} for c, k in result.items]
    return jsonify({"items": items, "total": result.total, "page": result.page, "per_page": result.per_page})


@bp.get("/proxies")
def list_proxies() -> Response:
    user = _user()
    return jsonify({"items": [_proxy(p) for p in proxies.proxies_of(user)],
                    "acting_for": [_proxy(p) for p in proxies.acting_for(user)]})


@bp.post("/proxies")
def create_proxy() -> Response:
    body = _json_object()
    row = proxies.set_proxy(_user(), _raw(body, "proxy_user_id"), _when(body, "starts_at"), _when(body, "ends_at"),
                            _text(body, "reason") or "")
    data = _proxy(row)
    db.session.commit()
    return jsonify(data)


@bp.post(f"/proxies/<{ID}:proxy_id>/end")
def end_proxy(proxy_id: int) -> Response:
    row = proxies.end_proxy(_user(), proxy_id)
    data = _proxy(row)
    db.session.commit()
    return jsonify(data)


# --------------------------------------------------------------------------- OpenAPI


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


_INT, _STR = {"type": "integer"}, {"type": "string"}
_N_INT, _N_STR = {"type": "integer", "nullable": True}, {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_N_TIME = {**_TIME, "nullable": True}
_IDS = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "minItems": 1}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "ReturnRequest": _obj({"reason": _STR}, {"target_step": {**_N_STR, "description": "默认退回上一环节"}}),
    "TransferRequest": _obj({"to_user_id": _INT, "reason": _STR}),
    "ResolveRequest": _obj({"comment": _STR}),
    "CosignRequest": _obj({"user_ids": {**_IDS, "maxItems": 20}, "reason": _STR}),
    "CopyRequest": _obj({"user_ids": {**_IDS, "maxItems": 50}}, {"note": _N_STR}),
    "UrgeRequest": _obj({}, {"note": _N_STR}),
    "WithdrawRequest": _obj({"reason": _STR}),
    "BulkApproveRequest": _obj({"task_ids": {**_IDS, "maxItems": 100}}, {"comment": _N_STR}),
    "ProxyRequest": _obj({"proxy_user_id": _INT, "starts_at": _TIME, "ends_at": _TIME, "reason": _STR}),
    "TaskOpResult": _obj({"task_id": _INT, "status": _STR, "assignee_id": _N_INT, "delegated_to_id": _N_INT}),
    "CosignResult": _obj({"task_id": _INT, "cosign_task_ids": {"type": "array", "items": _INT}}),
    "CopyResult": _obj({"case_id": _INT, "copies": _INT}),
    "UrgeResult": _obj({"task_id": _INT, "notified": _INT}),
    "ReturnTargets": _obj({"items": {"type": "array", "items": _obj({"step": _STR, "name": _STR})}}),
    "BulkApproveResult": _obj({
        "results": {"type": "array", "items": _obj({"task_id": _INT, "ok": {"type": "boolean"}, "status": _INT,
                                                    "message": _STR, "case_id": _N_INT})},
        "approved": _INT, "failed": _INT,
    }),
    "CarbonCopy": _obj({
        "id": _INT, "case": _obj({"id": _INT, "title": _STR, "status": _STR}), "task_id": _N_INT,
        "sender": {"nullable": True, "allOf": [_ref("UserRef")]}, "note": _N_STR, "created_at": _TIME,
        "read_at": _N_TIME,
    }),
    "CarbonCopyPage": _obj({"items": {"type": "array", "items": _ref("CarbonCopy")}, "total": _INT, "page": _INT,
                            "per_page": _INT}),
    "Proxy": _obj({
        "id": _INT, "user": {"nullable": True, "allOf": [_ref("UserRef")]},
        "proxy": {"nullable": True, "allOf": [_ref("UserRef")]}, "starts_at": _TIME, "ends_at": _TIME,
        "reason": _STR, "ended_at": _N_TIME,
    }),
    "ProxyList": _obj({"items": {"type": "array", "items": _ref("Proxy")},
                       "acting_for": {"type": "array", "items": _ref("Proxy")}}),
}

_ERRORS = {
    400: "请求格式错误", 401: "未登录或令牌无效", 403: "无权执行（如非当前办理人）", 404: "不存在或无权查看",
    409: "状态已变化或不允许（如任务已办理、下一环节已办理、已委派）", 422: "数据校验失败（fields 列出各字段错误）",
    429: "操作过于频繁",
}
_ERROR_BODY = {"application/json": {"schema": _ref("Error")}}


def _op(op_id: str, summary: str, tag: str, response: str, *, body: str | None = None, path: str | None = None,
        errors: tuple[int, ...] = (400, 401, 403, 404, 409, 422), params: list[dict[str, Any]] | None = None,
        description: str = "") -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "成功",
                                         "content": {"application/json": {"schema": _ref(response)}}}}
    for code in errors:
        responses[str(code)] = {"description": _ERRORS[code], "content": _ERROR_BODY}
    responses["default"] = {"description": "其他错误", "content": _ERROR_BODY}
    operation: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses,
                                 "parameters": list(params or [])}
    if path:
        operation["parameters"].insert(0, {"name": path, "in": "path", "required": True, "example": 1,
                                           "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}})
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if description:
        operation["description"] = description
    return operation


_PAGE = [{"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}},
         {"name": "per_page", "in": "query", "required": False, "schema": {"type": "integer"}}]

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/tasks/{task_id}/return-targets": {"get": _op(
        "api_return_targets", "可退回的环节（最近的在前）", "tasks", "ReturnTargets", path="task_id",
        errors=(400, 401, 404))},
    "/tasks/{task_id}/return": {"post": _op(
        "api_return_task", "退回（默认上一环节，或 target_step 指定的已经过环节）", "tasks", "CompleteResult",
        body="ReturnRequest", path="task_id",
        description="理由必填；被退回环节的办理人收到通知，并在任务上看到理由。")},
    "/tasks/{task_id}/transfer": {"post": _op(
        "api_transfer_task", "转办（任务改由该人员办理；须具有本案件范围内的同一角色）", "tasks", "TaskOpResult",
        body="TransferRequest", path="task_id")},
    "/tasks/{task_id}/delegate": {"post": _op(
        "api_delegate_task", "委派（受委派人处理完毕交回后，原办理人再提交）", "tasks", "TaskOpResult",
        body="TransferRequest", path="task_id")},
    "/tasks/{task_id}/resolve": {"post": _op(
        "api_resolve_task", "受委派人处理完毕交回", "tasks", "TaskOpResult", body="ResolveRequest", path="task_id")},
    "/tasks/{task_id}/cosign": {"post": _op(
        "api_cosign_task", "加签（加签人全部同意后方可提交；加签人退回则主任务退回上一环节）", "tasks", "CosignResult",
        body="CosignRequest", path="task_id",
        description="加签人用 POST /tasks/{加签任务id}/complete 提交 {\"data\": {\"decision\": \"approve\"|\"return\", "
                    "\"comment\": ...}}。")},
    "/tasks/{task_id}/cc": {"post": _op(
        "api_cc_task", "抄送（收件人可只读查看案件）", "tasks", "CopyResult", body="CopyRequest", path="task_id")},
    "/tasks/{task_id}/urge": {"post": _op(
        "api_urge_task", "催办（通知当前办理人；同一任务每人每小时一次）", "tasks", "UrgeResult", body="UrgeRequest",
        path="task_id", errors=(400, 401, 404, 409, 422, 429))},
    "/tasks/bulk-approve": {"post": _op(
        "api_bulk_approve", "批量审批（仅限可批量审批的环节，同一环节，最多 100 件，逐件办理）", "tasks",
        "BulkApproveResult", body="BulkApproveRequest", errors=(400, 401, 403, 422),
        description="每件单独办理并记录；results 给出每件结果（ok/status/message）。")},
    "/cases/{case_id}/withdraw": {"post": _op(
        "api_withdraw_case", "撤回本人最近一次提交（下一环节尚未办理时）", "cases", "CompleteResult",
        body="WithdrawRequest", path="case_id")},
    "/cc": {"get": _op("api_list_copies", "抄送我的", "inbox", "CarbonCopyPage", errors=(400, 401), params=_PAGE)},
    "/proxies": {
        "get": _op("api_list_proxies", "我设置的代理与我正在代理的", "inbox", "ProxyList", errors=(401,)),
        "post": _op("api_create_proxy", "设置代理（时段内代理人可查看并办理我的待办）", "inbox", "Proxy",
                    body="ProxyRequest", errors=(400, 401, 409, 422)),
    },
    "/proxies/{proxy_id}/end": {"post": _op(
        "api_end_proxy", "结束代理", "inbox", "Proxy", path="proxy_id", errors=(400, 401, 403, 404, 409))},
}
