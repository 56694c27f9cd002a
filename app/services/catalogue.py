"""The indicator catalogue of a cycle.

- Common indicators (共性指标, ``part='common'``, ``unit_id`` NULL): added and edited by the office
  until the catalogue is issued; ``issue_catalogue`` checks that their points add up to the
  cycle's common weight and stamps ``issued_at`` (on them and on the social part); afterwards
  every edit is refused.
- The social part (社会评价, ``part='social'``): one indicator per cycle whose points are the social
  weight, created when the cycle opens.
- Individual indicators (个性指标) are negotiated (app/services/negotiation.py);
  ``check_individual_items`` is the one validator of a proposed target set, and the issued rows
  can never be edited (``update_indicator`` refuses any issued indicator).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app import clock
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, Department, Indicator, TargetVersion, Unit, User
from app.services import cycles
from app.services.steps import Checker

CODE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
AUTO_CODE = re.compile(r"^G(\d+)$")
MAX_ITEMS = 100
ITEM_FIELDS = {
    "code": "编号",
    "name": "指标名称",
    "target_value": "目标值",
    "measure_unit": "计量单位",
    "points": "分值",
    "scoring_rule": "评分细则（加分/扣分）",
    "lead_name": "分管领导",
    "department_id": "责任科室",
    "responsible_name": "责任人",
    "deadline": "完成时限",
}
_TEXT_LIMITS = {
    "name": 200,
    "target_value": 100,
    "measure_unit": 32,
    "scoring_rule": 2000,
    "lead_name": 100,
    "responsible_name": 100,
}


def _cent(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


# --------------------------------------------------------------------------- reading


def common_indicators(cycle: Cycle) -> list[Indicator]:
    return list(
        db.session.scalars(
            select(Indicator)
            .where(Indicator.cycle_id == cycle.id, Indicator.unit_id.is_(None), Indicator.part == "common")
            .order_by(Indicator.sort_order, Indicator.id)
        )
    )


def social_indicator(cycle: Cycle) -> Indicator | None:
    return db.session.scalar(
        select(Indicator).where(Indicator.cycle_id == cycle.id, Indicator.part == "social").order_by(Indicator.id)
    )


def individual_indicators(cycle: Cycle, unit_id: int) -> list[Indicator]:
    return list(
        db.session.scalars(
            select(Indicator)
            .where(Indicator.cycle_id == cycle.id, Indicator.unit_id == unit_id, Indicator.part == "individual")
            .order_by(Indicator.sort_order, Indicator.id)
        )
    )


def catalogue_issued_at(cycle: Cycle) -> dt.datetime | None:
    return db.session.scalar(
        select(func.min(Indicator.issued_at)).where(
            Indicator.cycle_id == cycle.id, Indicator.unit_id.is_(None), Indicator.part == "common"
        )
    )


def common_total(cycle: Cycle) -> Decimal:
    return sum((Decimal(i.points) for i in common_indicators(cycle)), Decimal(0))


# --------------------------------------------------------------------------- social part


def ensure_social_indicator(cycle: Cycle) -> Indicator:
    """The cycle's social-evaluation part, its points kept equal to the social weight."""
    points = cycles.weight(cycle, "social")
    row = social_indicator(cycle)
    if row is None:
        row = Indicator(
            cycle_id=cycle.id,
            unit_id=None,
            part="social",
            code="S",
            name="社会评价（群众满意度测评）",
            points=points,
            scoring_rule="满意度（0–100%）× 社会评价分值",
            sort_order=0,
            created_at=clock.now(),
        )
        db.session.add(row)
    elif row.issued_at is None:
        row.points = points
    db.session.flush()
    return row


# --------------------------------------------------------------------------- common indicators


def _check_common(cycle: Cycle, data: Mapping[str, Any], current: Indicator | None) -> dict[str, Any]:
    check = Checker(dict(data))
    code = check.text("code", "指标编号", required=True, max_len=32)
    if code and not CODE.match(code):
        check.add("code", "指标编号只能包含字母、数字和 . _ -")
    name = check.text("name", "指标名称", required=True, max_len=200)
    points = check.decimal("points", "分值", data.get("points"), minimum=Decimal("0.01"), maximum=Decimal(100))
    rule = check.text("scoring_rule", "评分细则（加分/扣分）", required=True, max_len=2000)
    order_raw = data.get("sort_order") or 0
    try:
        order = int(order_raw)
    except (TypeError, ValueError):
        check.add("sort_order", "排序应为整数")
        order = 0
    if code:
        clash = db.session.scalar(
            select(Indicator.id).where(
                Indicator.cycle_id == cycle.id, Indicator.unit_id.is_(None), Indicator.code == code
            )
        )
        if clash is not None and (current is None or clash != current.id):
            check.add("code", f"指标编号 {code} 已被使用")
    check.raise_if_any()
    return {"code": code, "name": name, "points": points, "scoring_rule": rule, "sort_order": order}


def _refuse_if_issued(cycle: Cycle) -> None:
    if catalogue_issued_at(cycle) is not None:
        raise Conflict("共性指标已下达，不能再修改")


def add_common(cycle: Cycle, actor: User, data: Mapping[str, Any]) -> Indicator:
    """data: {"code", "name", "points", "scoring_rule", "sort_order"?}."""
    cycles.require_office(actor)
    _refuse_if_issued(cycle)
    values = _check_common(cycle, data, None)
    row = Indicator(cycle_id=cycle.id, unit_id=None, part="common", created_at=clock.now(), **values)
    db.session.add(row)
    db.session.flush()
    return row


def update_indicator(indicator: Indicator, actor: User, data: Mapping[str, Any]) -> Indicator:
    """Edit a common indicator before the catalogue is issued. Issued indicators (common after the
    catalogue is issued, individual ones from an issued target version) are refused with Conflict."""
    cycles.require_office(actor)
    if indicator.issued_at is not None:
        raise Conflict("该指标已下达，不能修改")
    if indicator.part != "common":
        raise Conflict("个性指标由目标协商（三上三下）确定，不能在此修改；社会评价分值随考核设置调整")
    cycle = db.session.get(Cycle, indicator.cycle_id)
    assert cycle is not None
    _refuse_if_issued(cycle)
    for key, value in _check_common(cycle, data, indicator).items():
        setattr(indicator, key, value)
    db.session.flush()
    return indicator


def delete_common(indicator: Indicator, actor: User) -> None:
    cycles.require_office(actor)
    if indicator.issued_at is not None or indicator.part != "common":
        raise Conflict("该指标已下达或不是共性指标，不能删除")
    cycle = db.session.get(Cycle, indicator.cycle_id)
    assert cycle is not None
    _refuse_if_issued(cycle)
    db.session.delete(indicator)
    db.session.flush()


def issue_catalogue(cycle: Cycle, actor: User) -> int:
    """Issue the common indicators (and the social part) to every unit; returns how many were issued."""
    cycles.require_office(actor)
    if catalogue_issued_at(cycle) is not None:
        raise Conflict("共性指标已下达")
    rows = common_indicators(cycle)
    expected = cycles.weight(cycle, "common")
    total = sum((Decimal(i.points) for i in rows), Decimal(0))
    if not rows:
        raise ValidationFailed("尚未设置共性指标", {"points": ["请先添加共性指标"]})
    if total != expected:
        raise ValidationFailed(
            f"共性指标分值合计为 {_cent(total)}，应等于考核设置中的共性指标分值 {_cent(expected)}",
            {"points": [f"分值合计 {_cent(total)} ≠ {_cent(expected)}"]},
        )
    social = ensure_social_indicator(cycle)
    now = clock.now()
    for row in [*rows, social]:
        row.issued_at = now
    db.session.flush()
    return len(rows)


# --------------------------------------------------------------------------- individual targets


def next_code(codes: Iterable[str]) -> str:
    numbers = [int(m.group(1)) for c in codes if (m := AUTO_CODE.match(c or ""))]
    return f"G{(max(numbers) if numbers else 0) + 1:02d}"


def collect_individual_items(
    cycle: Cycle,
    unit: Unit,
    raw: Any,
    check: Checker,
    *,
    key: str = "items",
    reserved: Iterable[str] = (),
    previous: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Validate a proposed target set into ``check`` (errors keyed ``items-<i>-<field>``) and return
    the canonical items: code, name, target_value, measure_unit, points ("12.50"), scoring_rule,
    lead_name, department_id (int), responsible_name, deadline (ISO date).

    A blank code takes the code of the item of the same name in ``previous`` (the last round), else
    the next free ``Gnn`` — never one in ``reserved`` (codes used earlier in the negotiation), so a
    removed item's code is not given to a different target."""
    if not isinstance(raw, list) or not raw:
        check.add(key, "请至少填写一项个性指标")
        return []
    if len(raw) > MAX_ITEMS:
        check.add(key, f"个性指标最多 {MAX_ITEMS} 项")
        return []
    departments = dict(
        db.session.execute(select(Department.id, Department.name).where(Department.unit_id == unit.id)).all()
    )
    starts, ends = cycles.cycle_bounds(cycle)
    items: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        prefix = f"{key}-{index}"
        if not isinstance(entry, Mapping):
            check.add(prefix, f"第 {index + 1} 项格式错误")
            continue
        name = entry.get("name")
        label = f"第 {index + 1} 项" + (f"“{name.strip()[:20]}”" if isinstance(name, str) and name.strip() else "")
        item: dict[str, Any] = {}
        for field, limit in _TEXT_LIMITS.items():
            value = entry.get(field)
            if value is None:
                value = ""
            if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
                check.add(f"{prefix}-{field}", f"{label}：{ITEM_FIELDS[field]}应为文本")
                continue
            value = str(value).strip()
            if not value:
                check.add(f"{prefix}-{field}", f"{label}：请填写{ITEM_FIELDS[field]}")
            elif len(value) > limit:
                check.add(f"{prefix}-{field}", f"{label}：{ITEM_FIELDS[field]}不能超过 {limit} 字")
            item[field] = value
        code = entry.get("code")
        code = code.strip() if isinstance(code, str) else ""
        if code and not CODE.match(code):
            check.add(f"{prefix}-code", f"{label}：编号只能包含字母、数字和 . _ -（最多 32 位）")
        item["code"] = code
        points = check.decimal(f"{prefix}-points", f"{label}：分值", entry.get("points"), maximum=Decimal(100))
        if points is not None and points <= 0:
            check.add(f"{prefix}-points", f"{label}：分值应大于 0")
        valid = points is not None and f"{prefix}-points" not in check.errors
        item["points"] = _cent(points) if valid and points is not None else None
        department = entry.get("department_id")
        try:
            department_id = int(department) if not isinstance(department, bool) else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            department_id = None
        if department in (None, "") or department_id is None:
            check.add(f"{prefix}-department_id", f"{label}：请选择责任科室")
        elif department_id not in departments:
            check.add(f"{prefix}-department_id", f"{label}：责任科室不是本单位的科室")
        item["department_id"] = department_id
        deadline = entry.get("deadline")
        parsed = None
        if isinstance(deadline, dt.date) and not isinstance(deadline, dt.datetime):
            parsed = deadline
        elif isinstance(deadline, str) and deadline.strip():
            try:
                parsed = dt.date.fromisoformat(deadline.strip())
            except ValueError:
                check.add(f"{prefix}-deadline", f"{label}：完成时限格式应为 YYYY-MM-DD")
        else:
            check.add(f"{prefix}-deadline", f"{label}：请填写完成时限")
        if parsed is not None and not starts <= parsed <= ends:
            check.add(f"{prefix}-deadline", f"{label}：完成时限应在考核期间（{starts} 至 {ends}）内")
        item["deadline"] = parsed.isoformat() if parsed else None
        items.append(item)
    used = [i["code"] for i in items if i["code"]]
    duplicates = sorted({c for c in used if used.count(c) > 1})
    for index, item in enumerate(items):
        if item["code"] in duplicates:
            check.add(f"{key}-{index}-code", f"第 {index + 1} 项：编号 {item['code']} 重复")
    reserved_codes = [*reserved, *used]
    by_name = {p.get("name"): p.get("code") for p in previous if p.get("code")}
    for item in items:
        if not item["code"]:
            code = by_name.get(item.get("name"))
            item["code"] = code if code and code not in used else next_code(reserved_codes)
            used.append(item["code"])
            reserved_codes.append(item["code"])
    expected = cycles.weight(cycle, "individual")
    if items and all(i.get("points") for i in items) and not any(k.startswith(f"{key}-") for k in check.errors):
        total = sum((Decimal(i["points"]) for i in items), Decimal(0))
        if total != expected:
            check.add(key, f"个性指标分值合计为 {_cent(total)}，应等于考核设置中的个性指标分值 {_cent(expected)}")
    return [{field: item.get(field) for field in ITEM_FIELDS} for item in items]


def check_individual_items(
    cycle: Cycle,
    unit: Unit,
    raw: Any,
    *,
    reserved: Iterable[str] = (),
    previous: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """``collect_individual_items`` that raises ValidationFailed with every field error."""
    check = Checker({})
    items = collect_individual_items(cycle, unit, raw, check, reserved=reserved, previous=previous)
    check.raise_if_any()
    return items


def issue_individual(cycle: Cycle, unit: Unit, version: TargetVersion) -> list[Indicator]:
    """Create the unit's individual indicators from its issued (下达) target version, frozen from now on."""
    if individual_indicators(cycle, unit.id):
        raise Conflict(f"{unit.name} 本年度已有个性指标，不能重复下达")
    rows = []
    for order, item in enumerate(version.items, start=1):
        row = Indicator(
            cycle_id=cycle.id,
            unit_id=unit.id,
            part="individual",
            code=item["code"],
            name=item["name"],
            points=Decimal(item["points"]),
            target_value=item["target_value"],
            measure_unit=item["measure_unit"],
            scoring_rule=item["scoring_rule"],
            lead_name=item["lead_name"],
            department_id=item["department_id"],
            responsible_name=item["responsible_name"],
            deadline=dt.date.fromisoformat(item["deadline"]) if item.get("deadline") else None,
            sort_order=order,
            version_id=version.id,
            issued_at=version.created_at,
            created_at=version.created_at,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return rows


def items_total(items: Iterable[Mapping[str, Any]]) -> Decimal:
    return sum((Decimal(str(i.get("points") or 0)) for i in items), Decimal(0))


def indicator_or_404(indicator_id: int) -> Indicator:
    row = db.session.get(Indicator, indicator_id)
    if row is None:
        raise NotFound("指标不存在")
    return row
