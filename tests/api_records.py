"""Records for the API read tests and the schemathesis run: a county with an issued unit, letters,
an open assessment, ledger items, current results and notifications (ids start at 1 per test)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.extensions import db
from app.models import LedgerItem, Letter, UnitResult
from app.services import letters, notifications
from tests.factories import IssuedUnit, build_issued_unit, start_assessment


@dataclass
class Records:
    iu: IssuedUnit
    case_id: int
    letters: list[Letter]

    @property
    def county(self):
        return self.iu.county


def _result(cycle_id: int, unit, group_id: int, rank: int, total: str) -> UnitResult:
    value = Decimal(total)
    return UnitResult(
        cycle_id=cycle_id, unit_id=unit.id, group_id=group_id, revision=1, is_current=True,
        common=Decimal("28.50"), individual=Decimal("45.00"), tier="I", satisfaction=Decimal("92.00"),
        social=Decimal("18.40"), bonus=Decimal("1.00"), deductions=Decimal("0.50"), veto=False, total=value,
        rank=rank, grade="A" if rank == 1 else "B", excellent_quota=1, flags=[], reason=None,
    )


def build_records() -> Records:
    iu = build_issued_unit(staff_per_department=1, departments=2)
    county = iu.county
    db.session.commit()
    made = letters.generate_for_unit(iu.cycle_unit, iu.version, county.users["office"])
    db.session.commit()
    case_id = start_assessment(county)
    cycle = county.cycle
    office = county.users["office"]
    db.session.add_all([
        LedgerItem(cycle_id=cycle.id, unit_id=county.school.id, kind="bonus", points=Decimal("1.00"), month="2025-03",
                   reason="省级表彰", recorded_by_id=office.id),
        LedgerItem(cycle_id=cycle.id, unit_id=county.school.id, kind="deduction", points=Decimal("0.50"),
                   month="2025-04", reason="督查通报", recorded_by_id=office.id),
        LedgerItem(cycle_id=cycle.id, unit_id=county.other.id, kind="deduction", points=Decimal("2.00"),
                   month="2025-05", reason="信访问题", recorded_by_id=office.id),
        _result(cycle.id, county.school, county.school.group_id, 1, "93.40"),
        _result(cycle.id, county.other, county.other.group_id, 1, "88.10"),
    ])
    readers = [county.users["officer"].id, county.users["head"].id]
    notifications.notify(readers, "info", "欢迎使用", body="测试消息", link="/tasks")
    db.session.commit()
    return Records(iu, case_id, made)
