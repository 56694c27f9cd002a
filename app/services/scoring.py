"""Scoring, ranking, grading, quota and flags — the rules of ../shared/scenario-format.md.

Pure functions on plain values, decimal arithmetic throughout (never binary floats), totals
rounded half-up to two places. Used by the results service, the scenario runner and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DEFAULTS: dict[str, Any] = {
    "weights": {"common": 30, "individual": 50, "social": 20},
    "tier_coefficients": {"I": 1.0, "II": 0.95, "III": 0.90},
    "bonus_cap": 3,
    "grade_shares": {"A": 0.30, "C": 0.10},
    "quota": {"base_rate": 0.15, "A_add": 1, "C_add": -1},
    "veto_enabled": True,
}
CENT = Decimal("0.01")


def D(value: Any) -> Decimal:  # noqa: N802 - a short, conventional constructor name
    """Exact decimal from int/str/Decimal; floats go through their shortest repr (93.0 → 93.0)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def round_half_up(value: Decimal, places: Decimal = Decimal(1)) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def merged_settings(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults with overrides applied; nested dicts merge key by key."""
    result: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


@dataclass
class UnitInput:
    code: str
    group: str
    tier: str
    common: Decimal
    individual: Decimal
    satisfaction: Decimal
    staff: int = 0
    bonus: list[Decimal] = field(default_factory=list)
    deductions: list[Decimal] = field(default_factory=list)
    veto: bool = False
    history: list[str] = field(default_factory=list)


@dataclass
class UnitResult:
    code: str
    group: str
    total: Decimal
    rank: int
    grade: str
    excellent_quota: int
    flags: list[str]
    vetoed: bool
    parts: dict[str, Decimal]

    def as_result(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "group": self.group,
            "total": f"{self.total:.2f}",
            "rank": self.rank,
            "grade": self.grade,
            "excellent_quota": self.excellent_quota,
            "flags": sorted(self.flags),
        }


def total(unit: UnitInput, settings: Mapping[str, Any]) -> tuple[Decimal, dict[str, Decimal]]:
    """Rule 1: common + individual × tier + satisfaction/100 × social weight + min(bonus, cap) − deductions."""
    coefficient = D(settings["tier_coefficients"][unit.tier])
    social = D(unit.satisfaction) / Decimal(100) * D(settings["weights"]["social"])
    bonus = min(sum((D(b) for b in unit.bonus), Decimal(0)), D(settings["bonus_cap"]))
    deductions = sum((D(d) for d in unit.deductions), Decimal(0))
    individual = D(unit.individual) * coefficient
    value = D(unit.common) + individual + social + bonus - deductions
    parts = {
        "common": D(unit.common),
        "individual": individual,
        "social": social,
        "bonus": bonus,
        "deductions": deductions,
    }
    return round_half_up(value, CENT), parts


def rank_group(units: Sequence[UnitInput], settings: Mapping[str, Any]) -> list[UnitResult]:
    """Rules 2–5 for the units of one group."""
    veto_on = bool(settings.get("veto_enabled", True))
    scored = []
    for unit in units:
        value, parts = total(unit, settings)
        scored.append((unit, value, parts, veto_on and unit.veto))
    # rule 2: non-vetoed first by total desc, then vetoed by total desc; ties share a rank. A vetoed
    # unit is "ranked last" (domain.md), so it never shares a rank with a non-vetoed one.
    scored.sort(key=lambda item: (item[3], -item[1], item[0].code))
    ranks: list[int] = []
    for position, (_, value, _, vetoed) in enumerate(scored, start=1):
        previous = scored[position - 2] if position > 1 else None
        if previous is not None and previous[1] == value and previous[3] == vetoed:
            ranks.append(ranks[-1])
        else:
            ranks.append(position)
    n = len(scored)
    n_a = int(round_half_up(D(n) * D(settings["grade_shares"]["A"])))
    n_c = int(round_half_up(D(n) * D(settings["grade_shares"]["C"])))
    c_rank = ranks[n - n_c] if 0 < n_c <= n else None
    last_rank = ranks[-1] if ranks else None
    quota = settings["quota"]
    results = []
    for (unit, value, parts, vetoed), rank in zip(scored, ranks, strict=True):
        if vetoed:
            grade = "C"
        elif rank <= n_a:
            grade = "A"
        elif c_rank is not None and rank >= c_rank:
            grade = "C"
        else:
            grade = "B"
        add = {"A": quota["A_add"], "C": quota["C_add"]}.get(grade, 0)
        base = round_half_up(D(unit.staff) * D(quota["base_rate"]))
        excellent = max(0, int(base + D(add)))
        results.append(
            UnitResult(
                unit.code,
                unit.group,
                value,
                rank,
                grade,
                excellent,
                flags_for(grade, unit.history, rank == last_rank and n >= 2),
                vetoed,
                parts,
            )
        )
    return results


def flags_for(grade: str, history: Sequence[str], last_place: bool) -> list[str]:
    flags: list[str] = []
    if grade == "A":
        flags += ["head_excellent", "funding_boost", "staffing_priority"]
        if len(history) >= 2 and history[-1] == "A" and history[-2] == "A":
            flags.append("priority_promotion")
    elif grade == "C":
        flags += ["head_ineligible", "warning"]
        if history and history[-1] == "C":
            flags.append("personnel_action")
    if last_place:
        flags.append("last_place_notice")
    return sorted(flags)


def rank_all(units: Iterable[UnitInput], settings: Mapping[str, Any]) -> list[UnitResult]:
    """Rank every group separately; results sorted by unit code."""
    groups: dict[str, list[UnitInput]] = {}
    for unit in units:
        groups.setdefault(unit.group, []).append(unit)
    results = [r for members in groups.values() for r in rank_group(members, settings)]
    return sorted(results, key=lambda r: r.code)


FLAG_LABELS = {
    "head_excellent": "主要负责人年度考核确定为优秀",
    "head_ineligible": "主要负责人不得评优评先",
    "warning": "给予警告",
    "priority_promotion": "主要负责人优先提拔",
    "personnel_action": "启动降免职/解聘程序",
    "last_place_notice": "末位通报批评、责令检查",
    "funding_boost": "经费保障倾斜",
    "staffing_priority": "优编精政优先",
}
