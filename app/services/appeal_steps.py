"""The appeal steps of assessment.bpmn (filing, 复核, 裁定, 书面答复); registered on import.

Data contracts (see also ``app.services.assessment``):
- assessment.appeal_review: {"finding"} plus optional evidence files under any file key
- assessment.appeal_decision: {"upheld": bool, "note", "correction": {...}, "corrected_total"}
  (``correction``: see ``app.services.appeals``; ``corrected_total`` is the legacy alternative)
- assessment.appeal_answer: {"answer"}
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Appeal, Case, HumanTask, User
from app.services import appeals, cases, uploads
from app.services.steps import Checker, FieldSpec, Files, register


def total_of(case: Case) -> Decimal | None:
    """The case's current total: its current ranked result (``UnitResult``) when the group was
    approved as a whole; else the last upheld corrected total, else the latest scoring round."""
    from app.services import assessment, results

    ranked = results.current_of_case(case.id)
    if ranked is not None:
        return Decimal(ranked.total)
    corrected = db.session.scalar(
        select(Appeal.corrected_total)
        .where(Appeal.case_id == case.id, Appeal.upheld.is_(True), Appeal.corrected_total.is_not(None))
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(1)
    )
    if corrected is not None:
        return Decimal(corrected)
    scores = assessment.latest_scores(case)
    return sum((Decimal(s.points) for s in scores), Decimal(0)) if scores else None


def file_appeal(
    case_id: int, *, user: User | None, kind: str, reason: str, contact_name: str = "", contact_phone: str = ""
) -> Appeal:
    """File an objection while the case is in publicity; starts the office's 复核."""
    case = db.session.get(Case, case_id)
    if case is None or case.process_key != "assessment":
        raise NotFound("考核案件不存在")
    check = Checker({"reason": reason, "contact_name": contact_name, "contact_phone": contact_phone})
    reason = check.text("reason", "申诉理由", required=True, max_len=3000)
    if kind not in ("unit", "cadre", "public"):
        check.add("kind", "申诉人类型无效")
    if user is None:
        check.text("contact_name", "联系人", required=True, max_len=100)
        phone = check.text("contact_phone", "联系电话", required=True, max_len=32)
        if phone and not phone.replace("-", "").replace(" ", "").isdigit():
            check.add("contact_phone", "联系电话格式不正确")
    check.raise_if_any()
    if user is None and kind != "public":
        raise Forbidden("请登录后以单位或个人身份提出申诉")
    state = cases.message_state(case, "appeal_filed")
    if state == "ended":
        raise Conflict("公示期已结束，不再受理申诉")
    if state != "waiting":
        raise Conflict("该考核结果当前不在公示期，或已有申诉正在处理，请稍后再提交")
    appeal = Appeal(
        reference="SS" + secrets.token_hex(5).upper(),
        case_id=case.id,
        appellant_kind=kind,
        appellant_id=user.id if user else None,
        contact_name=contact_name or None,
        contact_phone=contact_phone or None,
        reason=reason,
        status="filed",
        filed_at=clock.now(),
    )
    from app.services import results

    ranked = results.current_of_case(case.id)
    appeal.publication_id = ranked.publication_id if ranked else None  # the round objected to
    db.session.add(appeal)
    db.session.flush()
    cases.send_message(
        case.id,
        "appeal_filed",
        {"appeal_id": appeal.id},
        user=user,
        comment=reason,
        event_data={"appeal": appeal.reference, "kind": kind},
    )
    return appeal


def _appeal_of(ctx: cases.TaskContext) -> Appeal:
    payload = ctx.instance.task_data(ctx.task.spiff_task_id).get("appeal") or {}
    appeal = db.session.get(Appeal, int(payload.get("appeal_id", 0)))
    if appeal is None or appeal.case_id != ctx.case.id:
        raise NotFound("申诉不存在")
    return appeal


def _describe_appeal_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("finding", "复核意见（含核查的证据）", "textarea", True),
        FieldSpec("evidence", "复核证据材料", "file"),
    ]


@register("assessment.appeal_review", _describe_appeal_review)
def submit_appeal_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    finding = check.text("finding", "复核意见", required=True)
    checked = []
    for name, items in files.items():
        for file in items:
            if file and file.filename:
                try:
                    checked.append(uploads.check(file, name))
                except ValidationFailed as exc:
                    check.add(name, exc.message)
    check.raise_if_any()
    appeal = _appeal_of(ctx)
    appeal.status = "reviewed"
    appeal.review_note = finding
    stored = [uploads.store(*item, case_id=ctx.case.id, user=user) for item in checked]
    db.session.flush()
    return cases.finish_task(
        ctx, {"reviewed": True}, outcome="review", comment=finding,
        event_data={"appeal": appeal.reference, "files": len(stored), "file_ids": [f.id for f in stored]},
    )


def _describe_appeal_decision(task: HumanTask) -> list[FieldSpec]:
    correction = [
        FieldSpec("common", "共性指标得分", "decimal", minimum=0),
        FieldSpec("individual", "个性指标得分（折算前）", "decimal", minimum=0),
        FieldSpec("satisfaction", "社会评价满意率(%)", "decimal", minimum=0, maximum=100),
        FieldSpec("bonus", "加分项（分值列表）", "list"),
        FieldSpec("deductions", "扣分项（分值列表）", "list"),
        FieldSpec("veto", "一票否决", "bool"),
    ]
    return [
        FieldSpec("upheld", "申诉成立", "bool"),
        FieldSpec("correction", "更正内容（替换值，申诉成立时填写）", "object", item_fields=correction),
        FieldSpec("corrected_total", "更正后总分（旧接口，与更正内容二选一）", "decimal", minimum=0),
        FieldSpec("note", "裁定理由", "textarea", True),
    ]


@register("assessment.appeal_decision", _describe_appeal_decision)
def submit_appeal_decision(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    upheld = check.boolean("upheld", "申诉成立")
    note = check.text("note", "裁定理由", required=True)
    corrected = None
    correction: dict[str, Any] = {}
    if upheld:
        correction = appeals.parse(data.get("correction"), check)
        given_total = data.get("corrected_total") not in (None, "")
        if given_total and correction:
            check.add("corrected_total", "已填写更正内容时，更正后总分由系统重新计算，请勿同时填写")
        elif given_total:
            corrected = check.decimal(
                "corrected_total", "更正后总分", data.get("corrected_total"), minimum=Decimal(0), maximum=Decimal(200)
            )
        elif not correction and not check.errors:
            check.add("corrected_total", "申诉成立时必须填写更正后总分或更正内容")
    check.raise_if_any()
    appeal = _appeal_of(ctx)
    appeal.upheld = upheld
    appeal.decision_note = note
    appeal.corrected_total = corrected
    appeal.correction = appeals.as_json(correction) if correction else None
    appeal.status = "decided"
    appeal.decided_at = clock.now()
    republished = appeals.apply(appeal, ctx.case, correction, user) if upheld else None
    event: dict[str, Any] = {
        "appeal": appeal.reference,
        "corrected_total": str(appeal.corrected_total) if appeal.corrected_total is not None else None,
    }
    if correction:
        event["correction"] = appeals.as_json(correction)
    if republished is not None:
        event["publication_round"] = republished.round
    return cases.finish_task(
        ctx, {"appeal_upheld": upheld}, outcome="upheld" if upheld else "rejected", comment=note, event_data=event
    )


def _describe_appeal_answer(task: HumanTask) -> list[FieldSpec]:
    return [FieldSpec("answer", "书面答复", "textarea", True)]


@register("assessment.appeal_answer", _describe_appeal_answer)
def submit_appeal_answer(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    answer = check.text("answer", "书面答复", required=True)
    check.raise_if_any()
    appeal = _appeal_of(ctx)
    appeal.answer = answer
    appeal.status = "answered"
    appeal.answered_at = clock.now()
    return cases.finish_task(
        ctx, {"answered": True}, outcome="answer", comment=answer, event_data={"appeal": appeal.reference}
    )
