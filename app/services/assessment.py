"""Year-end assessment (assessment.bpmn): the step handlers and appeals.

Data contract per form key (the same dict from the web form, the API and the scenario runner):
- assessment.self_assessment: {"entries": [{"indicator_id", "completion", "narrative"}], "comment"}
  plus files under "evidence-<indicator_id>" (web only)
- assessment.review / .audit / .committee: {"decision": "approve"|"return", "reason"}
- assessment.scoring: {"scores": [{"indicator_id", "points", "note"}], "comment"}
- assessment.monitoring: {"flagged": bool, "note"}
- assessment.irregularity: {"decision": "rescore"|"dismiss", "reason"}
- assessment.appeal_review: {"finding"} plus optional evidence files under any file key (web: "evidence")
- assessment.appeal_decision: {"upheld": bool, "note", "correction": {...}, "corrected_total"}
  When upheld, give EITHER a structured ``correction`` (see ``app.services.appeals``: any of
  common, individual, satisfaction, bonus[], deductions[], veto — replacement values, applied as
  ledger / social-evaluation acts) OR, for backward compatibility, ``corrected_total`` (the total
  is forced; the difference is booked on the common part). If the case's group is published
  (``publicity.approve_group``), the group is re-ranked and republished (round n+1) and
  ``Appeal.corrected_total`` becomes the unit's new total. Rejected: both keys are ignored.
- assessment.appeal_answer: {"answer"}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, union_all

from app import clock
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, Indicator, Score, SelfAssessmentEntry, User
from app.services import cases, uploads
from app.services.steps import Checker, FieldSpec, Files, register

DECISIONS = [("approve", "通过"), ("return", "退回")]


def indicators_for(case: Case) -> list[Indicator]:
    return list(db.session.scalars(_INDICATORS_FOR, {"cycle_id": case.cycle_id, "unit_id": case.unit_id}))


# Built once (its construction costs more than running it): the common and the unit's own
# indicators, each found by an index probe on (cycle_id, unit_id); an OR of the two let SQLite
# scan every indicator of the cycle (all units') for each case.
_INDICATORS_FOR = (
    select(Indicator)
    .where(
        Indicator.id.in_(
            union_all(
                select(Indicator.id).where(Indicator.cycle_id == bindparam("cycle_id"), Indicator.unit_id.is_(None)),
                select(Indicator.id).where(
                    Indicator.cycle_id == bindparam("cycle_id"), Indicator.unit_id == bindparam("unit_id")
                ),
            )
        )
    )
    .where(Indicator.part != "social")
    .order_by(Indicator.part, Indicator.sort_order, Indicator.id)
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
    parsed: dict[int, tuple[Decimal, str]] = {}
    rows = check.entries(wanted, empty="请逐项填写自评", noun="指标")
    for key, indicator_id, item in rows:
        completion = check.decimal(
            f"{key}-completion", "完成率", item.get("completion"), minimum=Decimal(0), maximum=Decimal(200)
        )
        narrative = Checker(item).text("narrative", "完成情况说明", required=True)
        if not narrative:
            check.add(f"{key}-narrative", "请填写完成情况说明")
        if completion is not None:
            parsed[indicator_id] = (completion, narrative)
    missing = [wanted[i].name for i in wanted if i not in parsed]
    if rows and missing and not check.errors:
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
    values = [
        {"case_id": ctx.case.id, "indicator_id": indicator_id, "round": round_no, "completion": completion,
         "narrative": narrative, "submitted_by_id": user.id, "submitted_at": now}
        for indicator_id, (completion, narrative) in parsed.items()
    ]
    if checked_files:  # the evidence files point at their entries: insert them as objects, for the ids
        entries = {row["indicator_id"]: SelfAssessmentEntry(**row) for row in values}
        db.session.add_all(entries.values())
        db.session.flush()
        for indicator_id, name, content, content_type in checked_files:
            uploads.store(name, content, content_type, case_id=ctx.case.id, user=user,
                          entry_id=entries[indicator_id].id)
    elif values:  # one multi-row INSERT
        db.session.execute(insert(SelfAssessmentEntry), values)
    return cases.finish_task(
        ctx,
        {"submitted": True},
        outcome="submit",
        comment=comment or None,
        event_data={"round": round_no, "entries": len(values), "files": len(checked_files)},
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
    if points:  # one multi-row INSERT (nothing needs the new ids)
        db.session.execute(
            insert(Score),
            [
                {"case_id": ctx.case.id, "indicator_id": indicator_id, "round": round_no, "points": value,
                 "note": note or None, "scored_by_id": user.id, "scored_at": now}
                for indicator_id, (value, note) in points.items()
            ],
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
# The appeal steps live in ``appeal_steps`` (importing it registers them); re-exported here.

from app.services.appeal_steps import file_appeal, total_of  # noqa: E402

__all__ = ["DECISIONS", "file_appeal", "indicators_for", "latest_entries", "latest_scores", "total_of"]
