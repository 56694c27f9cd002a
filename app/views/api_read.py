"""API v1 read endpoints: cycles, targets, results, ledger, letters; notifications; the OpenAPI document.

Registered on the ``api`` blueprint (authentication, errors and CSRF as in ``api``). Scope:
see ``app.services.queries`` — an object outside the user's scope is answered 404.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app.errors import NotFound
from app.extensions import db
from app.models.letter import LETTER_KINDS
from app.models.result import LEDGER_KINDS
from app.services import letter_board, notifications, queries
from app.views import api_doc
from app.views import api_schema as schema
from app.views import api_schema_read as read
from app.views.api import BadRequest, _id_arg, _json_object, _paging, _text_arg, _user, bp
from app.views.api_doc import ID, PAGING, op, query

# --------------------------------------------------------------------------- meta


@bp.get("/openapi.json")
@op("本接口的 OpenAPI 3.0 文档", tag="meta", response="OpenApiDocument", public=True)
def openapi() -> Response:
    return jsonify(api_doc.build(current_app._get_current_object()))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- cycles and targets


@bp.get("/cycles")
@op("考核年度列表", tag="cycles", response="CycleList")
def list_cycles() -> Response:
    return jsonify({"items": [read.cycle(c) for c in queries.cycles()]})


@bp.get(f"/cycles/<{ID}:cycle_id>")
@op("考核年度详情（设置与本人可见的参加单位）", tag="cycles", response="CycleDetail")
def get_cycle(cycle_id: int) -> Response:
    cycle = queries.get_cycle(cycle_id)
    return jsonify(read.cycle_detail(cycle, queries.participants(_user(), cycle)))


@bp.get(f"/cycles/<{ID}:cycle_id>/units/<{ID}:unit_id>/targets")
@op("单位目标：三上三下各版本、下达版本与指标", tag="cycles", response="Targets")
def unit_targets(cycle_id: int, unit_id: int) -> Response:
    return jsonify(read.targets(queries.targets(_user(), cycle_id, unit_id)))


# --------------------------------------------------------------------------- results and ledger


@bp.get(f"/cycles/<{ID}:cycle_id>/results")
@op("考核结果（各单位当前版本）", tag="results", response="ResultList",
    params=(query("group_id", "integer", "分类 id"), query("unit_id", "integer", "单位 id")))
def list_results(cycle_id: int) -> Response:
    rows = queries.results(_user(), cycle_id, group_id=_id_arg("group_id"), unit_id=_id_arg("unit_id"))
    return jsonify({"items": [read.unit_result(r) for r in rows]})


@bp.get(f"/cycles/<{ID}:cycle_id>/ledger")
@op("加扣分台账", tag="results", response="LedgerPage", params=(
    query("unit_id", "integer", "单位 id"),
    query("month", description="月份 YYYY-MM", pattern=r"^\d{4}-\d{2}$"),
    query("kind", description="bonus 加分 / deduction 扣分 / veto 一票否决", enum=list(LEDGER_KINDS)),
    query("status", description="active 有效 / changed 已变更 / withdrawn 已撤回",
          enum=["active", "changed", "withdrawn"]),
) + PAGING)
def list_ledger(cycle_id: int) -> Response:
    month = _text_arg("month", 7)
    kind = _text_arg("kind", 20)
    if kind and kind not in LEDGER_KINDS:
        raise BadRequest("参数 kind 无效")
    page = queries.ledger_page(
        _user(), cycle_id, unit_id=_id_arg("unit_id"), month=month, kind=kind, status=_text_arg("status", 20),
        **_paging(),
    )
    return jsonify(schema.page(page, read.ledger_item))


# --------------------------------------------------------------------------- letters


@bp.get("/letters")
@op("目标责任书 / 承诺书列表", tag="letters", response="LetterPage", params=(
    query("cycle_id", "integer", "考核年度 id"),
    query("unit_id", "integer", "单位 id"),
    query("status", description="pending 待签 / signed 已签 / void 作废", enum=["pending", "signed", "void"]),
    query("kind", description="responsibility 责任书 / commitment 承诺书", enum=list(LETTER_KINDS)),
) + PAGING)
def list_letters() -> Response:
    page = queries.letters_page(
        _user(), cycle_id=_id_arg("cycle_id"), unit_id=_id_arg("unit_id"), status=_text_arg("status", 20),
        kind=_text_arg("kind", 20), **_paging(),
    )
    return jsonify(schema.page(page, read.letter))


@bp.get(f"/letters/<{ID}:letter_id>")
@op("责任书详情（正文、摘要与签署记录）", tag="letters", response="LetterDetail")
def get_letter(letter_id: int) -> Response:
    letter = letter_board.get_letter(letter_id)
    if not letter_board.can_view_letter(_user(), letter):
        raise NotFound("责任书不存在")
    return jsonify(read.letter_detail(letter))


# --------------------------------------------------------------------------- notifications


@bp.get("/notifications")
@op("站内消息", tag="notifications", response="NotificationPage",
    params=(query("unread", description="1 只看未读", enum=["", "0", "1"]),) + PAGING)
def list_notifications() -> Response:
    user = _user()
    unread_only = _text_arg("unread", 1) == "1"
    page = notifications.page(user.id, unread_only=unread_only, **_paging())
    return jsonify(schema.page(page, schema.notification, unread=notifications.unread_count(user.id)))


@bp.post("/notifications/read")
@op("标为已读（指定 ids，或全部）", tag="notifications", body="MarkReadRequest", response="MarkReadResult")
def read_notifications() -> Response:
    body = _json_object() if request.get_data(cache=True).strip() else {}
    ids = body.get("ids")
    if ids is not None and (
        not isinstance(ids, list) or len(ids) > 500
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= 2**31 - 1 for i in ids)
    ):
        raise BadRequest("ids 应为正整数数组（最多 500 个）")
    user = _user()
    marked = notifications.mark_read(user.id, ids)
    db.session.commit()
    return jsonify({"marked": marked, "unread": notifications.unread_count(user.id)})

