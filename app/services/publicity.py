"""Read side of publicity (公示): which assessment results are currently published."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Case, Timer, Unit
from app.services import assessment


@dataclass
class PublishedResult:
    case_id: int
    unit: Unit
    total: Decimal | None
    ends_at: object


def in_publicity() -> list[PublishedResult]:
    """Assessment cases whose publicity window is open (a pending publicity timer)."""
    rows = db.session.execute(
        select(Case, Unit, Timer.due_at)
        .join(Unit, Unit.id == Case.unit_id)
        .join(Timer, Timer.case_id == Case.id)
        .where(Case.process_key == "assessment", Case.status == "running", Timer.status == "pending",
               Timer.step == "gw_publicity")
        .order_by(Unit.code)
    ).all()
    return [PublishedResult(case.id, unit, assessment.total_of(case), due) for case, unit, due in rows]
