"""Parsing and validation of ``pe-scenario/1`` files (see ../shared/scenario-format.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.errors import ValidationFailed
from app.services.scoring import D, merged_settings

FORMAT = "pe-scenario/1"
GRADES = ("A", "B", "C")
TIERS = ("I", "II", "III")
APPELLANTS = ("unit", "cadre", "public")
CORRECTABLE = ("common", "individual", "satisfaction", "bonus", "deductions", "veto")


@dataclass
class UnitSpec:
    code: str
    name: str
    group: str
    staff: int
    departments: int
    history: list[str]
    tier: str
    negotiation_returns: int
    self_assessment_returns: int
    common: Decimal
    individual: Decimal
    satisfaction: Decimal
    bonus: list[Decimal]
    deductions: list[Decimal]
    veto: bool


@dataclass
class AppealSpec:
    unit: str
    by: str
    reason: str
    upheld: bool
    correction: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    year: int
    title: str
    settings: dict[str, Any]
    overrides: dict[str, Any]
    groups: list[tuple[str, str]]
    units: list[UnitSpec]
    appeals: list[AppealSpec]


class _Errors:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.items.setdefault(where, []).append(message)


def _decimal(value: Any, where: str, errors: _Errors, *, low: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        errors.add(where, "应为数字")
        return Decimal(0)
    try:
        number = D(value)
    except ArithmeticError:
        errors.add(where, "应为数字")
        return Decimal(0)
    if not number.is_finite() or (low is not None and number < low):
        errors.add(where, f"应为不小于 {low} 的数字")
    return number


def _int(value: Any, where: str, errors: _Errors, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(where, f"应为 {low}–{high} 的整数")
        return low
    return value


def _list(value: Any, where: str, errors: _Errors) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(where, "应为数组")
        return []
    return value


def parse(doc: Any) -> Scenario:
    """Validate a decoded scenario document; raises ValidationFailed listing every problem."""
    errors = _Errors()
    if not isinstance(doc, dict):
        raise ValidationFailed("场景文件应为 JSON 对象", {"$": ["应为 JSON 对象"]})
    if doc.get("format") != FORMAT:
        errors.add("format", f"应为 {FORMAT}")
    raw_cycle = doc.get("cycle")
    cycle: dict[str, Any] = raw_cycle if isinstance(raw_cycle, dict) else {}
    year = _int(cycle.get("year"), "cycle.year", errors, 2000, 2100)
    raw_title = cycle.get("title")
    title = raw_title if isinstance(raw_title, str) and raw_title else f"{year}年度绩效考核"
    overrides = doc.get("settings") or {}
    if not isinstance(overrides, dict):
        errors.add("settings", "应为对象")
        overrides = {}
    groups: list[tuple[str, str]] = []
    for i, group in enumerate(_list(doc.get("groups"), "groups", errors)):
        if not isinstance(group, dict) or not group.get("code") or not group.get("name"):
            errors.add(f"groups[{i}]", "需要 code 和 name")
            continue
        groups.append((str(group["code"]), str(group["name"])))
    group_codes = {code for code, _ in groups}
    if len(group_codes) != len(groups):
        errors.add("groups", "分类编码重复")
    units = [_unit(raw, i, group_codes, errors) for i, raw in enumerate(_list(doc.get("units"), "units", errors))]
    codes = [u.code for u in units]
    if len(set(codes)) != len(codes):
        errors.add("units", "单位编码重复")
    if not units:
        errors.add("units", "至少需要一个单位")
    raw_appeals = _list(doc.get("appeals"), "appeals", errors)
    appeals = [_appeal(raw, i, set(codes), errors) for i, raw in enumerate(raw_appeals)]
    if errors.items:
        first_key = next(iter(errors.items))
        raise ValidationFailed(f"场景文件有误：{first_key} {errors.items[first_key][0]}", errors.items)
    return Scenario(year, title, merged_settings(overrides), overrides, groups, units, appeals)


def _unit(raw: Any, i: int, group_codes: set[str], errors: _Errors) -> UnitSpec:
    where = f"units[{i}]"
    if not isinstance(raw, dict):
        errors.add(where, "应为对象")
        raw = {}
    code, name, group = raw.get("code"), raw.get("name"), raw.get("group")
    if not isinstance(code, str) or not code:
        errors.add(f"{where}.code", "必填")
    if not isinstance(name, str) or not name:
        errors.add(f"{where}.name", "必填")
    if group not in group_codes:
        errors.add(f"{where}.group", "不是已定义的分类")
    history = [str(g) for g in _list(raw.get("history"), f"{where}.history", errors)]
    if any(g not in GRADES for g in history):
        errors.add(f"{where}.history", "等次只能是 A、B、C")
    tier = raw.get("tier", "I")
    if tier not in TIERS:
        errors.add(f"{where}.tier", "难度档次只能是 I、II、III")
    veto = raw.get("veto", False)
    if not isinstance(veto, bool):
        errors.add(f"{where}.veto", "应为 true/false")
    return UnitSpec(
        code=str(code or ""),
        name=str(name or ""),
        group=str(group or ""),
        staff=_int(raw.get("staff", 0), f"{where}.staff", errors, 0, 100000),
        departments=_int(raw.get("departments", 2), f"{where}.departments", errors, 1, 50),
        history=history,
        tier=str(tier),
        negotiation_returns=_int(raw.get("negotiation_returns", 0), f"{where}.negotiation_returns", errors, 0, 2),
        self_assessment_returns=_int(
            raw.get("self_assessment_returns", 0), f"{where}.self_assessment_returns", errors, 0, 3
        ),
        common=_decimal(raw.get("common", 0), f"{where}.common", errors, low=Decimal(0)),
        individual=_decimal(raw.get("individual", 0), f"{where}.individual", errors, low=Decimal(0)),
        satisfaction=_decimal(raw.get("satisfaction", 0), f"{where}.satisfaction", errors, low=Decimal(0)),
        bonus=[_decimal(v, f"{where}.bonus", errors, low=Decimal(0)) for v in _list(raw.get("bonus"), where, errors)],
        deductions=[
            _decimal(v, f"{where}.deductions", errors, low=Decimal(0))
            for v in _list(raw.get("deductions"), where, errors)
        ],
        veto=bool(veto),
    )


def _appeal(raw: Any, i: int, unit_codes: set[str], errors: _Errors) -> AppealSpec:
    where = f"appeals[{i}]"
    if not isinstance(raw, dict):
        errors.add(where, "应为对象")
        raw = {}
    if raw.get("unit") not in unit_codes:
        errors.add(f"{where}.unit", "不是场景中的单位")
    if raw.get("by") not in APPELLANTS:
        errors.add(f"{where}.by", "应为 unit、cadre 或 public")
    upheld = raw.get("upheld", False)
    if not isinstance(upheld, bool):
        errors.add(f"{where}.upheld", "应为 true/false")
    correction = raw.get("correction") or {}
    if not isinstance(correction, dict) or any(k not in CORRECTABLE for k in correction):
        errors.add(f"{where}.correction", f"只能更正 {', '.join(CORRECTABLE)}")
        correction = {}
    reason = raw.get("reason") if isinstance(raw.get("reason"), str) and raw.get("reason") else "申请复核。"
    return AppealSpec(str(raw.get("unit")), str(raw.get("by")), reason, bool(upheld), correction)
