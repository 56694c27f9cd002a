"""Year-end assessment (assessment.bpmn): the step handlers and appeals.

Data contract per form key (the same dict from the web form, the API and the scenario runner):
- assessment.self_assessment: {"entries": [{"indicator_id", "completion", "narrative"}], "comment"}
  plus files under "evidence-<indicator_id>" (web only)
- assessment.review / .audit / .committee: {"decision": "approve"|"return", "reason"}
- assessment.scoring: {"scores": [{"indicator_id", "points", "note"}], "comment"}
- assessment.monitoring: {"flagged": bool, "note"}
- assessment.irregularity: {"decision": "rescore"|"dismiss", "reason"}
- assessment.appeal_review: {"finding"}
- assessment.appeal_decision: {"upheld": bool, "note", "corrected_total"}
- assessment.appeal_answer: {"answer"}
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Appeal, Case, HumanTask, Indicator, Score, SelfAssessmentEntry, User
from app.services import cases, uploads
from app.services.steps import Checker, FieldSpec, Files, register

DECISIONS = [("approve", "通过"), ("return", "退回")]


def indicators_for(case: Case) -> list[Indicator]:
    return list(
        db.session.scalars(
            select(Indicator)
            .where(
                Indicator.cycle_id == case.cycle_id, or_(Indicator.unit_id.is_(None), Indicator.unit_id == case.unit_id)
            )
            .where(Indicator.part != "social")
            .order_by(Indicator.part, Indicator.sort_order, Indicator.id)
        )
    )


def _next_round(model: type[SelfAssessmentEntry] | type[Score], case_id: int) -> int:
    return (db.session.scalar(select(func.max(model.round)).where(model.case_id == case_id)) or 0) + 1


def latest_entries(case: Case) -> list[SelfAssessmentEntry]:
    last = _next_round(SelfAssessmentEntry, case.id) - 1
    return list(
        db.session.scalars(
            select(SelfAssessmentEntry)
            .where(SelfAssessmentEntry.case_id == case.id, SelfAssessmentEntry.round == last)
            .order_by(SelfAssessmentEntry.id)
        )
    )


def latest_scores(case: Case) -> list[Score]:
    last = _next_round(Score, case.id) - 1
    return list(
        db.session.scalars(select(Score).where(Score.case_id == case.id, Score.round == last).order_by(Score.id))
    )


def _task(task: HumanTask) -> Case:
    return task.case


# --------------------------------------------------------------------------- self-assessment


def _describe_self(task: HumanTask) -> list[FieldSpec]:
    items = [
        FieldSpec("indicator_id", "指标", "choice", True, [(str(i.id), i.name) for i in indicators_for(_task(task))]),
        FieldSpec("completion", "完成率(%)", "decimal", True, minimum=0, maximum=200),
        FieldSpec("narrative", "完成情况说明", "textarea", True),
    ]
    return [
        FieldSpec("entries", "逐项自评", "entries", True, item_fields=items, help="每个指标一项"),
        FieldSpec("comment", "备注", "textarea"),
    ]


@register("assessment.self_assessment", _describe_self)
def submit_self_assessment(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    wanted = {i.id: i for i in indicators_for(ctx.case)}
    check = Checker(data)
    raw = data.get("entries")
    if not isinstance(raw, list) or not raw:
        check.add("entries", "请逐项填写自评")
        raw = []
    parsed: dict[int, tuple[Decimal, str]] = {}
    for index, item in enumerate(raw):
        key = f"entries-{index}"
        if not isinstance(item, dict):
            check.add(key, "格式错误")
            continue
        try:
            indicator_id = int(item.get("indicator_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            check.add(f"{key}-indicator_id", "指标无效")
            continue
        if indicator_id not in wanted or indicator_id in parsed:
            check.add(f"{key}-indicator_id", "指标无效或重复")
            continue
        completion = check.decimal(
            f"{key}-completion", "完成率", item.get("completion"), minimum=Decimal(0), maximum=Decimal(200)
        )
        narrative = Checker(item).text("narrative", "完成情况说明", required=True)
        if not narrative:
            check.add(f"{key}-narrative", "请填写完成情况说明")
        if completion is not None:
            parsed[indicator_id] = (completion, narrative)
    missing = [wanted[i].name for i in wanted if i not in parsed]
    if raw and missing and not check.errors:
        check.add("entries", "以下指标未填写：" + "、".join(missing))
    comment = check.text("comment", "备注", max_len=2000)
    checked_files = []
    for field, items in files.items():
        for file in items:
            if not file or not file.filename:
                continue
            try:
                ind = int(field.rsplit("-", 1)[-1])
            except ValueError:
                ind = 0
            if ind not in wanted:
                check.add(field, "证据所属指标无效")
                continue
            try:
                checked_files.append((ind, *uploads.check(file, field)))
            except ValidationFailed as exc:
                check.add(field, exc.message)
    check.raise_if_any()
    round_no = _next_round(SelfAssessmentEntry, ctx.case.id)
    now = clock.now()
    entries = {}
    for indicator_id, (completion, narrative) in parsed.items():
        entry = SelfAssessmentEntry(
            case_id=ctx.case.id,
            indicator_id=indicator_id,
            round=round_no,
            completion=completion,
            narrative=narrative,
            submitted_by_id=user.id,
            submitted_at=now,
        )
        db.session.add(entry)
        entries[indicator_id] = entry
    db.session.flush()
    for indicator_id, name, content, content_type in checked_files:
        uploads.store(name, content, content_type, case_id=ctx.case.id, user=user, entry_id=entries[indicator_id].id)
    return cases.finish_task(
        ctx,
        {"submitted": True},
        outcome="submit",
        comment=comment or None,
        event_data={"round": round_no, "entries": len(entries), "files": len(checked_files)},
    )


# --------------------------------------------------------------------------- decisions


def _describe_decision(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "审核意见", "choice", True, DECISIONS),
        FieldSpec("reason", "理由 / 意见", "textarea", help="退回时必须填写理由"),
    ]


def _decide(task_id: int, user: User, data: dict[str, Any]) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    decision = check.choice("decision", "审核意见", ["approve", "return"])
    reason = check.text("reason", "理由", required=decision == "return", max_len=2000)
    check.raise_if_any()
    return cases.finish_task(ctx, {"decision": decision, "reason": reason}, outcome=decision, comment=reason or None)


@register("assessment.review", _describe_decision)
def submit_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    return _decide(task_id, user, data)


@register("assessment.audit", _describe_decision)
def submit_audit(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    return _decide(task_id, user, data)


@register("assessment.committee", _describe_decision)
def submit_committee(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    return _decide(task_id, user, data)


# --------------------------------------------------------------------------- scoring


def _describe_scoring(task: HumanTask) -> list[FieldSpec]:
    items = [
        FieldSpec(
            "indicator_id",
            "指标",
            "choice",
            True,
            [(str(i.id), f"{i.name}（满分 {i.points}）") for i in indicators_for(_task(task))],
        ),
        FieldSpec("points", "得分", "decimal", True, minimum=0),
        FieldSpec("note", "评分说明", "text"),
    ]
    return [
        FieldSpec("scores", "逐项评分", "entries", True, item_fields=items),
        FieldSpec("comment", "备注", "textarea"),
    ]


@register("assessment.scoring", _describe_scoring)
def submit_scoring(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    wanted = {i.id: i for i in indicators_for(ctx.case)}
    check = Checker(data)
    raw = data.get("scores")
    if not isinstance(raw, list) or not raw:
        check.add("scores", "请逐项评分")
        raw = []
    points: dict[int, tuple[Decimal, str]] = {}
    for index, item in enumerate(raw):
        key = f"scores-{index}"
        if not isinstance(item, dict):
            check.add(key, "格式错误")
            continue
        try:
            indicator_id = int(item.get("indicator_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            check.add(f"{key}-indicator_id", "指标无效")
            continue
        indicator = wanted.get(indicator_id)
        if indicator is None or indicator_id in points:
            check.add(f"{key}-indicator_id", "指标无效或重复")
            continue
        value = check.decimal(
            f"{key}-points",
            f"“{indicator.name}”得分",
            item.get("points"),
            minimum=Decimal(0),
            maximum=Decimal(indicator.points),
        )
        note = Checker(item).text("note", "评分说明", max_len=1000)
        if value is not None:
            points[indicator_id] = (value, note)
    missing = [wanted[i].name for i in wanted if i not in points]
    if raw and missing and not check.errors:
        check.add("scores", "以下指标未评分：" + "、".join(missing))
    comment = check.text("comment", "备注", max_len=2000)
    check.raise_if_any()
    round_no = _next_round(Score, ctx.case.id)
    now = clock.now()
    for indicator_id, (value, note) in points.items():
        db.session.add(
            Score(
                case_id=ctx.case.id,
                indicator_id=indicator_id,
                round=round_no,
                points=value,
                note=note or None,
                scored_by_id=user.id,
                scored_at=now,
            )
        )
    total = sum((v for v, _ in points.values()), Decimal(0))
    return cases.finish_task(
        ctx,
        {"scored": True},
        outcome="score",
        comment=comment or None,
        event_data={"round": round_no, "total": str(total)},
    )


def _describe_monitoring(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("flagged", "发现违规或异常", "bool"),
        FieldSpec("note", "监督意见", "textarea", help="发现异常时必须说明"),
    ]


@register("assessment.monitoring", _describe_monitoring)
def submit_monitoring(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    flagged = check.boolean("flagged", "是否异常")
    note = check.text("note", "监督意见", required=flagged, max_len=2000)
    check.raise_if_any()
    return cases.finish_task(
        ctx, {"flagged": flagged, "monitor_note": note}, outcome="flag" if flagged else "pass", comment=note or None
    )


def _describe_irregularity(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "处理决定", "choice", True, [("rescore", "退回重新评分"), ("dismiss", "异常不成立")]),
        FieldSpec("reason", "处理意见", "textarea", True),
    ]


@register("assessment.irregularity", _describe_irregularity)
def submit_irregularity(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    decision = check.choice("decision", "处理决定", ["rescore", "dismiss"])
    reason = check.text("reason", "处理意见", required=True, max_len=2000)
    check.raise_if_any()
    return cases.finish_task(ctx, {"decision": decision}, outcome=decision, comment=reason)


# --------------------------------------------------------------------------- appeals


def total_of(case: Case) -> Decimal | None:
    """The case's current total: the last upheld correction, else the latest scoring round."""
    corrected = db.session.scalar(
        select(Appeal.corrected_total)
        .where(Appeal.case_id == case.id, Appeal.upheld.is_(True), Appeal.corrected_total.is_not(None))
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(1)
    )
    if corrected is not None:
        return Decimal(corrected)
    scores = latest_scores(case)
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
    return [FieldSpec("finding", "复核意见（含核查的证据）", "textarea", True)]


@register("assessment.appeal_review", _describe_appeal_review)
def submit_appeal_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    finding = check.text("finding", "复核意见", required=True)
    check.raise_if_any()
    appeal = _appeal_of(ctx)
    appeal.status = "reviewed"
    appeal.review_note = finding
    return cases.finish_task(
        ctx, {"reviewed": True}, outcome="review", comment=finding, event_data={"appeal": appeal.reference}
    )


def _describe_appeal_decision(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("upheld", "申诉成立", "bool"),
        FieldSpec("corrected_total", "更正后总分", "decimal", minimum=0, help="申诉成立时必须填写"),
        FieldSpec("note", "裁定理由", "textarea", True),
    ]


@register("assessment.appeal_decision", _describe_appeal_decision)
def submit_appeal_decision(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    upheld = check.boolean("upheld", "申诉成立")
    note = check.text("note", "裁定理由", required=True)
    corrected = None
    if upheld:
        corrected = check.decimal(
            "corrected_total", "更正后总分", data.get("corrected_total"), minimum=Decimal(0), maximum=Decimal(200)
        )
    check.raise_if_any()
    appeal = _appeal_of(ctx)
    appeal.upheld = upheld
    appeal.decision_note = note
    appeal.corrected_total = corrected
    appeal.status = "decided"
    appeal.decided_at = clock.now()
    return cases.finish_task(
        ctx,
        {"appeal_upheld": upheld},
        outcome="upheld" if upheld else "rejected",
        comment=note,
        event_data={"appeal": appeal.reference, "corrected_total": str(corrected) if corrected else None},
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
