"""Upheld appeals: the structured correction, applied as recorded acts, then re-rank and republish.

A correction (``assessment.appeal_decision`` data key ``correction``) holds replacement values;
every key is optional, at least one is required when the appeal is upheld:

    {"common": 27.5, "individual": 45.0,       # replace the scored points of that part
     "satisfaction": 90.0,                     # percent; recorded as a new social evaluation
     "bonus": [1.0], "deductions": [1.0],      # replace the unit's active ledger items of that kind
     "veto": false}                            # record / withdraw the veto item

Ledger replacement pairs the active items (oldest first) with the new values: a differing item
is changed (``ledger.change_item``), surplus items are withdrawn, missing ones are recorded
(``ledger.record_item``, source ``appeal``); a value 0 or an empty list clears the kind.
``common``/``individual`` stay on the appeal (``Appeal.correction``) and ``results.figures``
applies them. Everything says which appeal caused it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Appeal, Case, CaseEvent, Cycle, CycleUnit, EvidenceFile, LedgerItem, Publication, Unit, User
from app.services import ledger, publicity, results, social
from app.services.steps import Checker

KEYS = ("common", "individual", "satisfaction", "bonus", "deductions", "veto")
_LIMITS = {"common": Decimal(200), "individual": Decimal(200), "satisfaction": Decimal(100)}
_KINDS = {"bonus": "bonus", "deductions": "deduction"}


def parse(raw: Any, check: Checker) -> dict[str, Any]:
    """Validate a correction dict; returns {key: Decimal | list[Decimal] | bool} (errors on ``check``)."""
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        check.add("correction", "更正内容格式错误：应为对象")
        return {}
    out: dict[str, Any] = {}
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        check.add("correction", "更正内容含未知项：" + "、".join(unknown))
    for key in ("common", "individual", "satisfaction"):
        if raw.get(key) in (None, ""):
            continue
        value = check.decimal(f"correction-{key}", _label(key), raw[key], minimum=Decimal(0), maximum=_LIMITS[key])
        if value is not None:
            out[key] = value
    for key in ("bonus", "deductions"):
        if key not in raw or raw[key] is None:
            continue
        items = raw[key]
        if not isinstance(items, list):
            check.add(f"correction-{key}", f"{_label(key)}应为分值列表")
            continue
        values = [
            check.decimal(f"correction-{key}", _label(key), item, minimum=Decimal(0), maximum=ledger.MAX_POINTS)
            for item in items
        ]
        if all(v is not None for v in values):
            out[key] = [v for v in values if v]
    if raw.get("veto") not in (None, ""):
        sub = Checker(raw)
        out["veto"] = sub.boolean("veto", "一票否决")
        for name, messages in sub.errors.items():
            for message in messages:
                check.add(f"correction-{name}", message)
    return out


def _label(key: str) -> str:
    return {"common": "共性指标得分", "individual": "个性指标得分", "satisfaction": "满意率", "bonus": "加分项",
            "deductions": "扣分项", "veto": "一票否决"}[key]


def as_json(correction: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in correction.items():
        if isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def describe(correction: dict[str, Any] | None) -> str:
    """Human-readable summary, e.g. ``扣分项：1.0；满意率：90``."""
    if not correction:
        return ""
    parts = []
    for key in KEYS:
        if key not in correction:
            continue
        value = correction[key]
        if isinstance(value, list):
            text = "、".join(str(v) for v in value) or "无"
        elif isinstance(value, bool):
            text = "是" if value else "否"
        else:
            text = str(value)
        parts.append(f"{_label(key)}：{text}")
    return "；".join(parts)


def _replace_items(cycle: Cycle, unit: Unit, kind: str, values: list[Decimal], appeal: Appeal, actor: User) -> None:
    reason = f"申诉 {appeal.reference} 成立，依裁定更正"
    active = [i for i in ledger.active_items(cycle.id, unit.id) if i.kind == kind]
    for item, value in zip(active, values, strict=False):
        if Decimal(item.points) != value:
            ledger.change_item(item, points=value, reason=reason, actor=actor)
    for item in active[len(values):]:
        ledger.change_item(item, points=None, reason=reason, actor=actor, withdraw=True)
    for value in values[len(active):]:
        ledger.record_item(cycle, unit, kind=kind, points=value, month=f"{cycle.year}-12", reason=reason,
                           actor=actor, source="appeal", source_id=appeal.id)


def _set_veto(cycle: Cycle, unit: Unit, veto: bool, appeal: Appeal, actor: User) -> None:
    reason = f"申诉 {appeal.reference} 成立，依裁定更正"
    active: list[LedgerItem] = [i for i in ledger.active_items(cycle.id, unit.id) if i.kind == "veto"]
    if veto and not active:
        ledger.record_item(cycle, unit, kind="veto", points=Decimal(0), month=f"{cycle.year}-12", reason=reason,
                           actor=actor, source="appeal", source_id=appeal.id)
    if not veto:
        for item in active:
            ledger.change_item(item, points=None, reason=reason, actor=actor, withdraw=True)


def apply(appeal: Appeal, case: Case, correction: dict[str, Any], actor: User) -> Publication | None:
    """Record the correction's acts, then re-rank and republish the group if it is published.

    Sets ``appeal.corrected_total`` to the unit's new total when the group was re-ranked."""
    cycle = db.session.get(Cycle, case.cycle_id) if case.cycle_id else None
    if cycle is None:
        return None
    unit = case.unit
    for key, kind in _KINDS.items():
        if key in correction:
            _replace_items(cycle, unit, kind, correction[key], appeal, actor)
    if "veto" in correction:
        _set_veto(cycle, unit, bool(correction["veto"]), appeal, actor)
    if "satisfaction" in correction:
        social.record_satisfaction(cycle, unit, correction["satisfaction"], actor=actor, source="appeal")
    group_id = db.session.scalar(
        select(CycleUnit.group_id).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit.id)
    )
    if group_id is None:
        return None
    db.session.flush()
    publication = publicity.republish(
        cycle, group_id, reason=f"申诉 {appeal.reference} 成立，更正后重新排名", actor=actor
    )
    if publication is not None:
        row = results.current_of_case(case.id)
        if row is not None:
            appeal.corrected_total = row.total
    return publication


def review_evidence(appeal: Appeal) -> list[EvidenceFile]:
    """Files the office attached to its 复核 of ``appeal``."""
    ids: list[int] = []
    for data in db.session.scalars(
        select(CaseEvent.data).where(CaseEvent.case_id == appeal.case_id, CaseEvent.action == "review")
    ):
        if data and data.get("appeal") == appeal.reference:
            ids.extend(int(i) for i in data.get("file_ids") or [])
    if not ids:
        return []
    return list(db.session.scalars(select(EvidenceFile).where(EvidenceFile.id.in_(ids)).order_by(EvidenceFile.id)))
