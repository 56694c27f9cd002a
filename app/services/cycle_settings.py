"""Validation of a cycle's settings (weights, tier coefficients, bonus cap, grade shares, quota,
publicity days, veto): defaults merged in, every value checked, numbers stored as JSON numbers."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from app.errors import ValidationFailed
from app.models import Cycle
from app.models.cycle import DEFAULT_SETTINGS
from app.services.steps import Checker

PARTS = {"common": "共性指标", "individual": "个性指标", "social": "社会评价"}
TIERS = ("I", "II", "III")


def _number(value: Decimal) -> int | float:
    """A JSON number: int when integral, else the float whose repr is the decimal (0.95 → 0.95)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _decimal(check: Checker, key: str, label: str, value: Any, *, places: int = 2) -> Decimal | None:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        check.add(key, f"请填写{label}")
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        check.add(key, f"{label}应为数字")
        return None
    if not number.is_finite():
        check.add(key, f"{label}应为数字")
        return None
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        check.add(key, f"{label}最多 {places} 位小数")
    return number


def _integer(check: Checker, key: str, label: str, value: Any) -> int | None:
    number = _decimal(check, key, label, value, places=0)
    if number is None:
        return None
    if number != number.to_integral_value():
        check.add(key, f"{label}应为整数")
        return None
    return int(number)


def _section(check: Checker, raw: Mapping[str, Any], name: str, label: str) -> dict[str, Any]:
    base = dict(DEFAULT_SETTINGS[name])
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        check.add(name, f"{label}格式错误")
        return base
    unknown = sorted(set(value) - set(base))
    if unknown:
        check.add(name, f"{label}包含未知项：{'、'.join(map(str, unknown))}")
    base.update({k: v for k, v in value.items() if k in base})
    return base


def validate_settings(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with ``raw``, every value checked; raises ValidationFailed naming each field.

    Field keys: ``weights-common`` … ``tier_coefficients-II`` … ``grade_shares-A``, ``quota-base_rate``,
    ``bonus_cap``, ``publicity_days``, ``veto_enabled`` (and the section name for a section-wide rule).
    """
    raw = raw or {}
    check = Checker({})
    if not isinstance(raw, Mapping):
        raise ValidationFailed("考核设置格式错误", {"settings": ["应为对象"]})
    unknown = sorted(set(raw) - set(DEFAULT_SETTINGS))
    if unknown:
        check.add("settings", f"未知的设置项：{'、'.join(map(str, unknown))}")
    out: dict[str, Any] = {}

    weights = _section(check, raw, "weights", "分值权重")
    parsed: dict[str, Decimal] = {}
    for part, label in PARTS.items():
        value = _decimal(check, f"weights-{part}", f"{label}分值", weights[part])
        if value is not None and value <= 0:
            check.add(f"weights-{part}", f"{label}分值应大于 0")
        if value is not None:
            parsed[part] = value
    if len(parsed) == 3 and sum(parsed.values()) != 100:
        total = sum(parsed.values())
        check.add("weights", f"共性、个性、社会评价三部分分值合计应为 100，当前为 {total}")
    out["weights"] = {k: _number(v) for k, v in parsed.items()}

    tiers = _section(check, raw, "tier_coefficients", "难度系数")
    out["tier_coefficients"] = {}
    for tier in TIERS:
        key = f"tier_coefficients-{tier}"
        value = _decimal(check, key, f"{tier}档难度系数", tiers[tier], places=4)
        if value is not None and not Decimal(0) < value <= Decimal("1.5"):
            check.add(key, f"{tier}档难度系数应大于 0 且不超过 1.5")
        if value is not None:
            out["tier_coefficients"][tier] = _number(value)

    cap = _decimal(check, "bonus_cap", "加分上限", raw.get("bonus_cap", DEFAULT_SETTINGS["bonus_cap"]))
    if cap is not None and cap < 0:
        check.add("bonus_cap", "加分上限不能为负数")
    out["bonus_cap"] = _number(cap) if cap is not None else None

    shares = _section(check, raw, "grade_shares", "等次比例")
    out["grade_shares"] = {}
    for grade, label in (("A", "A 等（先进）比例"), ("C", "C 等（落后）比例")):
        value = _decimal(check, f"grade_shares-{grade}", label, shares[grade], places=4)
        if value is not None and not Decimal(0) <= value <= Decimal(1):
            check.add(f"grade_shares-{grade}", f"{label}应在 0–1 之间")
        if value is not None:
            out["grade_shares"][grade] = _number(value)
    if len(out["grade_shares"]) == 2 and Decimal(str(out["grade_shares"]["A"])) + Decimal(
        str(out["grade_shares"]["C"])
    ) > 1:
        check.add("grade_shares", "A 等与 C 等比例之和不能超过 1")

    quota = _section(check, raw, "quota", "优秀名额")
    rate = _decimal(check, "quota-base_rate", "优秀名额基准比例", quota["base_rate"], places=4)
    if rate is not None and not Decimal(0) <= rate <= Decimal(1):
        check.add("quota-base_rate", "优秀名额基准比例应在 0–1 之间")
    a_add = _integer(check, "quota-A_add", "A 等单位名额增减", quota["A_add"])
    c_add = _integer(check, "quota-C_add", "C 等单位名额增减", quota["C_add"])
    for key, add in (("quota-A_add", a_add), ("quota-C_add", c_add)):
        if add is not None and not -10 <= add <= 10:
            check.add(key, "名额增减应在 -10 到 10 之间")
    out["quota"] = {"base_rate": _number(rate) if rate is not None else None, "A_add": a_add, "C_add": c_add}

    veto = raw.get("veto_enabled", DEFAULT_SETTINGS["veto_enabled"])
    if not isinstance(veto, bool):
        check.add("veto_enabled", "一票否决开关应为是/否")
    out["veto_enabled"] = bool(veto)

    days = _integer(check, "publicity_days", "公示天数", raw.get("publicity_days", DEFAULT_SETTINGS["publicity_days"]))
    if days is not None and not 1 <= days <= 30:
        check.add("publicity_days", "公示天数应在 1–30 个工作日之间")
    out["publicity_days"] = days
    check.raise_if_any()
    return out


def settings_of(cycle: Cycle) -> dict[str, Any]:
    """The cycle's complete settings (older rows may hold only overrides)."""
    stored = cycle.settings or {}
    merged: dict[str, Any] = {}
    for key, default in DEFAULT_SETTINGS.items():
        value = stored.get(key, default)
        merged[key] = {**default, **value} if isinstance(default, dict) and isinstance(value, dict) else value
    return merged


def weight(cycle: Cycle, part: str) -> Decimal:
    return Decimal(str(settings_of(cycle)["weights"][part]))
