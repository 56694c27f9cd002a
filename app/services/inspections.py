"""Inspections (明查暗访) and random spot checks (随机抽查).

- ``record_finding(cycle, inspector, data, files)``: a finding on a unit. Data contract:
  {"unit_id", "kind": open|covert|spot, "category": attendance|work_log|environment|service_window|other,
  "description", "found_on": "YYYY-MM-DD", "points": "0.5" (deduction, 0 = none), "indicator_id" (optional),
  "draw_id" (optional, a spot-check draw that picked the unit), "open_rectification": bool,
  "rectification_title" (optional)}; files under "evidence". Points > 0 record a ledger deduction
  (``source='inspection'``, ``source_id`` = finding id); ``open_rectification`` opens a rectification
  verified by the inspectors.
- ``draw_spot_check(cycle, actor, period=, size=, seed=)``: picks ``size`` units of the cycle with
  ``random.Random(seed).sample(sorted unit ids, size)``; the seed, the pool and the result are stored
  so ``verify_draw`` can recompute the draw at any later time.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app import clock
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, Finding, Indicator, LedgerItem, SpotCheckDraw, Unit, User
from app.models.supervision import FINDING_CATEGORIES, INSPECTION_KINDS
from app.services import ledger
from app.services import supervision as sv
from app.services.steps import Checker

INSPECTOR_ROLES = ("inspector", "office")


def record_finding(
    cycle: Cycle, inspector: User, data: dict[str, Any], files: list[FileStorage] | None = None
) -> Finding:
    check = Checker(data)
    unit_id = _int(data.get("unit_id"))
    if unit_id is None:
        check.add("unit_id", "请选择被检查单位")
    kind = check.choice("kind", "检查方式", list(INSPECTION_KINDS))
    category = check.choice("category", "检查类别", list(FINDING_CATEGORIES))
    description = check.text("description", "问题描述", required=True, max_len=3000)
    found_on = sv.parse_date(check, "found_on", "检查日期")
    if found_on is not None:
        if found_on > sv.today():
            check.add("found_on", "检查日期不能晚于今天")
        elif found_on.year != cycle.year:
            check.add("found_on", f"检查日期应在 {cycle.year} 年度内")
    points = check.decimal("points", "扣分", data.get("points", "0"), minimum=Decimal(0), maximum=ledger.MAX_POINTS)
    indicator_id = _int(data.get("indicator_id"))
    draw_id = _int(data.get("draw_id"))
    open_rect = check.boolean("open_rectification", "是否整改")
    rect_title = check.text("rectification_title", "整改事项", max_len=200)
    checked = sv.check_files(check, {"evidence": files or []}, "evidence")
    check.raise_if_any()
    assert unit_id is not None and found_on is not None and points is not None
    unit = sv.require_participant(cycle, unit_id)
    sv.require_any_for(inspector, INSPECTOR_ROLES, unit.id, "您无权检查该单位")
    if indicator_id is not None:
        indicator = db.session.get(Indicator, indicator_id)
        if indicator is None or indicator.cycle_id != cycle.id or indicator.unit_id not in (None, unit.id):
            raise ValidationFailed("所涉指标无效", {"indicator_id": ["所涉指标不属于该单位"]})
    if draw_id is not None:
        draw = db.session.get(SpotCheckDraw, draw_id)
        if draw is None or draw.cycle_id != cycle.id or unit.id not in draw.drawn:
            raise ValidationFailed("该单位不在所选抽查批次中", {"draw_id": ["该单位不在所选抽查批次中"]})
    if kind == "spot" and draw_id is None:
        raise ValidationFailed("随机抽查须选择抽查批次", {"draw_id": ["随机抽查须选择抽查批次"]})
    finding = Finding(
        cycle_id=cycle.id,
        unit_id=unit.id,
        draw_id=draw_id,
        kind=kind,
        category=category,
        description=description,
        indicator_id=indicator_id,
        points=points,
        month=found_on.strftime("%Y-%m"),
        found_on=found_on,
        inspector_id=inspector.id,
        recorded_at=clock.now(),
    )
    db.session.add(finding)
    db.session.flush()
    sv.store_files("finding", finding.id, checked, inspector)
    if points > 0:
        item = ledger.record_item(
            cycle,
            unit,
            kind="deduction",
            points=points,
            month=finding.month,
            reason=f"【{INSPECTION_KINDS[kind]}·{FINDING_CATEGORIES[category]}】{description}",
            actor=inspector,
            source="inspection",
            source_id=finding.id,
            indicator_id=indicator_id,
        )
        finding.ledger_item_id = item.id
    if open_rect:
        from app.services import rectification

        rect = rectification.open_rectification(
            unit=unit,
            cycle=cycle,
            source="finding",
            source_id=finding.id,
            title=rect_title or f"{FINDING_CATEGORIES[category]}问题整改",
            problem=description,
            opened_by=inspector,
        )
        finding.rectification_id = rect.id
    return finding


def record_ledger_entry(cycle: Cycle, actor: User, data: dict[str, Any]) -> LedgerItem:
    """The office's manual item (群众好评加分, 媒体曝光重点扣分, 一票否决): {"unit_id", "kind", "points",
    "month", "reason"}; published on the public ledger like every item."""
    sv.require_office(actor)
    unit = sv.require_participant(cycle, _int(data.get("unit_id")) or 0)
    month = sv.check_month(str(data.get("month") or ""), cycle)
    raw = data.get("points")
    try:
        points = Decimal(str(raw)) if raw not in (None, "") else Decimal(0)
    except ArithmeticError as exc:
        raise ValidationFailed("分值应为数字", {"points": ["分值应为数字"]}) from exc
    return ledger.record_item(
        cycle, unit, kind=str(data.get("kind") or ""), points=points, month=month,
        reason=str(data.get("reason") or ""), actor=actor, source="manual",
    )


def _int(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def findings(cycle_id: int, *, unit_id: int | None = None, month: str | None = None, limit: int = 200
             ) -> list[Finding]:
    query = select(Finding).where(Finding.cycle_id == cycle_id)
    if unit_id:
        query = query.where(Finding.unit_id == unit_id)
    if month:
        query = query.where(Finding.month == month)
    return list(db.session.scalars(query.order_by(Finding.found_on.desc(), Finding.id.desc()).limit(limit)))


def get_finding(finding_id: int) -> Finding:
    finding = db.session.get(Finding, finding_id)
    if finding is None:
        raise NotFound("督查记录不存在")
    return finding


# --------------------------------------------------------------------------- spot checks


def draw_units(seed: str, pool: list[int], size: int) -> list[int]:
    """The reproducible draw: ``random.Random(seed)`` sampling ``size`` of the sorted ``pool``."""
    return sorted(random.Random(seed).sample(sorted(pool), size))


def draw_spot_check(
    cycle: Cycle,
    actor: User,
    *,
    period: str,
    size: int | str,
    seed: str | None = None,
    category: str | None = None,
    note: str = "",
) -> SpotCheckDraw:
    check = Checker({"period": period, "seed": seed or "", "note": note})
    period = check.text("period", "抽查期间", required=True, max_len=20)
    seed_text = check.text("seed", "随机种子", max_len=64)
    note = check.text("note", "说明", max_len=1000)
    if category and category not in FINDING_CATEGORIES:
        check.add("category", "检查类别无效")
    pool = [u.id for u in sv.participants(cycle.id) if sv.holds_any_for(actor, INSPECTOR_ROLES, u.id)]
    if not pool:
        raise Forbidden("您的督查范围内没有参加考核的单位")
    count = _int(size)
    if count is None or not 1 <= count <= len(pool):
        check.add("size", f"抽取数量应在 1 到 {len(pool)} 之间")
    check.raise_if_any()
    assert count is not None
    seed_text = seed_text or str(secrets.randbelow(10**12))
    draw = SpotCheckDraw(
        cycle_id=cycle.id,
        period=period,
        category=category or None,
        seed=seed_text,
        size=count,
        pool=sorted(pool),
        drawn=draw_units(seed_text, pool, count),
        note=note or None,
        drawn_by_id=actor.id,
        drawn_at=clock.now(),
    )
    db.session.add(draw)
    db.session.flush()
    return draw


@dataclass(frozen=True)
class DrawCheck:
    draw: SpotCheckDraw
    recomputed: list[int]
    matches: bool
    units: dict[int, Unit]


def verify_draw(draw_id: int) -> DrawCheck:
    draw = db.session.get(SpotCheckDraw, draw_id)
    if draw is None:
        raise NotFound("抽查记录不存在")
    recomputed = draw_units(draw.seed, list(draw.pool), draw.size)
    units = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(draw.pool)))}
    return DrawCheck(draw, recomputed, recomputed == list(draw.drawn), units)


def draws(cycle_id: int, limit: int = 100) -> list[SpotCheckDraw]:
    return list(
        db.session.scalars(
            select(SpotCheckDraw)
            .where(SpotCheckDraw.cycle_id == cycle_id)
            .order_by(SpotCheckDraw.drawn_at.desc(), SpotCheckDraw.id.desc())
            .limit(limit)
        )
    )
