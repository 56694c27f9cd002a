"""三上三下 target negotiation (workflows/target_negotiation.bpmn): start, step handlers, issue (下达).

Every round's target set is stored as an immutable ``TargetVersion`` (app/services/targets.py):
propose → ``up1``, office comments → ``down1``, revise → ``up2``, finalize → ``down2`` (with the
tier), unit head confirms → ``up3``, issue → ``down3`` (the issued version). Returns create no
version; they are case events and always carry a reason.

Data contract per form key (the same dict from the web form, the API and the scenario runner):

- ``negotiation.propose`` (一上, unit_officer) and ``negotiation.revise`` (二上, unit_officer):
  ``{"items": [ITEM, ...], "comment": str (optional)}`` where ITEM is
  ``{"code": str (optional; blank → next free "Gnn"), "name": str, "target_value": str,
  "measure_unit": str, "points": "12.5" (number or string, > 0, at most 2 decimals),
  "scoring_rule": str (加分/扣分细则), "lead_name": str (分管领导), "department_id": int (a 科室 of
  the unit), "responsible_name": str (责任人), "deadline": "YYYY-MM-DD" (within the cycle)}``;
  the points must add up to the cycle's ``weights.individual``. Errors: ``items-<i>-<field>``, ``items``.
- ``negotiation.submit`` (一上, unit_head): ``{"decision": "approve" | "return", "reason": str}``
  (approve = 上报绩效办; return = back to the officer; reason required for return).
- ``negotiation.office_review`` (一下, office): ``{"decision": "comment" | "return", "comment": str,
  "reason": str}`` — comment: pass with comments (optional text) to 二上; return: back to 一上,
  ``reason`` required.
- ``negotiation.supervisor_opinion`` (二下, supervisor): ``{"opinion": str (required),
  "suggested_tier": "I" | "II" | "III" | "" (optional)}``.
- ``negotiation.finalize`` (二下, office): ``{"decision": "finalize" | "return", "tier": "I" | "II" | "III"
  (required for finalize), "items": [ITEM, ...] (optional: omitted → the latest version's items),
  "comment": str (optional), "reason": str (required for return → back to 二上)}``.
- ``negotiation.confirm`` (三上, unit_head): ``{"decision": "confirm" | "object" (default "confirm"),
  "comment": str (optional), "reason": str (required for object → back to 二下 finalize)}``.
- ``negotiation.approve`` (三下, committee): ``{"decision": "approve" | "return", "reason": str
  (required for return → back to 二下 finalize)}``.
- ``negotiation.issue`` (三下, office): ``{"comment": str (optional)}`` — creates the unit's
  individual indicators from the final version, sets the CycleUnit's tier/issued version, and
  generates the responsibility letters (``letters.generate_for_unit``); its handler lives in
  app/services/negotiation_issue.py.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Case, Cycle, CycleUnit, HumanTask, TargetVersion, Unit, User
from app.models.target import TIERS
from app.services import access, cases, catalogue, cycles, targets
from app.services.steps import Checker, FieldSpec, Files, register

PROCESS_KEY = targets.PROCESS_KEY
TIER_CHOICES = [(code, label) for code, label in TIERS.items()]


# --------------------------------------------------------------------------- start


def start_negotiation(cycle: Cycle, unit: Unit, actor: User) -> Case:
    """Start the unit's 三上三下 for ``cycle`` (office only); refuses a second live one (Conflict)."""
    if not access.holds_role_for(actor, "office", unit.id):
        raise Forbidden("仅绩效办可以启动目标协商")
    if cycle.status != "open":
        raise Conflict("该年度考核方案已结束")
    participant = db.session.scalar(
        select(CycleUnit)
        .where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if participant is None:
        raise NotFound(f"{unit.name} 未参加 {cycle.year} 年度考核")
    existing = targets.negotiation_case(participant)
    if existing is not None:
        state = "已完成（目标已下达）" if existing.status == "completed" else "正在进行"
        raise Conflict(f"{unit.name} 的目标协商{state}，不能重复启动")
    return cases.start_case(
        PROCESS_KEY,
        unit_id=unit.id,
        title=f"{unit.name} {cycle.year}年度目标协商（三上三下）",
        started_by=actor,
        cycle_id=cycle.id,
        group_id=participant.group_id,
        subject=("cycle_unit", participant.id),
        data={"cycle_id": cycle.id},
    )


def start_all(cycle: Cycle, actor: User) -> list[Case]:
    """Start the negotiation of every participant that has none yet (bulk start)."""
    cycles.require_office(actor)
    started = []
    for row in targets.board(cycle):
        if row.case is None:
            started.append(start_negotiation(cycle, row.participant.unit, actor))
    return started


# --------------------------------------------------------------------------- helpers


def _reason_required(check: Checker, decision: str, returning: tuple[str, ...], label: str = "退回理由") -> str:
    return check.text("reason", label, required=decision in returning, max_len=2000)


def require_latest(ctx: cases.TaskContext) -> TargetVersion:
    version = targets.latest_version(ctx.case)
    if version is None:
        raise Conflict("尚无目标版本，请先由单位申报目标")
    return version


def carry_forward(ctx: cases.TaskContext, stage: str, latest: TargetVersion, note: str | None,
                   user: User) -> TargetVersion:
    """The next version: the latest's items and tier unchanged, recorded at ``stage``."""
    return targets.add_version(ctx.case, stage, latest.items, tier=latest.tier, note=note, actor=user, previous=latest)


def cycle_and_unit(case: Case) -> tuple[Cycle, Unit, CycleUnit]:
    participant = targets.cycle_unit_of(case)
    cycle = db.session.get(Cycle, participant.cycle_id)
    assert cycle is not None
    return cycle, participant.unit, participant


def _points(items: list[dict[str, Any]]) -> str:
    return str(catalogue.items_total(items).quantize(Decimal("0.01")))


def _item_specs(task: HumanTask) -> list[FieldSpec]:
    departments = targets.department_names(task.unit_id)
    return [
        FieldSpec("code", "编号", "text", help="留空自动编号"),
        FieldSpec("name", "指标名称", "text", True),
        FieldSpec("target_value", "目标值", "text", True),
        FieldSpec("measure_unit", "计量单位", "text", True),
        FieldSpec("points", "分值", "decimal", True, minimum=0.01),
        FieldSpec("scoring_rule", "评分细则（加分/扣分）", "textarea", True),
        FieldSpec("lead_name", "分管领导", "text", True),
        FieldSpec("department_id", "责任科室", "choice", True, [(str(k), v) for k, v in departments.items()]),
        FieldSpec("responsible_name", "责任人", "text", True),
        FieldSpec("deadline", "完成时限", "text", True, help="YYYY-MM-DD，须在考核期间内"),
    ]


def _describe_items(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec(
            "items", "个性指标", "entries", True, item_fields=_item_specs(task), help="分值合计须等于个性指标总分"
        ),
        FieldSpec("comment", "说明", "textarea"),
    ]


# --------------------------------------------------------------------------- 一上 / 二上: the unit's target set


def _submit_items(task_id: int, user: User, data: dict[str, Any], stage: str, outcome: str) -> Case:
    ctx = cases.begin_task(task_id, user)
    cycle, unit, _participant = cycle_and_unit(ctx.case)
    check = Checker(data)
    history = targets.versions(ctx.case, with_authors=False)
    latest = history[-1] if history else None
    items = catalogue.collect_individual_items(
        cycle, unit, data.get("items"), check, reserved=targets.codes_of(history),
        previous=latest.items if latest else (),
    )
    comment = check.text("comment", "说明", max_len=2000)
    check.raise_if_any()
    version = targets.add_version(ctx.case, stage, items, tier=None, note=comment, actor=user, previous=latest)
    return cases.finish_task(
        ctx,
        {"version": version.number},
        outcome=outcome,
        comment=comment or None,
        event_data={"version": version.number, "items": len(items), "points": _points(items)},
    )


@register("negotiation.propose", _describe_items)
def submit_propose(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    return _submit_items(task_id, user, data, "up1", "propose")


@register("negotiation.revise", _describe_items)
def submit_revise(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    return _submit_items(task_id, user, data, "up2", "revise")


# --------------------------------------------------------------------------- decisions


def _decision_specs(options: list[tuple[str, str]], reason_help: str) -> Callable[[HumanTask], list[FieldSpec]]:
    def describe(task: HumanTask) -> list[FieldSpec]:
        return [
            FieldSpec("decision", "办理意见", "choice", True, options),
            FieldSpec("reason", "理由", "textarea", help=reason_help),
        ]

    return describe


SUBMIT_OPTIONS = [("approve", "审核通过，上报绩效办"), ("return", "退回绩效员修改")]


@register("negotiation.submit", _decision_specs(SUBMIT_OPTIONS, "退回时必须填写理由"))
def submit_submit(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    decision = check.choice("decision", "办理意见", ["approve", "return"])
    reason = _reason_required(check, decision, ("return",))
    check.raise_if_any()
    latest = require_latest(ctx)
    return cases.finish_task(
        ctx,
        {"decision": decision},
        outcome="report" if decision == "approve" else "return",
        comment=reason or None,
        event_data={"version": latest.number},
    )


OFFICE_REVIEW_OPTIONS = [("comment", "提出反馈意见，转单位修改（二上）"), ("return", "退回单位重新申报（一上）")]


def _describe_office_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "办理意见", "choice", True, OFFICE_REVIEW_OPTIONS),
        FieldSpec("comment", "反馈意见", "textarea"),
        FieldSpec("reason", "退回理由", "textarea", help="退回时必须填写"),
    ]


@register("negotiation.office_review", _describe_office_review)
def submit_office_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    decision = check.choice("decision", "办理意见", ["comment", "return"])
    comment = check.text("comment", "反馈意见", max_len=5000)
    reason = _reason_required(check, decision, ("return",))
    check.raise_if_any()
    latest = require_latest(ctx)
    if decision == "return":
        return cases.finish_task(
            ctx, {"decision": decision}, outcome="return", comment=reason, event_data={"version": latest.number}
        )
    note = comment or "无修改意见"
    version = carry_forward(ctx, "down1", latest, note, user)
    return cases.finish_task(
        ctx, {"decision": decision, "version": version.number}, outcome="comment", comment=note,
        event_data={"version": version.number},
    )


def _describe_opinion(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("opinion", "审核意见", "textarea", True),
        FieldSpec("suggested_tier", "建议难度档次", "choice", False, [("", "不提建议"), *TIER_CHOICES]),
    ]


@register("negotiation.supervisor_opinion", _describe_opinion)
def submit_supervisor_opinion(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    opinion = check.text("opinion", "审核意见", required=True, max_len=5000)
    suggested = data.get("suggested_tier") or ""
    if suggested not in ("", *TIERS):
        check.add("suggested_tier", "建议难度档次无效")
    check.raise_if_any()
    latest = require_latest(ctx)
    text = opinion + (f"（建议{TIERS[suggested]}）" if suggested else "")
    return cases.finish_task(
        ctx,
        {"suggested_tier": suggested or None},
        outcome="opinion",
        comment=text,
        event_data={"version": latest.number, "suggested_tier": suggested or None},
    )


FINALIZE_OPTIONS = [("finalize", "审核定稿，确定难度档次"), ("return", "退回单位修改（二上）")]


def _describe_finalize(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "办理意见", "choice", True, FINALIZE_OPTIONS),
        FieldSpec("tier", "难度档次", "choice", False, TIER_CHOICES, help="定稿时必须选择"),
        FieldSpec(
            "items", "定稿目标", "entries", False, item_fields=_item_specs(task), help="不提供时沿用最新一版目标"
        ),
        FieldSpec("comment", "定稿意见", "textarea"),
        FieldSpec("reason", "退回理由", "textarea", help="退回时必须填写"),
    ]


@register("negotiation.finalize", _describe_finalize)
def submit_finalize(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    cycle, unit, _participant = cycle_and_unit(ctx.case)
    check = Checker(data)
    decision = check.choice("decision", "办理意见", ["finalize", "return"])
    comment = check.text("comment", "定稿意见", max_len=5000)
    reason = _reason_required(check, decision, ("return",))
    latest = require_latest(ctx)
    tier = data.get("tier") or ""
    items: list[dict[str, Any]] = latest.items
    if decision == "finalize":
        if tier not in TIERS:
            check.add("tier", "请选择难度档次（Ⅰ/Ⅱ/Ⅲ档）")
        if data.get("items") is not None:
            items = catalogue.collect_individual_items(
                cycle, unit, data.get("items"), check, reserved=targets.used_codes(ctx.case), previous=latest.items
            )
    check.raise_if_any()
    if decision == "return":
        return cases.finish_task(
            ctx, {"decision": decision}, outcome="return", comment=reason, event_data={"version": latest.number}
        )
    version = targets.add_version(ctx.case, "down2", items, tier=tier, note=comment, actor=user, previous=latest)
    return cases.finish_task(
        ctx,
        {"decision": decision, "tier": tier, "version": version.number},
        outcome="finalize",
        comment=(f"定稿：{TIERS[tier]}" + (f"。{comment}" if comment else "")),
        event_data={"version": version.number, "tier": tier, "items": len(items), "points": _points(items)},
    )


CONFIRM_OPTIONS = [("confirm", "确认目标"), ("object", "提出异议，退回绩效办")]


def _describe_confirm(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "办理意见", "choice", True, CONFIRM_OPTIONS),
        FieldSpec("comment", "确认意见", "textarea"),
        FieldSpec("reason", "异议理由", "textarea", help="提出异议时必须填写"),
    ]


@register("negotiation.confirm", _describe_confirm)
def submit_confirm(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker({**data, "decision": data.get("decision") or "confirm"})
    decision = check.choice("decision", "办理意见", ["confirm", "object"])
    comment = check.text("comment", "确认意见", max_len=2000)
    reason = _reason_required(check, decision, ("object",), "异议理由")
    check.raise_if_any()
    latest = require_latest(ctx)
    if decision == "object":
        return cases.finish_task(
            ctx, {"decision": decision}, outcome="object", comment=reason, event_data={"version": latest.number}
        )
    version = carry_forward(ctx, "up3", latest, comment, user)
    return cases.finish_task(
        ctx,
        {"decision": decision, "version": version.number},
        outcome="confirm",
        comment=comment or None,
        event_data={"version": version.number, "tier": latest.tier},
    )


APPROVE_OPTIONS = [("approve", "审定通过"), ("return", "退回绩效办重新审核（二下）")]


@register("negotiation.approve", _decision_specs(APPROVE_OPTIONS, "退回时必须填写理由"))
def submit_approve(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    decision = check.choice("decision", "办理意见", ["approve", "return"])
    reason = _reason_required(check, decision, ("return",))
    check.raise_if_any()
    latest = require_latest(ctx)
    return cases.finish_task(
        ctx, {"decision": decision}, outcome=decision, comment=reason or None, event_data={"version": latest.number}
    )
