"""The points ledger (两本台账 / 日常扣分): bonus, deduction and veto items of a unit in a cycle.

Items are never edited: a change or withdrawal marks the old item (``changed``/``withdrawn``)
and, for a change, adds a new item that ``replaces_id`` it — a recorded act with who and why.
Step 3 scoring reads ``totals``; step 4 (inspections, deduction appeals) writes through here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Cycle, LedgerItem, Unit, User
from app.models.result import LEDGER_KINDS

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_POINTS = Decimal("100")


@dataclass(frozen=True)
class Totals:
    bonus: Decimal
    deductions: Decimal
    veto: bool
    bonus_items: list[Decimal]
    deduction_items: list[Decimal]


def _check(kind: str, points: Decimal, month: str, reason: str) -> None:
    errors: dict[str, list[str]] = {}
    if kind not in LEDGER_KINDS:
        errors["kind"] = ["类型无效"]
    if not isinstance(points, Decimal) or not points.is_finite() or points < 0 or points > MAX_POINTS:
        errors["points"] = [f"分值应在 0 到 {MAX_POINTS} 之间"]
    elif points.as_tuple().exponent < -2:  # type: ignore[operator]
        errors["points"] = ["分值最多两位小数"]
    elif kind in ("bonus", "deduction") and points == 0:
        errors["points"] = ["加分或扣分的分值应大于 0"]
    if not _MONTH.match(month or ""):
        errors["month"] = ["月份格式应为 YYYY-MM"]
    if not (reason or "").strip():
        errors["reason"] = ["请填写事由"]
    if errors:
        raise ValidationFailed("台账条目有误：" + next(iter(errors.values()))[0], errors)


def record_item(
    cycle: Cycle,
    unit: Unit,
    *,
    kind: str,
    points: Decimal,
    month: str,
    reason: str,
    actor: User | None,
    source: str = "manual",
    source_id: int | None = None,
    indicator_id: int | None = None,
) -> LedgerItem:
    _check(kind, points, month, reason)
    item = LedgerItem(
        cycle_id=cycle.id,
        unit_id=unit.id,
        kind=kind,
        points=points if kind != "veto" else Decimal(0),
        month=month,
        reason=reason.strip(),
        source=source,
        source_id=source_id,
        indicator_id=indicator_id,
        status="active",
        recorded_by_id=actor.id if actor else None,
        recorded_at=clock.now(),
    )
    db.session.add(item)
    db.session.flush()
    return item


def change_item(
    item: LedgerItem, *, points: Decimal | None, reason: str, actor: User | None, withdraw: bool = False
) -> LedgerItem | None:
    """Withdraw ``item`` or replace it by a new item with ``points``; returns the new item (or None)."""
    if item.status != "active":
        raise Conflict("该台账条目已被更正或撤销")
    if not (reason or "").strip():
        raise ValidationFailed("请填写更正理由", {"reason": ["请填写更正理由"]})
    if withdraw:
        item.status = "withdrawn"
        return None
    new_points = points if points is not None else item.points
    _check(item.kind, new_points, item.month, reason)
    item.status = "changed"
    replacement = LedgerItem(
        cycle_id=item.cycle_id,
        unit_id=item.unit_id,
        kind=item.kind,
        points=new_points,
        month=item.month,
        reason=reason.strip(),
        source=item.source,
        source_id=item.source_id,
        indicator_id=item.indicator_id,
        status="active",
        replaces_id=item.id,
        recorded_by_id=actor.id if actor else None,
        recorded_at=clock.now(),
    )
    db.session.add(replacement)
    db.session.flush()
    return replacement


def active_items(cycle_id: int, unit_id: int | None = None, month: str | None = None) -> list[LedgerItem]:
    query = select(LedgerItem).where(LedgerItem.cycle_id == cycle_id, LedgerItem.status == "active")
    if unit_id is not None:
        query = query.where(LedgerItem.unit_id == unit_id)
    if month is not None:
        query = query.where(LedgerItem.month == month)
    return list(db.session.scalars(query.order_by(LedgerItem.month, LedgerItem.id)))


def totals_by_unit(cycle_id: int, unit_ids: list[int] | None = None) -> dict[int, Totals]:
    """Active items summed per unit in one query (units without items are absent)."""
    query = select(LedgerItem.unit_id, LedgerItem.kind, LedgerItem.points).where(
        LedgerItem.cycle_id == cycle_id, LedgerItem.status == "active"
    )
    if unit_ids is not None:
        query = query.where(LedgerItem.unit_id.in_(unit_ids))
    acc: dict[int, tuple[list[Decimal], list[Decimal], bool]] = {}
    for unit_id, kind, points in db.session.execute(query.order_by(LedgerItem.id)):
        bonus, deductions, veto = acc.setdefault(unit_id, ([], [], False))
        if kind == "bonus":
            bonus.append(Decimal(points))
        elif kind == "deduction":
            deductions.append(Decimal(points))
        else:
            acc[unit_id] = (bonus, deductions, True)
    return {
        uid: Totals(sum(b, Decimal(0)), sum(d, Decimal(0)), v, b, d) for uid, (b, d, v) in acc.items()
    }


def totals(cycle_id: int, unit_id: int) -> Totals:
    return totals_by_unit(cycle_id, [unit_id]).get(unit_id, Totals(Decimal(0), Decimal(0), False, [], []))
