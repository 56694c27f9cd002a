"""Social evaluation (社会评价): a unit's satisfaction rate per round, the input of the social part.

Step 4's surveys record their computed rate here (source ``survey``); the office may also enter
a rate gathered by phone or visits (source ``manual``). The latest record of a round counts.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Cycle, SocialEvaluation, Unit, User

ROUNDS = {"half_year": "半年", "year_end": "年终"}


def record_satisfaction(
    cycle: Cycle,
    unit: Unit,
    rate: Decimal,
    *,
    actor: User | None,
    source: str = "manual",
    respondents: int = 0,
    round: str = "year_end",
) -> SocialEvaluation:
    if round not in ROUNDS:
        raise ValidationFailed("评价轮次无效", {"round": ["评价轮次无效"]})
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0 or rate > 100:
        raise ValidationFailed("满意率应在 0 到 100 之间", {"satisfaction": ["满意率应在 0 到 100 之间"]})
    if rate.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed("满意率最多两位小数", {"satisfaction": ["满意率最多两位小数"]})
    record = SocialEvaluation(
        cycle_id=cycle.id,
        unit_id=unit.id,
        round=round,
        satisfaction=rate,
        respondents=respondents,
        source=source,
        recorded_by_id=actor.id if actor else None,
        recorded_at=clock.now(),
    )
    db.session.add(record)
    db.session.flush()
    return record


def satisfaction_by_unit(cycle_id: int, round: str = "year_end") -> dict[int, Decimal]:
    """The latest rate of ``round`` for every unit that has one, in one query."""
    rows = db.session.execute(
        select(SocialEvaluation.unit_id, SocialEvaluation.satisfaction)
        .where(SocialEvaluation.cycle_id == cycle_id, SocialEvaluation.round == round)
        .order_by(SocialEvaluation.id)
    )
    return {unit_id: Decimal(rate) for unit_id, rate in rows}


def satisfaction_of(cycle_id: int, unit_id: int, round: str = "year_end") -> Decimal | None:
    rate = db.session.scalar(
        select(SocialEvaluation.satisfaction)
        .where(
            SocialEvaluation.cycle_id == cycle_id,
            SocialEvaluation.unit_id == unit_id,
            SocialEvaluation.round == round,
        )
        .order_by(SocialEvaluation.id.desc())
        .limit(1)
    )
    return Decimal(rate) if rate is not None else None


def record_many(
    cycle: Cycle, rates: dict[int, Decimal], *, actor: User | None, source: str = "manual", respondents: int = 0,
    round: str = "year_end",
) -> int:
    """Record the rates of many units at once (unit id → percent), e.g. the office's entry page."""
    if round not in ROUNDS:
        raise ValidationFailed("评价轮次无效", {"round": ["评价轮次无效"]})
    errors = {
        f"rate-{uid}": ["满意率应在 0 到 100 之间，最多两位小数"]
        for uid, rate in rates.items()
        if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0 or rate > 100
        or rate.as_tuple().exponent < -2  # type: ignore[operator]
    }
    if errors:
        raise ValidationFailed("满意率应在 0 到 100 之间，最多两位小数", errors)
    now = clock.now()
    db.session.add_all(
        SocialEvaluation(cycle_id=cycle.id, unit_id=uid, round=round, satisfaction=rate, respondents=respondents,
                         source=source, recorded_by_id=actor.id if actor else None, recorded_at=now)
        for uid, rate in rates.items()
    )
    db.session.flush()
    return len(rates)
