"""Appeals against ledger items (扣分申诉, deduction_appeal.bpmn).

A unit (its unit_head or unit_officer) may appeal an active deduction or veto item within the
cycle's ``ledger_appeal_days`` (default 7) days of its recording; one appeal per item. The office
reviews it in its inbox:
- deduction_appeal.review: {"decision": "upheld"|"rejected", "action": "withdraw"|"change",
  "new_points", "answer"} — upheld withdraws the item or replaces it by a new item with
  ``new_points`` (``ledger.change_item``, a recorded act); the written answer is always required.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Cycle, DeductionAppeal, HumanTask, LedgerItem, User
from app.models.result import LEDGER_KINDS
from app.services import cases, ledger
from app.services import supervision as sv
from app.services.steps import Checker, FieldSpec, Files, register

UNIT_ROLES = ("unit_head", "unit_officer")
DEFAULT_APPEAL_DAYS = 7
APPEALABLE_KINDS = ("deduction", "veto")
STATUS = {"filed": "待复核", "upheld": "申诉成立", "rejected": "申诉不成立"}


def appeal_days(cycle: Cycle) -> int:
    value = cycle.setting("ledger_appeal_days")
    return DEFAULT_APPEAL_DAYS if value is None else int(value)


def appeal_deadline(item: LedgerItem, cycle: Cycle) -> dt.datetime:
    return item.recorded_at + dt.timedelta(days=appeal_days(cycle))


def may_appeal(user: User, item: LedgerItem, cycle: Cycle) -> bool:
    """Whether ``user`` could appeal ``item`` now (role, kind, status, window, not yet appealed)."""
    return (
        item.status == "active"
        and item.kind in APPEALABLE_KINDS
        and clock.now() <= appeal_deadline(item, cycle)
        and sv.holds_any_for(user, UNIT_ROLES, item.unit_id)
        and db.session.scalar(select(DeductionAppeal.id).where(DeductionAppeal.ledger_item_id == item.id)) is None
    )


def file_appeal(item_id: int, user: User, reason: str) -> DeductionAppeal:
    item = db.session.get(LedgerItem, item_id)
    if item is None:
        raise NotFound("台账条目不存在")
    cycle = sv.get_cycle(item.cycle_id)
    sv.require_any_for(user, UNIT_ROLES, item.unit_id, "只有被扣分单位的负责人或绩效员可以申诉")
    check = Checker({"reason": reason})
    reason = check.text("reason", "申诉理由", required=True, max_len=3000)
    check.raise_if_any()
    if item.kind not in APPEALABLE_KINDS:
        raise ValidationFailed("只能对扣分或一票否决条目提出申诉", {"item": ["该条目不是扣分"]})
    if item.status != "active":
        raise Conflict("该条目已被更正或撤销，不能再申诉")
    deadline = appeal_deadline(item, cycle)
    if clock.now() > deadline:
        local = clock.to_local(deadline)
        raise Conflict(f"已超过申诉期限（登记后 {appeal_days(cycle)} 天内，截至 {local:%Y-%m-%d %H:%M}）")
    if db.session.scalar(select(DeductionAppeal.id).where(DeductionAppeal.ledger_item_id == item.id)):
        raise Conflict("该条目已提出过申诉")
    appeal = DeductionAppeal(
        reference=sv.reference("KF"),
        cycle_id=cycle.id,
        unit_id=item.unit_id,
        ledger_item_id=item.id,
        reason=reason,
        status="filed",
        filed_by_id=user.id,
        filed_at=clock.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(appeal)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict("该条目已提出过申诉") from exc
    case = cases.start_case(
        "deduction_appeal",
        unit_id=item.unit_id,
        title=f"{item.unit.name} 扣分申诉（{item.month}，{LEDGER_KINDS[item.kind]} {item.points} 分）",
        started_by=user,
        cycle_id=cycle.id,
        data={"appeal_id": appeal.id},
        subject=("deduction_appeal", appeal.id),
    )
    appeal.case_id = case.id
    cases.record(case, "deduction_appeal", user=user, comment=reason, data={"appeal": appeal.reference})
    return appeal


def of_case(case: Case) -> DeductionAppeal:
    appeal = db.session.scalar(select(DeductionAppeal).where(DeductionAppeal.case_id == case.id))
    if appeal is None:
        raise NotFound("申诉不存在")
    return appeal


def appeals_of_units(unit_ids: list[int], limit: int = 200) -> list[DeductionAppeal]:
    if not unit_ids:
        return []
    return list(
        db.session.scalars(
            select(DeductionAppeal)
            .where(DeductionAppeal.unit_id.in_(unit_ids))
            .order_by(DeductionAppeal.filed_at.desc(), DeductionAppeal.id.desc())
            .limit(limit)
        )
    )


def by_item(item_ids: list[int]) -> dict[int, DeductionAppeal]:
    if not item_ids:
        return {}
    rows = db.session.scalars(select(DeductionAppeal).where(DeductionAppeal.ledger_item_id.in_(item_ids)))
    return {a.ledger_item_id: a for a in rows}


def _describe_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "复核结论", "choice", True, [("upheld", "申诉成立"), ("rejected", "申诉不成立")]),
        FieldSpec("action", "处理方式", "choice", False, [("withdraw", "撤销该扣分"), ("change", "更正分值")],
                  help="申诉成立时选择"),
        FieldSpec("new_points", "更正后分值", "decimal", minimum=0, help="更正分值时填写"),
        FieldSpec("answer", "书面答复", "textarea", True),
    ]


@register("deduction_appeal.review", _describe_review)
def submit_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    appeal = of_case(ctx.case)
    item = db.session.get(LedgerItem, appeal.ledger_item_id)
    assert item is not None
    check = Checker(data)
    decision = check.choice("decision", "复核结论", ["upheld", "rejected"])
    answer = check.text("answer", "书面答复", required=True, max_len=3000)
    action = None
    new_points: Decimal | None = None
    if decision == "upheld":
        action = check.choice("action", "处理方式", ["withdraw", "change"])
        if action == "change":
            new_points = check.decimal(
                "new_points", "更正后分值", data.get("new_points"), minimum=Decimal("0.01"), maximum=ledger.MAX_POINTS
            )
            if new_points is not None and new_points == item.points:
                check.add("new_points", "更正后分值与原分值相同")
    check.raise_if_any()
    if ctx.user.id == appeal.filed_by_id:
        raise Forbidden("申诉人不能复核自己的申诉")
    replacement = None
    if decision == "upheld":
        replacement = ledger.change_item(
            item,
            points=new_points,
            reason=f"扣分申诉 {appeal.reference} 成立：{answer}",
            actor=user,
            withdraw=action == "withdraw",
        )
    appeal.status = decision
    appeal.action = action
    appeal.new_points = new_points
    appeal.answer = answer
    appeal.replacement_item_id = replacement.id if replacement else None
    appeal.decided_by_id = user.id
    appeal.decided_at = clock.now()
    return cases.finish_task(
        ctx,
        {"upheld": decision == "upheld"},
        outcome=decision,
        comment=answer,
        event_data={
            "appeal": appeal.reference, "action": action, "new_points": str(new_points) if new_points else None
        },
    )
