"""Target versions of the 三上三下 negotiation (read side and the one writer of versions).

Every round's complete target set is a ``TargetVersion`` (append-only; a DB trigger refuses any
UPDATE or DELETE). Its ``sha256`` is the digest of the canonical JSON of ``{"items", "tier"}``
(keys sorted, no whitespace, UTF-8), so equal sets have equal digests and tampering is detected
by ``verify``. ``diff`` compares two versions item by item (matched by code).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import joinedload

from app import clock
from app.database import adopt
from app.errors import NotFound
from app.extensions import db
from app.models import Case, CaseEvent, Cycle, CycleUnit, Department, HumanTask, TargetVersion, User
from app.models.target import STAGES, TIERS
from app.services import cycles
from app.services.catalogue import ITEM_FIELDS

PROCESS_KEY = "target_negotiation"
# The stage each BPMN step belongs to (for the board and the history).
STEP_STAGE = {
    "propose": "up1",
    "submit_proposal": "up1",
    "office_review": "down1",
    "revise": "up2",
    "supervisor_opinion": "down2",
    "finalize": "down2",
    "confirm": "up3",
    "committee_approval": "down3",
    "issue": "down3",
}


def canonical_json(items: Sequence[Mapping[str, Any]], tier: str | None) -> str:
    return json.dumps({"items": list(items), "tier": tier}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(items: Sequence[Mapping[str, Any]], tier: str | None) -> str:
    return hashlib.sha256(canonical_json(items, tier).encode("utf-8")).hexdigest()


def verify(version: TargetVersion) -> bool:
    """Whether the stored items and tier still match the stored digest."""
    return digest(version.items, version.tier) == version.sha256


def add_version(
    case: Case, stage: str, items: Sequence[Mapping[str, Any]], *, tier: str | None, note: str | None, actor: User,
    previous: TargetVersion | None,
) -> TargetVersion:
    """Append the next version after ``previous`` (the case's latest, read under the case lock;
    None for the first). The unique (case, number) constraint refuses a stale ``previous``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage}")
    if previous is not None and previous.case_id != case.id:
        raise ValueError("previous version belongs to another case")
    number = previous.number + 1 if previous is not None else 1
    stored = [dict(item) for item in items]
    values = {
        "case_id": case.id, "cycle_id": case.cycle_id, "unit_id": case.unit_id, "number": number, "stage": stage,
        "items": stored, "tier": tier, "note": note or None, "sha256": digest(stored, tier),
        "created_by_id": actor.id, "created_at": clock.now(),
    }
    # one prebuilt INSERT … RETURNING id, then the row as a persistent object (no unit-of-work flush)
    new_id = db.session.execute(_VERSION_INSERT, values).scalar_one()
    version = TargetVersion(id=new_id, **values)
    adopt(version)
    return version


_VERSION_INSERT = cast(Table, TargetVersion.__table__).insert().returning(cast(Table, TargetVersion.__table__).c.id)
_LATEST_VERSION = (
    select(TargetVersion)
    .where(TargetVersion.case_id == bindparam("case_id"))
    .order_by(TargetVersion.number.desc())
    .limit(1)
)
_VERSIONS = select(TargetVersion).where(TargetVersion.case_id == bindparam("case_id")).order_by(TargetVersion.number)
_VERSIONS_WITH_AUTHORS = _VERSIONS.options(joinedload(TargetVersion.created_by))


def versions(case: Case, *, with_authors: bool = True) -> list[TargetVersion]:
    return list(db.session.scalars(_VERSIONS_WITH_AUTHORS if with_authors else _VERSIONS, {"case_id": case.id}))


def latest_version(case: Case) -> TargetVersion | None:
    return db.session.scalar(_LATEST_VERSION, {"case_id": case.id})


def version_number(case: Case, number: int) -> TargetVersion:
    row = db.session.scalar(
        select(TargetVersion).where(TargetVersion.case_id == case.id, TargetVersion.number == number)
    )
    if row is None:
        raise NotFound(f"第 {number} 版目标不存在")
    return row


def used_codes(case: Case) -> set[str]:
    return codes_of(versions(case, with_authors=False))


def codes_of(history: Sequence[TargetVersion]) -> set[str]:
    """Every item code used by any of the versions (codes are never reused within a negotiation)."""
    return {item.get("code", "") for v in history for item in v.items}


def department_names(unit_id: int) -> dict[int, str]:
    return dict(db.session.execute(select(Department.id, Department.name).where(Department.unit_id == unit_id)).all())


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: Any
    new: Any


@dataclass
class ItemChange:
    code: str
    name: str
    changes: list[FieldChange]


@dataclass
class Diff:
    a: TargetVersion
    b: TargetVersion
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ItemChange] = field(default_factory=list)
    unchanged: int = 0
    tier: tuple[str | None, str | None] | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.tier)


def diff(version_a: TargetVersion, version_b: TargetVersion) -> Diff:
    """What changed from ``version_a`` to ``version_b``: items added, removed (by code) and changed
    (field by field, in ITEM_FIELDS order), and the tier."""
    result = Diff(version_a, version_b)
    old = {i["code"]: i for i in version_a.items}
    new = {i["code"]: i for i in version_b.items}
    for code, item in new.items():
        if code not in old:
            result.added.append(item)
            continue
        before = old[code]
        changes = [
            FieldChange(name, label, before.get(name), item.get(name))
            for name, label in ITEM_FIELDS.items()
            if name != "code" and before.get(name) != item.get(name)
        ]
        if changes:
            result.changed.append(ItemChange(code, item.get("name") or before.get("name") or code, changes))
        else:
            result.unchanged += 1
    result.removed = [item for code, item in old.items() if code not in new]
    if version_a.tier != version_b.tier:
        result.tier = (version_a.tier, version_b.tier)
    return result


# --------------------------------------------------------------------------- case lookups


def negotiation_case(cycle_unit: CycleUnit) -> Case | None:
    """The unit's live negotiation (running or completed) of the cycle, if any."""
    return db.session.scalar(
        select(Case)
        .where(
            Case.process_key == PROCESS_KEY,
            Case.subject_type == "cycle_unit",
            Case.subject_id == cycle_unit.id,
            Case.status != "cancelled",
        )
        .order_by(Case.id.desc())
        .limit(1)
    )


def cycle_unit_of(case: Case) -> CycleUnit:
    row = db.session.get(CycleUnit, case.subject_id) if case.subject_type == "cycle_unit" else None
    if row is None or case.process_key != PROCESS_KEY:
        raise NotFound("该案件不是目标协商案件")
    return row


# --------------------------------------------------------------------------- board


def board_tasks(case: Case) -> list[HumanTask]:
    """The case's open tasks (its current step)."""
    return list(
        db.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open").order_by(HumanTask.id)
        )
    )


@dataclass
class BoardRow:
    participant: CycleUnit
    case: Case | None
    stage: str | None  # a STAGES code, "issued", or None (not started)
    open_steps: list[str]
    overdue: bool
    versions: int

    @property
    def stage_label(self) -> str:
        if self.case is None:
            return "未启动"
        if self.stage == "issued":
            return "已下达"
        return STAGES.get(self.stage or "", self.case.current_step or "—")


def board(cycle: Cycle) -> list[BoardRow]:
    """Each participant's negotiation stage — four queries whatever the number of units."""
    rows = cycles.participants(cycle)
    case_rows = db.session.scalars(
        select(Case)
        .where(Case.process_key == PROCESS_KEY, Case.cycle_id == cycle.id, Case.status != "cancelled")
        .order_by(Case.id)
    ).all()
    by_subject = {c.subject_id: c for c in case_rows}
    ids = [c.id for c in case_rows]
    open_tasks: dict[int, list[HumanTask]] = {}
    counts: dict[int, int] = {}
    if ids:
        for task in db.session.scalars(select(HumanTask).where(HumanTask.case_id.in_(ids), HumanTask.status == "open")):
            open_tasks.setdefault(task.case_id, []).append(task)
        counts = dict(
            db.session.execute(
                select(TargetVersion.case_id, func.count()).where(TargetVersion.case_id.in_(ids)).group_by(
                    TargetVersion.case_id
                )
            ).all()
        )
    out = []
    for cu in rows:
        case = by_subject.get(cu.id)
        tasks = open_tasks.get(case.id, []) if case else []
        if case is None:
            stage = None
        elif case.status == "completed":
            stage = "issued"
        else:
            stage = STEP_STAGE.get(tasks[0].step) if tasks else None
        out.append(
            BoardRow(
                participant=cu,
                case=case,
                stage=stage,
                open_steps=[t.name for t in tasks],
                overdue=any(t.is_overdue for t in tasks),
                versions=counts.get(case.id, 0) if case else 0,
            )
        )
    return out


# --------------------------------------------------------------------------- task-page context


@dataclass
class Feedback:
    at: dt.datetime
    actor: str
    step: str | None
    action: str
    text: str


@dataclass
class NegotiationView:
    """What a negotiation step's page shows beside its form."""

    case: Case
    cycle: Cycle
    participant: CycleUnit
    latest: TargetVersion | None
    previous: TargetVersion | None
    departments: dict[int, str]
    feedback: list[Feedback]
    last_return: Feedback | None
    last_opinion: Feedback | None
    weights: dict[str, Any]
    bounds: tuple[dt.date, dt.date]
    tiers: dict[str, str] = field(default_factory=lambda: dict(TIERS))

    def department(self, department_id: Any) -> str:
        try:
            return self.departments.get(int(department_id), "（未知科室）")
        except (TypeError, ValueError):
            return "—"


RETURN_ACTIONS = ("return", "object")


def view(case: Case) -> NegotiationView:
    cycle_unit = cycle_unit_of(case)
    cycle = db.session.get(Cycle, case.cycle_id)
    assert cycle is not None
    rounds = versions(case)
    events = db.session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.comment.is_not(None))
        .options(joinedload(CaseEvent.user))
        .order_by(CaseEvent.created_at.desc(), CaseEvent.id.desc())
    ).all()
    feedback = [
        Feedback(e.created_at, e.user.display_name if e.user else "系统", e.step, e.action, e.comment or "")
        for e in events
    ]
    last_return = next((f for f in feedback if f.action in RETURN_ACTIONS), None)
    last_opinion = next((f for f in feedback if f.action == "opinion"), None)
    return NegotiationView(
        case=case,
        cycle=cycle,
        participant=cycle_unit,
        latest=rounds[-1] if rounds else None,
        previous=rounds[-2] if len(rounds) > 1 else None,
        departments=department_names(case.unit_id),
        feedback=feedback,
        last_return=last_return,
        last_opinion=last_opinion,
        weights=cycles.settings_of(cycle)["weights"],
        bounds=cycles.cycle_bounds(cycle),
    )
