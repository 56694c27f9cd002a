"""Year-end results: gather each unit's figures, rank a group by the rules, store revisions.

Inputs of a unit in a cycle (all read set-based: a fixed number of queries per call, whatever
the number of units — no per-unit query loops):
- common / individual points: the latest scoring round (``Score``) of the unit's latest
  assessment case, split by ``Indicator.part``; an upheld appeal's structured correction
  (``Appeal.correction`` keys ``common``/``individual``) replaces them;
- tier: ``CycleUnit.tier``; staff: ``Unit.staff_count``;
- satisfaction: ``social.satisfaction_by_unit`` (an appeal's correction is a new social record);
- bonus / deductions / veto: ``ledger.totals_by_unit`` (appeal corrections are ledger acts);
- history: the grades of ``ArchiveRecord`` of earlier years (a correction record wins).

The rules themselves are ``app.services.scoring`` (pure). ``store`` adds one ``UnitResult``
revision per unit of the group, moves ``is_current`` and records the reason; nothing is
overwritten. Public functions:

- ``figures(cycle, group_ids=None) -> list[UnitFigures]``
- ``problems(figures) -> dict[str, list[str]]`` (missing inputs: field → unit names)
- ``rank(figures, settings) -> list[Computed]`` (pure; sorted by rank)
- ``compute_group(cycle, group_id) -> list[Computed]`` (raises ValidationFailed listing the
  units without satisfaction / scores / tier)
- ``store(cycle, group_id, computed, *, reason, publication) -> list[UnitResult]``
- ``current(cycle, group_id=None) -> list[UnitResult]`` (sorted by group, rank)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import contains_eager

from app import clock
from app.errors import ValidationFailed
from app.extensions import db
from app.models import (
    Appeal,
    ArchiveRecord,
    Case,
    Cycle,
    CycleUnit,
    Group,
    Indicator,
    Publication,
    Score,
    Unit,
    UnitResult,
)
from app.services import ledger, scoring, social

MISSING_LABELS = {
    "scores": "尚无考核组评分",
    "satisfaction": "尚无社会评价满意率",
    "tier": "未确定难度档次",
}


@dataclass
class UnitFigures:
    """Everything the rules need about one unit of a cycle (None = not available yet)."""

    unit_id: int
    code: str
    name: str
    group_id: int
    group_code: str
    staff: int
    tier: str | None
    case_id: int | None = None
    case_status: str | None = None
    common: Decimal | None = None
    individual: Decimal | None = None
    satisfaction: Decimal | None = None
    bonus: list[Decimal] = field(default_factory=list)
    deductions: list[Decimal] = field(default_factory=list)
    veto: bool = False
    history: list[str] = field(default_factory=list)
    # Legacy appeals (``corrected_total`` without a structured correction) force the total;
    # the difference is booked on the common part so the rules stay one formula.
    total_override: Decimal | None = None

    def as_input(self) -> scoring.UnitInput:
        return scoring.UnitInput(
            code=self.code,
            group=self.group_code,
            tier=self.tier or "I",
            common=self.common if self.common is not None else Decimal(0),
            individual=self.individual if self.individual is not None else Decimal(0),
            satisfaction=self.satisfaction if self.satisfaction is not None else Decimal(0),
            staff=self.staff,
            bonus=list(self.bonus),
            deductions=list(self.deductions),
            veto=self.veto,
            history=list(self.history),
        )


@dataclass
class Computed:
    figures: UnitFigures
    result: scoring.UnitResult
    common: Decimal  # after a legacy total override


def settings_of(cycle: Cycle) -> dict[str, Any]:
    return scoring.merged_settings(cycle.settings or {})


def _unit_filter(cycle: Cycle, group_ids: Collection[int] | None) -> Any:
    query = select(CycleUnit.unit_id).where(CycleUnit.cycle_id == cycle.id)
    if group_ids is not None:
        query = query.where(CycleUnit.group_id.in_(list(group_ids)))
    return query


def latest_cases(cycle: Cycle, group_ids: Collection[int] | None = None) -> dict[int, tuple[int, str]]:
    """unit id → (case id, status) of the unit's latest non-cancelled assessment case."""
    latest = (
        select(Case.unit_id.label("unit_id"), func.max(Case.id).label("case_id"))
        .where(
            Case.process_key == "assessment",
            Case.cycle_id == cycle.id,
            Case.status != "cancelled",
            Case.unit_id.in_(_unit_filter(cycle, group_ids)),
        )
        .group_by(Case.unit_id)
        .subquery()
    )
    rows = db.session.execute(select(latest.c.unit_id, Case.id, Case.status).join(Case, Case.id == latest.c.case_id))
    return {unit_id: (case_id, status) for unit_id, case_id, status in rows}


def _points(case_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """case id → {"common": sum, "individual": sum} of its latest scoring round."""
    if not case_ids:
        return {}
    last = (
        select(Score.case_id.label("case_id"), func.max(Score.round).label("rnd"))
        .where(Score.case_id.in_(case_ids))
        .group_by(Score.case_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Score.case_id, Indicator.part, Score.points)
        .join(last, and_(last.c.case_id == Score.case_id, last.c.rnd == Score.round))
        .join(Indicator, Indicator.id == Score.indicator_id)
    )
    out: dict[int, dict[str, Decimal]] = {}
    for case_id, part, points in rows:
        parts = out.setdefault(case_id, {"common": Decimal(0), "individual": Decimal(0)})
        if part in parts:
            parts[part] += Decimal(points)
    return out


def _corrections(case_ids: list[int]) -> dict[int, list[tuple[dict[str, Any] | None, Decimal | None]]]:
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(Appeal.case_id, Appeal.correction, Appeal.corrected_total)
        .where(Appeal.case_id.in_(case_ids), Appeal.upheld.is_(True), Appeal.decided_at.is_not(None))
        .order_by(Appeal.decided_at, Appeal.id)
    )
    out: dict[int, list[tuple[dict[str, Any] | None, Decimal | None]]] = {}
    for case_id, correction, corrected_total in rows:
        out.setdefault(case_id, []).append((correction, corrected_total))
    return out


def history_grades(unit_ids: Any, before_year: int) -> dict[int, list[str]]:
    """unit id → grades of the years before ``before_year``, oldest first (corrections win).

    ``unit_ids`` is a list or a select of unit ids."""
    rows = db.session.execute(
        select(ArchiveRecord.id, ArchiveRecord.unit_id, ArchiveRecord.year, ArchiveRecord.grade,
               ArchiveRecord.supersedes_id)
        .where(ArchiveRecord.unit_id.in_(unit_ids), ArchiveRecord.year < before_year)
        .order_by(ArchiveRecord.id)
    ).all()
    superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    by_year: dict[tuple[int, int], str] = {}
    for row in rows:
        if row.id not in superseded:
            by_year[(row.unit_id, row.year)] = row.grade
    out: dict[int, list[str]] = {}
    for (unit_id, _year), grade in sorted(by_year.items()):
        out.setdefault(unit_id, []).append(grade)
    return out


def figures(cycle: Cycle, group_ids: Collection[int] | None = None) -> list[UnitFigures]:
    """The figures of every unit of ``cycle`` (or of the given groups), sorted by group and code."""
    query = (
        select(CycleUnit.unit_id, CycleUnit.group_id, CycleUnit.tier, Unit.code, Unit.name, Unit.staff_count,
               Group.code)
        .join(Unit, Unit.id == CycleUnit.unit_id)
        .join(Group, Group.id == CycleUnit.group_id)
        .where(CycleUnit.cycle_id == cycle.id)
    )
    if group_ids is not None:
        query = query.where(CycleUnit.group_id.in_(list(group_ids)))
    members = db.session.execute(query.order_by(Group.code, Unit.code)).all()
    if not members:
        return []
    unit_ids = [m[0] for m in members]
    cases = latest_cases(cycle, group_ids)
    case_ids = [c for c, _ in cases.values()]
    points = _points(case_ids)
    corrections = _corrections(case_ids)
    rates = social.satisfaction_by_unit(cycle.id)
    totals = ledger.totals_by_unit(cycle.id, unit_ids if group_ids is not None else None)
    history = history_grades(_unit_filter(cycle, group_ids), cycle.year)
    out = []
    for unit_id, group_id, tier, code, name, staff, group_code in members:
        case_id, status = cases.get(unit_id, (None, None))
        parts = points.get(case_id) if case_id is not None else None
        items = totals.get(unit_id)
        fig = UnitFigures(
            unit_id=unit_id, code=code, name=name, group_id=group_id, group_code=group_code, staff=staff or 0,
            tier=tier, case_id=case_id, case_status=status,
            common=parts["common"] if parts else None, individual=parts["individual"] if parts else None,
            satisfaction=rates.get(unit_id),
            bonus=list(items.bonus_items) if items else [], deductions=list(items.deduction_items) if items else [],
            veto=items.veto if items else False, history=history.get(unit_id, []),
        )
        for correction, corrected_total in corrections.get(case_id or 0, []):
            if correction:
                for key in ("common", "individual"):
                    if correction.get(key) is not None:
                        setattr(fig, key, scoring.D(correction[key]))
                fig.total_override = None
            elif corrected_total is not None:
                fig.total_override = Decimal(corrected_total)
        out.append(fig)
    return out


def problems(units: list[UnitFigures], settings: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Missing inputs, as field → names of the units lacking it (empty when complete)."""
    tiers = (settings or scoring.DEFAULTS)["tier_coefficients"]
    out: dict[str, list[str]] = {}
    for fig in units:
        if fig.common is None or fig.individual is None:
            out.setdefault("scores", []).append(fig.name)
        if fig.satisfaction is None:
            out.setdefault("satisfaction", []).append(fig.name)
        if fig.tier not in tiers:
            out.setdefault("tier", []).append(fig.name)
    return out


def describe_problems(found: dict[str, list[str]]) -> str:
    return "；".join(f"{MISSING_LABELS.get(k, k)}：{'、'.join(v)}" for k, v in found.items())


def rank(units: list[UnitFigures], settings: dict[str, Any]) -> list[Computed]:
    """Rank one group's units (pure); results sorted by rank, then code."""
    inputs = []
    commons: dict[str, Decimal] = {}
    for fig in units:
        item = fig.as_input()
        if fig.total_override is not None:
            value, _ = scoring.total(item, settings)
            item.common = item.common + (fig.total_override - value)
        commons[fig.code] = item.common
        inputs.append(item)
    by_code = {fig.code: fig for fig in units}
    ranked = scoring.rank_group(inputs, settings)
    return [Computed(by_code[r.code], r, commons[r.code]) for r in ranked]


def compute_group(cycle: Cycle, group_id: int) -> list[Computed]:
    settings = settings_of(cycle)
    units = figures(cycle, [group_id])
    if not units:
        raise ValidationFailed("该组没有参加本年度考核的单位", {"group": ["该组没有单位"]})
    found = problems(units, settings)
    if found:
        raise ValidationFailed("以下单位的考核数据不完整，无法排名：" + describe_problems(found), found)
    return rank(units, settings)


def store(
    cycle: Cycle, group_id: int, computed: list[Computed], *, reason: str, publication: Publication | None
) -> list[UnitResult]:
    """Add a revision for every unit of the group; the previous revision stops being current."""
    unit_ids = [c.figures.unit_id for c in computed]
    revisions = dict(
        db.session.execute(
            select(UnitResult.unit_id, func.max(UnitResult.revision))
            .where(UnitResult.cycle_id == cycle.id, UnitResult.unit_id.in_(unit_ids))
            .group_by(UnitResult.unit_id)
        ).all()
    )
    db.session.execute(
        update(UnitResult)
        .where(UnitResult.cycle_id == cycle.id, UnitResult.unit_id.in_(unit_ids), UnitResult.is_current.is_(True))
        .values(is_current=False)
        .execution_options(synchronize_session=False)
    )
    now = clock.now()
    rows = []
    for item in computed:
        fig, res = item.figures, item.result
        rows.append(
            UnitResult(
                cycle_id=cycle.id, unit_id=fig.unit_id, group_id=group_id, case_id=fig.case_id,
                publication_id=publication.id if publication else None,
                revision=(revisions.get(fig.unit_id) or 0) + 1, is_current=True,
                common=_cents(item.common), individual=_cents(fig.individual or Decimal(0)), tier=fig.tier or "I",
                satisfaction=_cents(fig.satisfaction or Decimal(0)), social=_cents(res.parts["social"]),
                bonus=_cents(res.parts["bonus"]), deductions=_cents(res.parts["deductions"]), veto=res.vetoed,
                total=res.total, rank=res.rank, grade=res.grade, excellent_quota=res.excellent_quota,
                flags=sorted(res.flags), reason=reason, created_at=now,
            )
        )
    db.session.add_all(rows)
    db.session.flush()
    return rows


def _cents(value: Decimal) -> Decimal:
    return scoring.round_half_up(value, scoring.CENT)


def current(cycle: Cycle, group_id: int | None = None) -> list[UnitResult]:
    query = (
        select(UnitResult)
        .join(Unit, Unit.id == UnitResult.unit_id)
        .options(contains_eager(UnitResult.unit))
        .where(UnitResult.cycle_id == cycle.id, UnitResult.is_current.is_(True))
    )
    if group_id is not None:
        query = query.where(UnitResult.group_id == group_id)
    return list(db.session.scalars(query.order_by(UnitResult.group_id, UnitResult.rank, Unit.code)))


def current_of_case(case_id: int) -> UnitResult | None:
    return db.session.scalar(
        select(UnitResult).where(UnitResult.case_id == case_id, UnitResult.is_current.is_(True)).limit(1)
    )
