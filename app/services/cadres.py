"""Individual cadres (一月一考评, 一季一汇总): monthly self-score → leader approval (cadre_monthly.bpmn),
and the quarter's ranking inside the unit.

The unit opens a month for its staff (users holding ``staff`` at the unit); each cadre's case is
assigned to the cadre (``staff_id``) and to one leader (``leader_id``): a dept_head of the cadre's
department, else a dept_head of the unit, else the unit head. Data contract per form key:
- cadre.self: {"self_score" (0–100), "summary"}
- cadre.review: {"decision": "approve"|"return", "final_score" (0–100, default the self-score),
  "note"} — a note is required on return and when the final score differs from the self-score.
Ranking: average of the approved final scores of the quarter's months, descending; equal
averages share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app import clock
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import CadreMonth, CadreScore, Case, Cycle, HumanTask, RoleAssignment, Unit, User
from app.services import cases
from app.services import supervision as sv
from app.services.steps import Checker, FieldSpec, Files, register

MANAGERS = ("unit_head", "unit_officer", "office")
VIEWERS = ("unit_head", "unit_officer", "dept_head", "staff", "office")


def staff_of(unit_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(RoleAssignment.role == "staff", RoleAssignment.unit_id == unit_id, User.active.is_(True))
            .order_by(User.id)
            .distinct()
        )
    )


def leader_of(staff: User, unit_id: int) -> User | None:
    def holders(role: str) -> list[User]:
        return list(
            db.session.scalars(
                select(User)
                .join(RoleAssignment, RoleAssignment.user_id == User.id)
                .where(RoleAssignment.role == role, RoleAssignment.unit_id == unit_id, User.id != staff.id)
                .order_by(User.id)
            )
        )

    heads = holders("dept_head")
    same = [h for h in heads if staff.department_id is not None and h.department_id == staff.department_id]
    if same or heads:
        return (same or heads)[0]
    unit_heads = holders("unit_head")
    return unit_heads[0] if unit_heads else None


def open_month(unit: Unit, month: str, actor: User, cycle: Cycle | None = None) -> list[CadreMonth]:
    """Start the month's self-score case of every staff member of ``unit`` (skips those started)."""
    sv.require_any_for(actor, MANAGERS, unit.id, "仅本单位负责人、绩效员或绩效办可以发起干部月度考评")
    sv.check_month(month, cycle)
    staff = staff_of(unit.id)
    if not staff:
        raise Conflict(f"{unit.name} 没有登记工作人员（staff 角色）")
    started = set(
        db.session.scalars(select(CadreMonth.user_id).where(CadreMonth.unit_id == unit.id, CadreMonth.month == month))
    )
    created = []
    for person in staff:
        if person.id in started:
            continue
        leader = leader_of(person, unit.id)
        if leader is None:
            raise Conflict(f"未找到 {person.display_name} 的审定领导（科室负责人或单位负责人）")
        row = CadreMonth(
            cycle_id=cycle.id if cycle else None, unit_id=unit.id, user_id=person.id, leader_id=leader.id,
            month=month, created_at=clock.now(),
        )
        db.session.add(row)
        db.session.flush()
        case = cases.start_case(
            "cadre_monthly",
            unit_id=unit.id,
            title=f"{person.display_name} {month} 月度考评",
            started_by=actor,
            cycle_id=cycle.id if cycle else None,
            data={"cadre_month_id": row.id, "staff_id": person.id, "leader_id": leader.id},
            subject=("cadre_month", row.id),
        )
        row.case_id = case.id
        created.append(row)
    return created


def of_case(case: Case) -> CadreMonth:
    row = db.session.scalar(select(CadreMonth).where(CadreMonth.case_id == case.id))
    if row is None:
        raise NotFound("月度考评不存在")
    return row


def rounds(cadre_month_id: int) -> list[CadreScore]:
    return list(
        db.session.scalars(
            select(CadreScore).where(CadreScore.cadre_month_id == cadre_month_id).order_by(CadreScore.round.desc())
        )
    )


def _describe_self(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("self_score", "自评得分", "decimal", True, minimum=0, maximum=100),
        FieldSpec("summary", "本月工作完成情况", "textarea", True),
    ]


@register("cadre.self", _describe_self)
def submit_self(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    row = of_case(ctx.case)
    check = Checker(data)
    score = check.decimal("self_score", "自评得分", data.get("self_score"), minimum=Decimal(0), maximum=Decimal(100))
    summary = check.text("summary", "本月工作完成情况", required=True, max_len=5000)
    check.raise_if_any()
    assert score is not None
    round_no = (
        db.session.scalar(select(func.max(CadreScore.round)).where(CadreScore.cadre_month_id == row.id)) or 0
    ) + 1
    db.session.add(CadreScore(
        cadre_month_id=row.id, round=round_no, self_score=score, summary=summary, submitted_at=clock.now()
    ))
    return cases.finish_task(
        ctx, {"self_score": str(score)}, outcome="self_score", event_data={"round": round_no, "score": str(score)}
    )


def _describe_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "审定意见", "choice", True, [("approve", "审定"), ("return", "退回重评")]),
        FieldSpec("final_score", "审定得分", "decimal", minimum=0, maximum=100, help="留空则采用自评得分"),
        FieldSpec("note", "审定意见说明", "textarea", help="退回或调整得分时必须说明"),
    ]


@register("cadre.review", _describe_review)
def submit_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    row = of_case(ctx.case)
    latest = rounds(row.id)[0]
    check = Checker(data)
    decision = check.choice("decision", "审定意见", ["approve", "return"])
    final = Decimal(latest.self_score)
    if decision == "approve" and data.get("final_score") not in (None, ""):
        final = check.decimal(
            "final_score", "审定得分", data.get("final_score"), minimum=Decimal(0), maximum=Decimal(100)
        ) or final
    note = check.text("note", "审定意见说明", max_len=2000)
    if decision == "return" and not note:
        check.add("note", "退回时必须说明理由")
    if decision == "approve" and final != Decimal(latest.self_score) and not note:
        check.add("note", "调整自评得分时必须说明理由")
    check.raise_if_any()
    now = clock.now()
    latest.decision = decision
    latest.review_note = note or None
    latest.reviewed_by_id = user.id
    latest.reviewed_at = now
    if decision == "approve":
        latest.final_score = final
        row.status = "approved"
        row.final_score = final
        row.approved_at = now
    return cases.finish_task(
        ctx, {"decision": decision}, outcome=decision, comment=note or None,
        event_data={"round": latest.round, "score": str(final) if decision == "approve" else None},
    )


# --------------------------------------------------------------------------- ranking


@dataclass
class RankRow:
    user: User
    months: dict[str, Decimal]
    total: Decimal
    average: Decimal | None
    rank: int | None


def quarter_ranking(unit: Unit, year: int, quarter: int) -> list[RankRow]:
    months = sv.months_of_quarter(year, quarter)
    approved = db.session.scalars(
        select(CadreMonth).where(
            CadreMonth.unit_id == unit.id, CadreMonth.month.in_(months), CadreMonth.status == "approved"
        )
    ).all()
    people = {u.id: u for u in staff_of(unit.id)}
    extra = {m.user_id for m in approved} - set(people)
    if extra:
        people.update({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(extra)))})
    scores: dict[int, dict[str, Decimal]] = {uid: {} for uid in people}
    for month_row in approved:
        scores[month_row.user_id][month_row.month] = Decimal(month_row.final_score or 0)
    rows: list[RankRow] = []
    for uid, person in people.items():
        got = scores[uid]
        total = sum(got.values(), Decimal(0))
        rows.append(RankRow(person, got, total, sv.half_up(total / len(got)) if got else None, None))
    rows.sort(key=lambda r: (r.average is None, -(r.average or 0), r.user.display_name))
    previous: Decimal | None = None
    rank = 0
    for position, line in enumerate(rows, start=1):
        if line.average is None:
            continue
        if line.average != previous:
            rank, previous = position, line.average
        line.rank = rank
    return rows


def months_of(unit_id: int, month: str | None = None) -> list[CadreMonth]:
    query = select(CadreMonth).where(CadreMonth.unit_id == unit_id)
    if month:
        query = query.where(CadreMonth.month == month)
    return list(db.session.scalars(query.order_by(CadreMonth.month.desc(), CadreMonth.id)))
