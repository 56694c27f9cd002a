"""JSON API v1: errors, authentication, tokens; the inbox (待办 with search/filters/sorting, 已办,
我发起的, counts); task details/completion; cases and their history.

Read endpoints over cycles, targets, results, ledgers, letters and notifications are in
``api_read`` (same blueprint); approval operations in ``api_ops`` when present. Every view is
described by ``@api_doc.op`` — the OpenAPI document at ``/api/v1/openapi.json`` is built from that.

Authentication is the session cookie (browser clients) or ``Authorization: Bearer <token>``
(issued by ``POST /api/v1/auth/token``). The blueprint is exempt from the global CSRF check;
instead, mutating requests authenticated by the session cookie must carry ``X-CSRFToken``
(see ``GET /api/v1/auth/csrf``), while bearer-token requests need none.
Every error has the body ``{"error": {"code": int, "message": str, "fields"?: {...}}}``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError, generate_csrf
from sqlalchemy import select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from app import clock
from app.database import read_only
from app.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import csrf, db
from app.models import ApiToken, Case, CaseEvent, HumanTask, User
from app.services import access, auth, cases, inbox, queries, steps
from app.services.steps import FieldSpec
from app.views import api_schema as schema
from app.views.api_doc import ID, PAGING, op, query

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_PER_PAGE = 100
_PUBLIC_ENDPOINTS = {"api.issue_token", "api.openapi"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# --------------------------------------------------------------------------- errors and helpers


def error_response(code: int, message: str, fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


class BadRequest(DomainError):
    """A malformed request (unparseable JSON, wrong shape, bad query parameter)."""

    status = 400


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    db.session.rollback()
    fields = exc.fields if isinstance(exc, ValidationFailed) else None
    return error_response(exc.status, exc.message, fields)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    db.session.rollback()
    if isinstance(exc, CSRFError):
        return error_response(400, f"CSRF 校验失败，请在请求头 X-CSRFToken 中提供有效令牌（{exc.description}）")
    return error_response(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(DataError)
def _data_error(exc: DataError) -> Response:
    """A value the database cannot represent (out of range, NUL byte): the request was malformed."""
    db.session.rollback()
    return error_response(400, "参数值超出范围或含有非法字符")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return error_response(401, "未登录或访问令牌无效/已过期")
    token = _bearer_token()
    if token is not None:
        # Flask-Login prefers the session user; when both are present the token must agree,
        # otherwise a stale header could smuggle a session request past the CSRF check.
        if "_user_id" in session:
            token_user = auth.user_for_token(token)
            if token_user is None or token_user.id != current_user.id:
                return error_response(401, "访问令牌无效或已过期")
        return None
    if request.method not in _SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # raises CSRFError (400) when X-CSRFToken is missing or wrong
    return None


@bp.after_request
def _no_login_redirects(response: Response) -> Response:
    """The app-wide idle timeout logs out and redirects to the login page; APIs answer 401."""
    if response.status_code in (301, 302, 303, 307, 308) and not current_user.is_authenticated:
        return error_response(401, "登录已超时，请重新登录")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _user() -> User:
    return current_user._get_current_object()


def _json_object() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("请求体为空，应为 JSON 对象")

    def _reject_constant(name: str) -> Any:
        raise ValueError(f"不支持的数值 {name}")

    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("请求体应为 JSON 对象")
    return body


def _int_arg(name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"参数 {name} 应为整数") from exc
    value = max(low, value)
    return min(high, value) if high is not None else value


def _paging() -> dict[str, int]:
    return {
        "page": _int_arg("page", 1, low=1, high=inbox.MAX_PAGE),
        "per_page": _int_arg("per_page", inbox.PAGE_SIZE, low=1, high=MAX_PER_PAGE),
    }


def _text_arg(name: str, limit: int = 100) -> str:
    value = request.args.get(name, "")
    if "\x00" in value or len(value) > limit:
        raise BadRequest(f"参数 {name} 无效")
    return value.strip()


def _id_arg(name: str) -> int | None:
    value = _int_arg(name, 0, low=0)
    if value > 2**31 - 1:
        raise BadRequest(f"参数 {name} 超出范围")
    return value or None


def _open_tasks(case_id: int) -> list[HumanTask]:
    return list(
        db.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open").order_by(HumanTask.id)
        )
    )


def _visible_task(task_id: int, user: User) -> HumanTask:
    """The task if ``user`` may see it: open → a candidate; otherwise → may view its case."""
    task = db.session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("任务不存在")
    visible = cases.may_work_on(user, task) if task.status == "open" else access.can_view_case(user, task.case)
    if not visible:
        raise NotFound("任务不存在")
    return task


def _visible_case(case_id: int, user: User) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(user, case):
        raise NotFound("案件不存在")
    return case


# --------------------------------------------------------------------------- auth


@bp.post("/auth/token")
@op("签发访问令牌", tag="auth", body="TokenRequest", response="Token", errors=(422,), public=True,
    description="用户名密码错误、账号锁定时返回 401；令牌有效期见 expires_at。")
def issue_token() -> Response:
    body = _json_object()
    username, password = body.get("username"), body.get("password")
    fields: dict[str, list[str]] = {}
    if not isinstance(username, str) or not username.strip() or "\x00" in username or len(username) > 64:
        fields["username"] = ["请填写用户名"]
    if not isinstance(password, str) or not password or "\x00" in password:
        fields["password"] = ["请填写密码"]
    if fields:
        raise ValidationFailed("请填写用户名和密码", fields)
    assert isinstance(username, str) and isinstance(password, str)
    try:
        user = auth.authenticate(username, password)
    except auth.LoginRefused as exc:
        db.session.commit()  # keep the failure counter / lockout
        return error_response(401, exc.message)
    token = auth.issue_token(user, hours=current_app.config.get("API_TOKEN_HOURS", 12))
    db.session.flush()
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc()).limit(1))
    expires_at = row.expires_at if row is not None else clock.now() + dt.timedelta(hours=12)
    db.session.commit()
    return jsonify({"token": token, "token_type": "Bearer", "expires_at": schema.iso(expires_at)})


@bp.get("/auth/csrf")
@op("会话方式调用时的 CSRF 令牌", tag="auth", response="CsrfToken")
def csrf_token() -> Response:
    """A CSRF token for browser clients using the session cookie (send it as X-CSRFToken)."""
    return jsonify({"csrf_token": generate_csrf()})


@bp.get("/me")
@op("当前用户及其角色", tag="auth", response="Me")
@read_only
def me() -> Response:
    user = _user()
    return jsonify(schema.me(user, access.role_units(user)))


# --------------------------------------------------------------------------- tasks


TASK_FILTERS = (
    query("q", description="搜索：案件标题、单位名称或环节名称（包含即匹配）", maxLength=100),
    query("cycle_id", "integer", "考核年度 id"),
    query("unit_id", "integer", "单位 id"),
    query("process", description="流程标识（如 assessment）", maxLength=100),
    query("step", description="环节标识（BPMN 任务 id）", maxLength=100),
    query("overdue", description="1 只看逾期", enum=["", "0", "1", "true", "false", "yes", "no"]),
    query("received_from", "date", "接收日期起（中国时间，含当日）"),
    query("received_to", "date", "接收日期止（中国时间，含当日）"),
    query("sort", description="排序：received 接收时间、due 办理期限、unit 单位、step 环节", enum=list(inbox.SORTS)),
    query("order", description="asc 升序 / desc 降序（默认：接收时间降序，其余升序）", enum=["asc", "desc"]),
)


@bp.get("/tasks")
@op("待办列表（搜索、筛选、排序、分页）", tag="inbox", response="TaskPage", params=TASK_FILTERS + PAGING,
    description="当前用户可办理的任务；参数有误时返回 400，fields 列出各参数的问题。")
@read_only
def list_tasks() -> Response:
    paging = _paging()
    flt = inbox.TaskFilter.from_args(request.args)
    result = inbox.todo(_user(), paging["page"], paging["per_page"], flt=flt)
    return jsonify(schema.page(result, schema.todo_row))


@bp.get("/tasks/facets")
@op("待办筛选项（本人待办涉及的年度、单位、流程、环节）", tag="inbox", response="Facets")
@read_only
def task_facets() -> Response:
    return jsonify(schema.facets(inbox.facets(_user())))


@bp.get("/tasks/done")
@op("已办列表", tag="inbox", response="DoneTaskPage", params=PAGING)
@read_only
def list_done() -> Response:
    paging = _paging()
    return jsonify(schema.page(inbox.done(_user(), paging["page"], paging["per_page"]), schema.done_task))


@bp.get("/inbox/counts")
@op("待办数、逾期数、未读消息数", tag="inbox", response="Counts")
@read_only
def counts() -> Response:
    return jsonify(inbox.counts(_user()))


@bp.get(f"/tasks/<{ID}:task_id>")
@op("任务详情（含应提交的字段说明）", tag="tasks", response="TaskDetail")
def get_task(task_id: int) -> Response:
    task = _visible_task(task_id, _user())
    fields: list[FieldSpec]
    try:
        fields = steps.handler_for(task).describe(task)
    except NotFound:
        fields = []  # a step without a registered form: still show the task itself
    return jsonify(schema.task_detail(task, fields))


@bp.post(f"/tasks/<{ID}:task_id>/complete")
@op("办理任务（提交步骤数据）", tag="tasks", body="CompleteRequest", response="CompleteResult",
    errors=(403, 409, 422), description="非候选人 403，已办理 409，数据不合规 422（fields 列出字段错误）。")
def complete_task(task_id: int) -> Response:
    body = _json_object()
    data = body.get("data")
    if not isinstance(data, dict):
        raise BadRequest('请求体应为 {"data": {...}}，data 必须是 JSON 对象')
    user = _user()
    try:
        begun = cases.begin_task(task_id, user)  # locks the case; 404 missing, 403 / 409 as below
        case = steps.submit(begun.task, user, data)  # 403 non-candidate, 409 already done, 422 invalid
    except (Forbidden, Conflict, ValidationFailed):
        # someone who may not even see the case learns nothing about it: 404, not 403/409/422
        db.session.rollback()
        task = db.session.get(HumanTask, task_id)
        if task is None or not (cases.may_work_on(user, task) or access.can_view_case(user, task.case)):
            raise NotFound("任务不存在") from None
        raise
    body_out = {
        "case_id": case.id,
        "case_status": case.status,
        "current_step": case.current_step,
        "next_tasks": [schema.next_task(t) for t in cases.open_tasks(case)],
    }
    db.session.commit()
    return jsonify(body_out)


# --------------------------------------------------------------------------- cases


CASE_FILTERS = (
    query("cycle_id", "integer", "考核年度 id"),
    query("unit_id", "integer", "单位 id"),
    query("process", description="流程标识", maxLength=100),
    query("status", description="running 进行中 / completed 已完成 / cancelled 已撤销", maxLength=20),
)


@bp.get("/cases")
@op("可查看的案件列表", tag="cases", response="CasePage", params=CASE_FILTERS + PAGING)
def list_cases() -> Response:
    result = queries.cases_page(
        _user(), cycle_id=_id_arg("cycle_id"), unit_id=_id_arg("unit_id"), process=_text_arg("process"),
        status=_text_arg("status", 20), **_paging(),
    )
    return jsonify(schema.page(result, schema.case_item))


@bp.get("/cases/started")
@op("我发起的案件", tag="inbox", response="CasePage", params=PAGING)
def list_started() -> Response:
    paging = _paging()
    return jsonify(schema.page(inbox.started(_user(), paging["page"], paging["per_page"]), schema.case_item))


@bp.get(f"/cases/<{ID}:case_id>")
@op("案件概要（含当前待办环节）", tag="cases", response="CaseSummary")
def get_case(case_id: int) -> Response:
    case = _visible_case(case_id, _user())
    return jsonify(schema.case_summary(case, _open_tasks(case.id)))


@bp.get(f"/cases/<{ID}:case_id>/history")
@op("案件办理记录（痕迹）", tag="cases", response="CaseHistory")
def case_history(case_id: int) -> Response:
    case = _visible_case(case_id, _user())
    events = db.session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .options(selectinload(CaseEvent.user))
        .order_by(CaseEvent.id)
    )
    return jsonify({"items": [schema.event(e) for e in events]})


from app.views import api_read as _api_read  # noqa: E402,F401  (cycles, targets, results, letters, notifications)

if importlib.util.find_spec("app.views.api_ops") is not None:  # approval operations (built in parallel)
    importlib.import_module("app.views.api_ops")
