"""Mid-year evaluation (年中评估, midyear_evaluation.bpmn): unit self-summary → office evaluation.

Data contract per form key:
- midyear.summary: {"summary", "problems", "plans"} (summary required)
- midyear.evaluate: {"decision": "approve"|"return", "rating": excellent|good|fair|poor (on approve),
  "comment"} (comment always required)
Every act is a ``MidyearEntry`` row (append-only) with its round.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app import clock
from app.errors import NotFound
from app.extensions import db
from app.models import Case, Cycle, HumanTask, MidyearEntry, MidyearEvaluation, Unit, User
from app.services import cases
from app.services import supervision as sv
from app.services.steps import Checker, FieldSpec, Files, register

RATINGS = {"excellent": "好", "good": "较好", "fair": "一般", "poor": "差"}


def start_midyear(cycle: Cycle, actor: User) -> list[MidyearEvaluation]:
    """Start the mid-year evaluation of every unit of the cycle not yet started."""
    sv.require_office(actor)
    started = set(db.session.scalars(select(MidyearEvaluation.unit_id).where(MidyearEvaluation.cycle_id == cycle.id)))
    created = []
    for unit in sv.participants(cycle.id):
        if unit.id in started:
            continue
        evaluation = MidyearEvaluation(cycle_id=cycle.id, unit_id=unit.id, created_at=clock.now())
        db.session.add(evaluation)
        db.session.flush()
        case = cases.start_case(
            "midyear_evaluation",
            unit_id=unit.id,
            title=f"{unit.name} {cycle.year} 年中评估",
            started_by=actor,
            cycle_id=cycle.id,
            data={"evaluation_id": evaluation.id},
            subject=("midyear_evaluation", evaluation.id),
        )
        evaluation.case_id = case.id
        created.append(evaluation)
    return created


def of_case(case: Case) -> MidyearEvaluation:
    evaluation = db.session.scalar(select(MidyearEvaluation).where(MidyearEvaluation.case_id == case.id))
    if evaluation is None:
        raise NotFound("年中评估不存在")
    return evaluation


def history(evaluation_id: int) -> list[MidyearEntry]:
    return list(
        db.session.scalars(
            select(MidyearEntry).where(MidyearEntry.evaluation_id == evaluation_id).order_by(MidyearEntry.id.desc())
        )
    )


def evaluations(cycle_id: int) -> list[MidyearEvaluation]:
    return list(
        db.session.scalars(
            select(MidyearEvaluation).join(Unit).where(MidyearEvaluation.cycle_id == cycle_id).order_by(Unit.code)
        )
    )


def _round(evaluation_id: int, kind: str) -> int:
    last = db.session.scalar(
        select(func.max(MidyearEntry.round))
        .where(MidyearEntry.evaluation_id == evaluation_id, MidyearEntry.kind == kind)
    )
    return (last or 0) + 1


def _describe_summary(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("summary", "上半年目标完成情况", "textarea", True),
        FieldSpec("problems", "存在问题", "textarea"),
        FieldSpec("plans", "下半年工作打算", "textarea"),
    ]


@register("midyear.summary", _describe_summary)
def submit_summary(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    evaluation = of_case(ctx.case)
    check = Checker(data)
    summary = check.text("summary", "上半年目标完成情况", required=True)
    problems = check.text("problems", "存在问题")
    plans = check.text("plans", "下半年工作打算")
    check.raise_if_any()
    round_no = _round(evaluation.id, "summary")
    db.session.add(MidyearEntry(
        evaluation_id=evaluation.id, round=round_no, kind="summary", text=summary, problems=problems or None,
        plans=plans or None, user_id=user.id, created_at=clock.now(),
    ))
    return cases.finish_task(ctx, {"summarised": True}, outcome="summary", event_data={"round": round_no})


def _describe_evaluate(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "评估结论", "choice", True, [("approve", "评估完成"), ("return", "退回补充")]),
        FieldSpec("rating", "评估等次", "choice", False, list(RATINGS.items()), help="评估完成时选择"),
        FieldSpec("comment", "评估意见", "textarea", True),
    ]


@register("midyear.evaluate", _describe_evaluate)
def submit_evaluate(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    evaluation = of_case(ctx.case)
    check = Checker(data)
    decision = check.choice("decision", "评估结论", ["approve", "return"])
    rating = check.choice("rating", "评估等次", list(RATINGS)) if decision == "approve" else None
    comment = check.text("comment", "评估意见", required=True, max_len=5000)
    check.raise_if_any()
    round_no = _round(evaluation.id, "evaluation")
    db.session.add(MidyearEntry(
        evaluation_id=evaluation.id, round=round_no, kind="evaluation", text=comment, rating=rating,
        decision=decision, user_id=user.id, created_at=clock.now(),
    ))
    if decision == "approve":
        evaluation.status = "evaluated"
        evaluation.rating = rating
    return cases.finish_task(
        ctx, {"decision": decision}, outcome="evaluate" if decision == "approve" else "return", comment=comment,
        event_data={"round": round_no, "rating": RATINGS.get(rating or "")},
    )
