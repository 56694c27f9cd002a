"""Committee approval by group and publicity (公示) rounds.

- ``readiness(cycle, group_id) -> Readiness``: which units are at 考核委员会审定 and which not yet.
- ``approve_group(cycle, group, actor, note="") -> Publication``: the committee approves a group's
  ranking. Refused (Conflict, listing the units) unless every unit's assessment case is at (or
  past) committee approval; refused (ValidationFailed) while inputs are missing. Completes each
  open ``committee_approval`` task through ``steps.submit`` (so each case records it), stores a
  ``UnitResult`` revision and opens Publication round 1 (``closes_at`` = the cases' publicity timer).
- ``republish(cycle, group_id, *, reason, actor) -> Publication | None``: after an upheld appeal,
  re-rank the group (new revision) and publish round n+1; the previous round is ``superseded``.
  The window is kept (``closes_at`` of the previous round). None when the group has no publication.
- ``current_publication(cycle_id, group_id, lock=False)``, ``board(cycle) / public_board()``.
- ``after_timers() -> dict``: close rounds whose window passed, finalize complete groups (call it
  after ``cases.fire_due_timers``; ``flask timers run`` does).
- ``file_public_objection(result_id, *, contact_name, contact_phone, reason, client, limit=5)``:
  an objection by the public (no login), rate-limited per client address (``limit`` per hour).
- ``in_publicity()``: cases in publicity that were approved one by one (no publication round).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from app import clock
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Appeal, Case, Cycle, CycleUnit, Group, HumanTask, Publication, Timer, Unit, UnitResult, User
from app.services import access, results, steps, throttle

CLOSED_MESSAGE = "公示期已结束，不再受理申诉"


@dataclass
class Readiness:
    at_committee: list[HumanTask] = field(default_factory=list)  # open committee tasks, by unit code
    passed: list[str] = field(default_factory=list)  # units already past committee approval
    not_ready: list[tuple[str, str]] = field(default_factory=list)  # (unit name, where it is)

    @property
    def ready(self) -> bool:
        return not self.not_ready and bool(self.at_committee or self.passed)


def readiness(cycle: Cycle, group_id: int) -> Readiness:
    members = db.session.execute(
        select(Unit.id, Unit.name)
        .join(CycleUnit, CycleUnit.unit_id == Unit.id)
        .where(CycleUnit.cycle_id == cycle.id, CycleUnit.group_id == group_id)
        .order_by(Unit.code)
    ).all()
    latest = results.latest_cases(cycle, [group_id])
    case_ids = [c for c, _ in latest.values()]
    open_tasks: dict[int, list[HumanTask]] = {}
    if case_ids:
        for task in db.session.scalars(
            select(HumanTask).where(HumanTask.case_id.in_(case_ids), HumanTask.status == "open")
        ):
            open_tasks.setdefault(task.case_id, []).append(task)
    out = Readiness()
    for unit_id, name in members:
        if unit_id not in latest:
            out.not_ready.append((name, "尚未启动年终考核"))
            continue
        case_id, status = latest[unit_id]
        tasks = open_tasks.get(case_id, [])
        committee = [t for t in tasks if t.form_key == "assessment.committee"]
        if committee:
            out.at_committee.append(committee[0])
        elif status == "completed" or all((t.form_key or "").startswith("assessment.appeal_") for t in tasks):
            out.passed.append(name)  # approved on its own earlier: in publicity, appeal or done
        else:
            out.not_ready.append((name, "、".join(t.name for t in tasks) or "处理中"))
    return out


def current_publication(cycle_id: int, group_id: int, *, lock: bool = False) -> Publication | None:
    query = (
        select(Publication)
        .where(Publication.cycle_id == cycle_id, Publication.group_id == group_id, Publication.status != "superseded")
        .order_by(Publication.round.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def _closes_at(cycle: Cycle, group_id: int) -> dt.datetime | None:
    case_ids = [c for c, _ in results.latest_cases(cycle, [group_id]).values()]
    if not case_ids:
        return None
    return db.session.scalar(
        select(func.max(Timer.due_at)).where(Timer.case_id.in_(case_ids), Timer.status == "pending")
    )


def approve_group(cycle: Cycle, group: Group, actor: User, note: str = "") -> Publication:
    if not access.holds_role(actor, "committee"):
        raise Forbidden("只有考核委员会可以审定考核结果")
    existing = current_publication(cycle.id, group.id, lock=True)
    if existing is not None:
        raise Conflict(f"{group.name}的考核结果已审定并公示（第 {existing.round} 轮），不能重复审定")
    state = readiness(cycle, group.id)
    if state.not_ready:
        names = "、".join(f"{name}（{where}）" for name, where in state.not_ready)
        raise Conflict(f"以下单位尚未进入考核委员会审定环节，不能按组审定：{names}")
    if not state.at_committee and not state.passed:
        raise Conflict(f"{group.name}没有待审定的考核结果")
    computed = results.compute_group(cycle, group.id)  # ValidationFailed lists missing inputs
    reason = (note or "").strip() or "考核委员会按组审定通过"
    for task in state.at_committee:
        steps.submit(task, actor, {"decision": "approve", "reason": reason})
    now = clock.now()
    publication = Publication(
        cycle_id=cycle.id, group_id=group.id, round=1, status="open", reason=reason, approved_by_id=actor.id,
        opened_at=now, closes_at=_closes_at(cycle, group.id),
    )
    db.session.add(publication)
    db.session.flush()
    results.store(cycle, group.id, computed, reason=reason, publication=publication)
    return publication


def republish(cycle: Cycle, group_id: int, *, reason: str, actor: User | None) -> Publication | None:
    previous = current_publication(cycle.id, group_id, lock=True)
    if previous is None:
        return None
    if previous.status == "final":
        raise Conflict("该组考核结果已确定并归档；更正须在考评档案中另行记录")
    computed = results.compute_group(cycle, group_id)
    now = clock.now()
    previous.status = "superseded"
    previous.closed_at = previous.closed_at or now
    window_open = previous.closes_at is None or previous.closes_at > now
    publication = Publication(
        cycle_id=cycle.id, group_id=group_id, round=previous.round + 1, status="open" if window_open else "closed",
        reason=reason, approved_by_id=actor.id if actor else None, opened_at=now, closes_at=previous.closes_at,
        closed_at=None if window_open else now,
    )
    db.session.add(publication)
    db.session.flush()
    results.store(cycle, group_id, computed, reason=reason, publication=publication)
    return publication


def window_state(publication: Publication) -> str:
    """'open' (objections accepted), 'closed' (window over, not final yet) or 'final'."""
    if publication.status == "final":
        return "final"
    if publication.status == "open" and (publication.closes_at is None or publication.closes_at > clock.now()):
        return "open"
    return "closed"


WINDOW_LABELS = {"open": "公示中", "closed": "公示期已结束", "final": "结果已确定"}


@dataclass
class PublicGroup:
    publication: Publication
    group: Group
    rows: list[UnitResult]

    @property
    def state(self) -> str:
        return window_state(self.publication)


def board(cycle: Cycle) -> list[PublicGroup]:
    """The current publication round of every group of ``cycle`` with its results."""
    pubs = list(
        db.session.scalars(
            select(Publication)
            .options(joinedload(Publication.group))
            .where(Publication.cycle_id == cycle.id, Publication.status != "superseded")
        )
    )
    rows = results.current(cycle)
    by_pub: dict[int, list[UnitResult]] = {}
    for row in rows:
        if row.publication_id is not None:
            by_pub.setdefault(row.publication_id, []).append(row)
    out = [PublicGroup(p, p.group, by_pub.get(p.id, [])) for p in pubs]
    return sorted(out, key=lambda g: g.group.code)


def public_cycle() -> Cycle | None:
    """The latest cycle that has published anything."""
    return db.session.scalar(
        select(Cycle).join(Publication, Publication.cycle_id == Cycle.id).order_by(Cycle.year.desc()).limit(1)
    )


def public_board() -> tuple[Cycle | None, list[PublicGroup]]:
    cycle = public_cycle()
    return cycle, board(cycle) if cycle else []


def after_timers() -> dict[str, int]:
    """Close rounds whose window passed; finalize groups whose cases have all completed."""
    from app.services import archive

    now = clock.now()
    closed = db.session.execute(
        update(Publication)
        .where(Publication.status == "open", Publication.closes_at.is_not(None), Publication.closes_at <= now)
        .values(status="closed", closed_at=now)
        .execution_options(synchronize_session=False)
    )
    finalized = archive.finalize_ready(actor=None)
    return {"closed": int(getattr(closed, "rowcount", 0) or 0), "finalized": len(finalized)}


def file_public_objection(
    result_id: int, *, contact_name: str, contact_phone: str, reason: str, client: str, limit: int = 5
) -> Appeal:
    """异议 by a member of the public against a published result (no login)."""
    from app.services import assessment

    row = db.session.get(UnitResult, result_id)
    if row is None or not row.is_current or row.publication_id is None or row.case_id is None:
        raise NotFound("该公示结果不存在或已更新，请刷新公示页面")
    publication = db.session.get(Publication, row.publication_id)
    if publication is None or publication.status == "superseded":
        raise NotFound("该公示结果已更新，请刷新公示页面")
    if window_state(publication) != "open":
        raise Conflict(CLOSED_MESSAGE)
    throttle.hit(
        "public_objection", client, limit=limit, window=dt.timedelta(hours=1),
        message=f"提交过于频繁：同一网络地址每小时最多提出 {limit} 次异议，请稍后再试",
    )
    return assessment.file_appeal(
        row.case_id, user=None, kind="public", reason=reason, contact_name=contact_name, contact_phone=contact_phone
    )


@dataclass
class PublishedResult:
    case_id: int
    unit: Unit
    total: Decimal | None
    ends_at: object


def in_publicity() -> list[PublishedResult]:
    """Assessment cases in publicity that are not part of a publication round (approved one by one)."""
    from app.services import assessment

    published = select(UnitResult.case_id).where(UnitResult.is_current.is_(True), UnitResult.case_id.is_not(None))
    rows = db.session.execute(
        select(Case, Unit, Timer.due_at)
        .join(Unit, Unit.id == Case.unit_id)
        .join(Timer, Timer.case_id == Case.id)
        .where(Case.process_key == "assessment", Case.status == "running", Timer.status == "pending",
               Timer.step == "gw_publicity", Case.id.not_in(published))
        .order_by(Unit.code)
    ).all()
    return [PublishedResult(case.id, unit, assessment.total_of(case), due) for case, unit, due in rows]
