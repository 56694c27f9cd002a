"""Shared helpers for driving cases through the service layer in tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Case, HumanTask, Indicator
from app.services import assessment, steps


def open_task(case_id: int, step: str | None = None) -> HumanTask:
    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    if step:
        query = query.where(HumanTask.step == step)
    tasks = db.session.scalars(query).all()
    assert len(tasks) == 1, f"expected one open task {step}, got {[t.step for t in tasks]}"
    return tasks[0]


def do(case_id: int, step: str, user, data: dict[str, Any], files=None) -> Case:
    task = open_task(case_id, step)
    case = steps.submit(task, user, data, files)
    db.session.commit()
    return case


def self_assessment_data(case_id: int) -> dict[str, Any]:
    case = db.session.get(Case, case_id)
    return {
        "entries": [
            {"indicator_id": i.id, "completion": "95", "narrative": f"{i.name}完成良好"}
            for i in assessment.indicators_for(case)
        ]
    }


def scoring_data(case_id: int, fraction: str = "0.9") -> dict[str, Any]:
    case = db.session.get(Case, case_id)
    out = []
    for ind in assessment.indicators_for(case):
        out.append({"indicator_id": ind.id, "points": str((ind.points * Decimal(fraction)).quantize(Decimal("0.01")))})
    return {"scores": out}


def indicator_ids(case_id: int) -> list[int]:
    case = db.session.get(Case, case_id)
    return [i.id for i in assessment.indicators_for(case)]


def run_to_publicity(county, case_id: int) -> None:
    u = county.users
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "approve"})
    do(case_id, "audit", u["auditor"], {"decision": "approve"})
    do(case_id, "scoring", u["assessor"], scoring_data(case_id))
    do(case_id, "monitoring", u["monitor"], {"flagged": False})
    do(case_id, "committee_approval", u["committee"], {"decision": "approve"})


__all__ = ["Indicator", "do", "open_task", "run_to_publicity", "scoring_data", "self_assessment_data"]
