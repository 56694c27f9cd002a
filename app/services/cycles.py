"""The annual cycle (年度考核方案): opening a cycle, its settings, dates and participating units.
Settings validation lives in ``cycle_settings`` and scheme filing (备案) in ``schemes``; both are
re-exported here.

Settings are validated and stored complete (defaults merged in), numbers as JSON numbers.
Settings freeze once the office issues the indicator catalogue or starts a negotiation
(the weights are what units negotiate against); dates and participants stay editable, except
that a unit whose negotiation has started keeps its group and cannot be removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import joinedload

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Cycle, CycleUnit, Group, Unit, User
from app.services import access
from app.services.cycle_settings import PARTS, TIERS, settings_of, validate_settings, weight
from app.services.schemes import (
    SchemeRow,
    acting_units,
    covers_unit,
    file_scheme,
    scheme_overview,
    scheme_path,
    schemes_of,
)
from app.services.steps import Checker

# Re-exported: the settings and scheme functions are part of this module's API.
__all__ = [
    "PARTS", "TIERS", "SchemeRow", "acting_units", "covers_unit", "file_scheme", "scheme_overview", "scheme_path",
    "schemes_of", "settings_of", "validate_settings", "weight",
]

NEGOTIATION = "target_negotiation"
MILESTONES = {
    "scheme_due_on": "单位方案备案截止",
    "targets_due_on": "目标下达截止",
    "letters_due_on": "责任书签订截止",
    "assessment_due_on": "年终自评截止",
}
DATE_LABELS = {"starts_on": "考核起始日期", "ends_on": "考核截止日期", **MILESTONES}


def require_office(user: User) -> None:
    if not (user.is_admin or access.holds_role(user, "office")):
        raise Forbidden("仅绩效办可以管理年度考核方案")


# --------------------------------------------------------------------------- dates


def _date(check: Checker, key: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    check.add(key, f"{DATE_LABELS[key]}格式应为 YYYY-MM-DD")
    return None


def _check_dates(check: Checker, year: int, dates: Mapping[str, Any]) -> dict[str, dt.date | None]:
    out = {key: _date(check, key, dates.get(key)) for key in DATE_LABELS}
    starts = out["starts_on"] or (dt.date(year, 1, 1) if "starts_on" not in check.errors else None)
    ends = out["ends_on"] or (dt.date(year, 12, 31) if "ends_on" not in check.errors else None)
    out["starts_on"], out["ends_on"] = starts, ends
    if starts and ends and starts >= ends:
        check.add("ends_on", "考核截止日期应晚于起始日期")
    for key, label in MILESTONES.items():
        value = out[key]
        if value and starts and ends and not starts <= value <= ends:
            check.add(key, f"{label}应在考核期间（{starts} 至 {ends}）内")
    targets, letters = out["targets_due_on"], out["letters_due_on"]
    if targets and letters and letters < targets:
        check.add("letters_due_on", "责任书签订截止日期不能早于目标下达截止日期")
    return out


def cycle_bounds(cycle: Cycle) -> tuple[dt.date, dt.date]:
    return cycle.starts_on or dt.date(cycle.year, 1, 1), cycle.ends_on or dt.date(cycle.year, 12, 31)


# --------------------------------------------------------------------------- participants


def _resolve_participants(check: Checker, entries: Sequence[tuple[int, int | None]]) -> dict[int, int]:
    """{unit_id: group_id} for the requested participants (group None → the unit's own group)."""
    wanted: dict[int, int | None] = {}
    for unit_id, group_id in entries:
        wanted[int(unit_id)] = int(group_id) if group_id else None
    if not wanted:
        return {}
    units = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(wanted)))}
    group_ids = {g for g in wanted.values() if g} | {u.group_id for u in units.values() if u.group_id}
    groups = set(db.session.scalars(select(Group.id).where(Group.id.in_(group_ids)))) if group_ids else set()
    out: dict[int, int] = {}
    for unit_id, group_id in wanted.items():
        unit = units.get(unit_id)
        if unit is None or not unit.active:
            check.add("participants", f"单位 {unit_id} 不存在或已停用")
            continue
        group = group_id or unit.group_id
        if group is None:
            check.add("participants", f"{unit.name} 未设置考核分类，请先选择分类")
        elif group not in groups:
            check.add("participants", f"{unit.name} 的考核分类无效")
        else:
            out[unit_id] = group
    return out


def negotiation_started(cycle: Cycle, unit_id: int | None = None) -> bool:
    query = select(Case.id).where(
        Case.process_key == NEGOTIATION, Case.cycle_id == cycle.id, Case.status != "cancelled"
    )
    if unit_id is not None:
        query = query.where(Case.unit_id == unit_id)
    return db.session.scalar(select(exists(query))) or False


def settings_frozen(cycle: Cycle) -> str | None:
    """Why the settings can no longer change, or None while they can."""
    from app.services import catalogue

    if catalogue.catalogue_issued_at(cycle) is not None:
        return "共性指标已下达，考核设置不能再修改"
    if negotiation_started(cycle):
        return "目标协商已启动，考核设置不能再修改"
    return None


# --------------------------------------------------------------------------- cycle


def open_cycle(
    year: int,
    title: str,
    actor: User,
    *,
    settings: Mapping[str, Any] | None = None,
    dates: Mapping[str, Any] | None = None,
    participants: Sequence[tuple[int, int | None]] = (),
) -> Cycle:
    """Open the cycle of ``year``: validated settings, dates, participants, and its social part.

    ``dates`` keys: starts_on, ends_on (default the calendar year), scheme_due_on, targets_due_on,
    letters_due_on, assessment_due_on (dates or ISO strings). ``participants``: (unit_id, group_id or
    None for the unit's own group).
    """
    require_office(actor)
    check = Checker({"title": title})
    title = check.text("title", "方案名称", required=True, max_len=200)
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        check.add("year", "年度应为 2000–2100 之间的整数")
        year = 0
    checked_dates = _check_dates(check, year or 2000, dates or {})
    try:
        checked_settings = validate_settings(settings)
    except ValidationFailed as exc:
        for key, messages in exc.fields.items():
            for message in messages:
                check.add(key, message)
        checked_settings = {}
    members = _resolve_participants(check, participants)
    check.raise_if_any()
    if db.session.scalar(select(Cycle.id).where(Cycle.year == year)):
        raise Conflict(f"{year} 年度考核方案已存在")
    cycle = Cycle(
        year=year, title=title, status="open", settings=checked_settings, created_by_id=actor.id, created_at=clock.now()
    )
    for key, value in checked_dates.items():
        setattr(cycle, key, value)
    db.session.add(cycle)
    db.session.flush()
    for unit_id, group_id in members.items():
        db.session.add(CycleUnit(cycle_id=cycle.id, unit_id=unit_id, group_id=group_id))
    from app.services import catalogue

    catalogue.ensure_social_indicator(cycle)
    db.session.flush()
    return cycle


def update_cycle(cycle: Cycle, actor: User, *, title: str, dates: Mapping[str, Any]) -> Cycle:
    """Change the title and dates. The cycle's bounds are fixed once negotiation has started."""
    require_office(actor)
    check = Checker({"title": title})
    title = check.text("title", "方案名称", required=True, max_len=200)
    checked = _check_dates(check, cycle.year, dates)
    check.raise_if_any()
    bounds_changed = (checked["starts_on"], checked["ends_on"]) != cycle_bounds(cycle)
    if bounds_changed and negotiation_started(cycle):
        raise Conflict("目标协商已启动，考核起止日期不能再修改（各项目标的完成时限以此为准）")
    cycle.title = title
    for key, value in checked.items():
        setattr(cycle, key, value)
    db.session.flush()
    return cycle


def update_settings(cycle: Cycle, actor: User, raw: Mapping[str, Any]) -> Cycle:
    require_office(actor)
    reason = settings_frozen(cycle)
    if reason:
        raise Conflict(reason)
    cycle.settings = validate_settings(raw)
    from app.services import catalogue

    catalogue.ensure_social_indicator(cycle)
    db.session.flush()
    return cycle


def participants(cycle: Cycle) -> list[CycleUnit]:
    return list(
        db.session.scalars(
            select(CycleUnit)
            .where(CycleUnit.cycle_id == cycle.id)
            .options(joinedload(CycleUnit.unit), joinedload(CycleUnit.group))
            .join(Unit, Unit.id == CycleUnit.unit_id)
            .order_by(CycleUnit.group_id, Unit.code)
        )
    )


def cycle_unit(cycle: Cycle, unit_id: int) -> CycleUnit:
    row = db.session.scalar(select(CycleUnit).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit_id))
    if row is None:
        raise NotFound("该单位未参加本年度考核")
    return row


@dataclass
class ParticipantChange:
    added: int = 0
    removed: int = 0
    regrouped: int = 0


def set_participants(cycle: Cycle, actor: User, entries: Sequence[tuple[int, int | None]]) -> ParticipantChange:
    """Make the participants exactly ``entries``; a unit in negotiation keeps its place and group."""
    require_office(actor)
    check = Checker({})
    wanted = _resolve_participants(check, entries)
    check.raise_if_any()
    current = {cu.unit_id: cu for cu in participants(cycle)}
    started = set(
        db.session.scalars(
            select(Case.unit_id).where(
                Case.process_key == NEGOTIATION, Case.cycle_id == cycle.id, Case.status != "cancelled"
            )
        )
    )
    for unit_id, row in current.items():
        if unit_id in started and wanted.get(unit_id) != row.group_id:
            verb = "移出考核" if unit_id not in wanted else "调整考核分类"
            raise Conflict(f"{row.unit.name} 的目标协商已启动，不能{verb}")
    change = ParticipantChange()
    for unit_id, row in current.items():
        if unit_id in wanted and wanted[unit_id] == row.group_id:
            continue
        if unit_id not in wanted:
            db.session.delete(row)
            change.removed += 1
        else:
            row.group_id = wanted[unit_id]
            change.regrouped += 1
    for unit_id, group_id in wanted.items():
        if unit_id not in current:
            db.session.add(CycleUnit(cycle_id=cycle.id, unit_id=unit_id, group_id=group_id))
            change.added += 1
    db.session.flush()
    return change


def cycles() -> list[Cycle]:
    return list(db.session.scalars(select(Cycle).order_by(Cycle.year.desc())))


def participant_counts() -> dict[int, int]:
    rows = db.session.execute(select(CycleUnit.cycle_id, func.count()).group_by(CycleUnit.cycle_id)).all()
    return {cycle_id: count for cycle_id, count in rows}
