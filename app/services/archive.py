"""考评档案: final results, written once per unit and never changed (append-only DB trigger).

- ``finalize_group(cycle, group, actor) -> list[ArchiveRecord]``: idempotent. Refused (Conflict,
  listing units) while any unit's assessment case of the group is still running (publicity
  window open, or an appeal being handled). Writes one record per unit from the current
  ``UnitResult`` (with a SHA-256 digest of its content) and marks the publication ``final``.
  A second call returns the records already written.
- ``finalize_ready(actor=None) -> list[tuple[int, int]]``: finalize every published group whose
  cases have all completed (called by ``publicity.after_timers`` after timers fire).
- ``record_history(unit, year, grade, actor, note=None)`` / ``import_history(year, grades, actor)``:
  grades of earlier years (source ``history``), e.g. ``import_history(2025, {unit_id: ["A", "B"]})``
  writes 2023 → A and 2024 → B.
- ``correct(record, *, note, actor, grade=None, total=None, rank=None, excellent_quota=None,
  flags=None) -> ArchiveRecord``: a later correction is a NEW record (source ``correction``,
  ``supersedes_id``, note); the old one stays as it was.
- ``digest(record) -> str`` and ``verify(record) -> bool``.
- ``unit_history(unit) -> UnitHistory``: archive records and ranked results across years.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select

from app import clock
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import (
    Appeal,
    ArchiveRecord,
    Case,
    Cycle,
    CycleUnit,
    Group,
    Publication,
    Unit,
    UnitResult,
    User,
)
from app.services import publicity

GRADES = {"A": "A（先进）", "B": "B（达标）", "C": "C（落后）"}


def _content(record: ArchiveRecord, unit_code: str) -> dict[str, Any]:
    return {
        "unit": unit_code,
        "year": record.year,
        "cycle_id": record.cycle_id,
        "group": record.group_code,
        "total": f"{Decimal(record.total):.2f}" if record.total is not None else None,
        "rank": record.rank,
        "grade": record.grade,
        "excellent_quota": record.excellent_quota,
        "flags": sorted(record.flags or []),
        "source": record.source,
        "supersedes_id": record.supersedes_id,
        "note": record.note,
    }


def digest(record: ArchiveRecord, unit_code: str | None = None) -> str:
    code = unit_code or db.session.scalar(select(Unit.code).where(Unit.id == record.unit_id)) or ""
    text = json.dumps(_content(record, code), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def verify(record: ArchiveRecord) -> bool:
    return record.digest == digest(record)


def _add(record: ArchiveRecord, unit_code: str) -> ArchiveRecord:
    record.digest = digest(record, unit_code)
    db.session.add(record)
    return record


def pending_units(cycle: Cycle, group_id: int) -> list[str]:
    """Names of the group's units whose assessment case is still running (or has an open appeal)."""
    # the group's units first, then their cases by (unit, cycle, process): a join let SQLite walk
    # every case of the cycle for each group
    units = select(CycleUnit.unit_id).where(CycleUnit.cycle_id == cycle.id, CycleUnit.group_id == group_id)
    running_cases = select(Case.unit_id).where(
        Case.unit_id.in_(units), Case.cycle_id == cycle.id, Case.process_key == "assessment", Case.status == "running"
    )
    appealed_cases = (
        select(Case.unit_id)
        .join(Appeal, Appeal.case_id == Case.id)
        .where(Case.unit_id.in_(units), Case.cycle_id == cycle.id, Appeal.status != "answered")
    )
    running = db.session.scalars(select(Unit.name).where(Unit.id.in_(running_cases))).all()
    appealing = db.session.scalars(select(Unit.name).where(Unit.id.in_(appealed_cases))).all()
    return sorted(set(running) | set(appealing))


def records_of(cycle: Cycle, group_id: int | None = None) -> list[ArchiveRecord]:
    query = select(ArchiveRecord).where(ArchiveRecord.cycle_id == cycle.id, ArchiveRecord.source == "cycle")
    if group_id is not None:
        query = query.where(
            ArchiveRecord.unit_id.in_(
                select(CycleUnit.unit_id).where(CycleUnit.cycle_id == cycle.id, CycleUnit.group_id == group_id)
            )
        )
    return list(db.session.scalars(query.order_by(ArchiveRecord.rank, ArchiveRecord.id)))


def finalize_group(cycle: Cycle, group: Group, actor: User | None) -> list[ArchiveRecord]:
    publication = publicity.current_publication(cycle.id, group.id, lock=True)
    if publication is None:
        raise Conflict(f"{group.name}的考核结果尚未审定公示，不能确定最终结果")
    if publication.status == "final":
        return records_of(cycle, group.id)
    waiting = pending_units(cycle, group.id)
    if waiting:
        raise Conflict(f"以下单位公示期未满或仍有申诉在处理，结果尚不能确定：{'、'.join(waiting)}")
    done = {r.unit_id for r in records_of(cycle, group.id)}
    now = clock.now()
    rows = db.session.execute(
        select(UnitResult, Unit.code)
        .join(Unit, Unit.id == UnitResult.unit_id)
        .where(UnitResult.cycle_id == cycle.id, UnitResult.group_id == group.id, UnitResult.is_current.is_(True))
        .order_by(UnitResult.rank, Unit.code)
    ).all()
    written = []
    for row, code in rows:
        if row.unit_id in done:
            continue
        written.append(_add(ArchiveRecord(
            unit_id=row.unit_id, year=cycle.year, cycle_id=cycle.id, group_code=group.code, total=row.total,
            rank=row.rank, grade=row.grade, excellent_quota=row.excellent_quota, flags=list(row.flags or []),
            source="cycle", archived_by_id=actor.id if actor else None, archived_at=now,
        ), code))
    publication.status = "final"
    publication.closed_at = publication.closed_at or now
    db.session.flush()
    return records_of(cycle, group.id)


def finalize_ready(actor: User | None = None) -> list[tuple[int, int]]:
    """Finalize every current publication whose group has no running case left."""
    candidates = db.session.execute(
        select(Publication.cycle_id, Publication.group_id).where(Publication.status.in_(("open", "closed")))
    ).all()
    if not candidates:
        return []
    busy = set(
        db.session.execute(
            select(CycleUnit.cycle_id, CycleUnit.group_id)
            .join(Case, and_(Case.cycle_id == CycleUnit.cycle_id, Case.unit_id == CycleUnit.unit_id))
            .where(Case.process_key == "assessment", Case.status == "running")
            .distinct()
        ).all()
    )
    done = []
    for cycle_id, group_id in candidates:
        if (cycle_id, group_id) in busy:
            continue
        cycle, group = db.session.get(Cycle, cycle_id), db.session.get(Group, group_id)
        if cycle is None or group is None:
            continue
        try:
            finalize_group(cycle, group, actor)
        except Conflict:
            continue
        done.append((cycle_id, group_id))
    return done


def is_final(cycle: Cycle, group_id: int) -> bool:
    publication = publicity.current_publication(cycle.id, group_id)
    return publication is not None and publication.status == "final"


def record_history(unit: Unit, year: int, grade: str, actor: User | None, note: str | None = None) -> ArchiveRecord:
    if grade not in GRADES:
        raise ValidationFailed("等次应为 A、B 或 C", {"grade": ["等次应为 A、B 或 C"]})
    record = ArchiveRecord(unit_id=unit.id, year=year, grade=grade, flags=[], source="history", note=note,
                           archived_by_id=actor.id if actor else None, archived_at=clock.now())
    _add(record, unit.code)
    db.session.flush()
    return record


def import_history(year: int, grades: dict[int, list[str]], actor: User | None) -> int:
    """Earlier years' grades (oldest first) for many units at once: the last one is ``year - 1``."""
    codes = dict(db.session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(list(grades)))).all())
    count = 0
    now = clock.now()
    for unit_id, items in grades.items():
        for offset, grade in enumerate(items):
            if grade not in GRADES:
                raise ValidationFailed(f"等次应为 A、B 或 C：{grade}", {"grade": ["等次应为 A、B 或 C"]})
            _add(ArchiveRecord(unit_id=unit_id, year=year - len(items) + offset, grade=grade, flags=[],
                               source="history", archived_by_id=actor.id if actor else None, archived_at=now),
                 codes.get(unit_id, ""))
            count += 1
    db.session.flush()
    return count


def correct(
    record: ArchiveRecord,
    *,
    note: str,
    actor: User,
    grade: str | None = None,
    total: Decimal | None = None,
    rank: int | None = None,
    excellent_quota: int | None = None,
    flags: list[str] | None = None,
) -> ArchiveRecord:
    if not (note or "").strip():
        raise ValidationFailed("请填写更正依据", {"note": ["请填写更正依据"]})
    if grade is not None and grade not in GRADES:
        raise ValidationFailed("等次应为 A、B 或 C", {"grade": ["等次应为 A、B 或 C"]})
    newer = db.session.scalar(select(ArchiveRecord.id).where(ArchiveRecord.supersedes_id == record.id).limit(1))
    if newer is not None:
        raise Conflict("该档案记录已有更正记录，请在最新记录上更正")
    unit = db.session.get(Unit, record.unit_id)
    new = ArchiveRecord(
        unit_id=record.unit_id, year=record.year, cycle_id=record.cycle_id, group_code=record.group_code,
        total=total if total is not None else record.total, rank=rank if rank is not None else record.rank,
        grade=grade or record.grade,
        excellent_quota=excellent_quota if excellent_quota is not None else record.excellent_quota,
        flags=sorted(flags) if flags is not None else list(record.flags or []), source="correction",
        supersedes_id=record.id, note=note.strip(), archived_by_id=actor.id, archived_at=clock.now(),
    )
    _add(new, unit.code if unit else "")
    db.session.flush()
    return new


@dataclass
class HistoryRow:
    year: int
    record: ArchiveRecord
    superseded: bool


@dataclass
class UnitHistory:
    unit: Unit
    records: list[HistoryRow]  # newest year first, corrections after what they supersede
    results: list[tuple[Cycle, UnitResult]]  # current ranked result per cycle, newest first

    @property
    def grades(self) -> list[tuple[int, str]]:
        """The valid grade of each archived year, oldest first."""
        return sorted({r.year: r.record.grade for r in sorted(self.records, key=lambda r: r.record.id)
                       if not r.superseded}.items())


def unit_history(unit: Unit) -> UnitHistory:
    records = list(
        db.session.scalars(select(ArchiveRecord).where(ArchiveRecord.unit_id == unit.id).order_by(ArchiveRecord.id))
    )
    superseded = {r.supersedes_id for r in records if r.supersedes_id is not None}
    rows = [HistoryRow(r.year, r, r.id in superseded) for r in records]
    rows.sort(key=lambda h: (-h.year, h.record.id))
    ranked = db.session.execute(
        select(Cycle, UnitResult)
        .join(UnitResult, UnitResult.cycle_id == Cycle.id)
        .where(UnitResult.unit_id == unit.id, UnitResult.is_current.is_(True))
        .order_by(Cycle.year.desc())
    ).all()
    return UnitHistory(unit, rows, [(c, r) for c, r in ranked])
