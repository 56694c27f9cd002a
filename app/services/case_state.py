"""Persistence of running cases: the instance cache, loading, and mirroring an instance into rows.

``sync`` is the hot path of every step: a few Core statements (close stale rows, insert new ones,
one versioned UPDATE of the case) instead of a unit-of-work flush. ``app.services.cases`` is the
public API; this module is its storage half (split off to keep each module small).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from app import clock, engine
from app.database import STATEMENT_COUNT, adopt, core
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models import Case, HumanTask, ProcessDefinition, RoleAssignment, Timer, UnitClosure, User
from app.services import step_writes

_DURATION = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")


def parse_duration(value: str | None) -> dt.timedelta | None:
    """ISO-8601 durations as used in task properties (PnW, PnD, PTnH, PTnM)."""
    if not value:
        return None
    match = _DURATION.match(value.strip().upper())
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return dt.timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"])


def process_of(definition: ProcessDefinition) -> engine.ParsedProcess:
    return engine.cached_process(definition.id, definition.key, definition.bpmn_xml)


def latest_definition(process_key: str) -> ProcessDefinition:
    definition = db.session.scalar(_LATEST_DEFINITION, {"process_key": process_key})
    if definition is None:
        raise NotFound(f"流程 {process_key} 尚未部署")
    return definition


_LATEST_DEFINITION = select(ProcessDefinition).where(
    ProcessDefinition.key == bindparam("process_key"), ProcessDefinition.is_latest.is_(True)
)


class _InstanceCache:
    """Deserialised instances of recently worked cases, keyed by case id and checked against the
    stored state string: an entry is used only when the row holds exactly the state it was dumped
    to, so a rolled-back transaction or a change made by another process is never reused. An entry
    is taken out while in use (one holder at a time) and put back after its state is dumped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[str, engine.Instance]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: int, state: str) -> engine.Instance | None:
        with self._lock:
            item = self._items.pop(case_id, None)
        if item is None or item[0] != state:
            return None
        return item[1]

    def put(self, case_id: int, state: str, instance: engine.Instance) -> None:
        with self._lock:
            self._items[case_id] = (state, instance)
            self._items.move_to_end(case_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


instances = _InstanceCache(size=512)


def load_instance(case: Case) -> engine.Instance:
    """The case's instance (from the cache when it holds exactly the stored state). The caller
    owns it until ``sync`` stores it (or ``give_back`` when it only read it)."""
    cached = instances.take(case.id, case.state)
    if cached is not None:
        return cached
    parsed = engine._spec_cache.get((case.definition_id, case.process_key))
    if parsed is None:
        parsed = process_of(case.definition)
    try:
        return engine.Instance.load(parsed, case.state, case.serializer_version)
    except engine.EngineError as exc:
        raise DomainError(f"案件 {case.id} 的流程状态无法恢复: {exc}") from exc


def give_back(case: Case, instance: engine.Instance) -> None:
    """Return an instance that was only read (its state is still the stored one) to the cache."""
    if not instance.completed:
        instances.put(case.id, case.state, instance)


case_table = cast(Table, Case.__table__)
EVENT_INSERT = step_writes.EVENT_INSERT
TASK_INSERT = step_writes.TASK_INSERT
_OPEN_AFTER_SYNC = "open_tasks_after_sync"  # session.info key, see ``open_tasks``


def event_row(
    case: Case, action: str, *, user_id: int | None, task_id: int | None, step: str | None,
    comment: str | None = None, data: dict[str, Any] | None = None, now: dt.datetime,
) -> dict[str, Any]:
    """A ``case_event`` row (history) as the parameters of its INSERT."""
    return {"case_id": case.id, "task_id": task_id, "user_id": user_id, "action": action, "step": step,
            "comment": comment, "data": data, "created_at": now}


def record_fast(
    case: Case, action: str, *, user_id: int | None, task_id: int | None, step: str | None,
    comment: str | None = None, data: dict[str, Any] | None = None, now: dt.datetime,
) -> None:
    """``cases.record`` as one Core INSERT (the hot path of every completion; no unit-of-work)."""
    core(EVENT_INSERT, event_row(case, action, user_id=user_id, task_id=task_id, step=step, comment=comment,
                                 data=data, now=now))


def close_values(
    status: str, now: dt.datetime, *, completed_by_id: int | None = None, outcome: str | None = None,
    acting_for_id: int | None = None,
) -> dict[str, Any]:
    """The SET values closing open task rows (completed/cancelled/returned)."""
    values: dict[str, Any] = {"status": status, "completed_at": now}
    if completed_by_id is not None:
        values.update(completed_by_id=completed_by_id, outcome=outcome)
    if acting_for_id is not None:
        values["acting_for_id"] = acting_for_id
    return values


def mark_closed(tasks: list[HumanTask], values: dict[str, Any]) -> None:
    """Keep loaded task objects in step with the UPDATE that closes them."""
    for task in tasks:
        for key, value in values.items():
            set_committed_value(task, key, value)


def close_tasks(
    tasks: list[HumanTask], status: str, now: dt.datetime, *, completed_by_id: int | None = None,
    outcome: str | None = None, acting_for_id: int | None = None,
) -> None:
    """Mark open task rows completed/cancelled/returned with one UPDATE; keeps the loaded objects in step."""
    if not tasks:
        return
    values = close_values(status, now, completed_by_id=completed_by_id, outcome=outcome, acting_for_id=acting_for_id)
    if len(tasks) == 1:  # the usual case: a plain statement (an expanding IN is re-rendered each time)
        core(step_writes.CLOSE_ONE, {**values, "close_id": tasks[0].id})
    else:
        core(step_writes.CLOSE_MANY, {**values, "close_ids": [t.id for t in tasks]})
    mark_closed(tasks, values)


def touch(case: Case) -> None:
    """Bump the case's version without touching its state (an operation that changed only task
    rows): the same optimistic check as ``sync``, so two writers never both apply."""
    if case in db.session.dirty or db.session.new:
        db.session.flush()
    result = db.session.execute(
        update(case_table)
        .where(case_table.c.id == case.id, case_table.c.lock_version == case.lock_version)
        .values(lock_version=case.lock_version + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("案件已被他人更新，请刷新后重试")
    set_committed_value(case, "lock_version", case.lock_version + 1)


def role_holder_ids(role: str, unit_id: int) -> list[int]:
    """Active users holding ``role`` at ``unit_id`` or an ancestor, by id."""
    return list(
        db.session.scalars(
            select(RoleAssignment.user_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(  # ancestors first, then (role, unit) index probes (see letters._people)
                RoleAssignment.role == role,
                RoleAssignment.unit_id.in_(select(UnitClosure.ancestor_id).where(UnitClosure.descendant_id == unit_id)),
                User.active.is_(True),
            )
            .distinct()
            .order_by(RoleAssignment.user_id)
        )
    )


def task_row(
    case_id: int, unit_id: int, view: engine.UserTaskView, now: dt.datetime, assignee: int | None = None
) -> dict[str, Any]:
    """The inbox row of READY user task ``view`` (the lane is the role, in the scope of the case's unit)."""
    if not view.lane:
        raise DomainError(f"流程步骤 {view.name} 没有泳道(角色)，无法分派")
    due = parse_duration(view.properties.get("due"))
    return {
        "case_id": case_id, "spiff_task_id": view.id, "step": view.step, "name": view.name,
        "role": view.lane, "unit_id": unit_id, "assignee_id": assignee,
        "form_key": view.properties.get("form"), "status": "open", "created_at": now,
        "due_at": now + due if due else None, "completed_at": None, "completed_by_id": None, "outcome": None,
        "kind": "task",
    }


def current_step(views: list[engine.UserTaskView]) -> str | None:
    return "、".join(v.name for v in views)[:200] or None


def sync(
    case: Case, instance: engine.Instance, open_tasks: list[HumanTask] | None = None, *,
    stale_status: str = "cancelled", writes: step_writes.StepWrites | None = None,
) -> list[dict[str, Any]]:
    """Mirror READY user tasks and waiting timers; store the state; bump the version.

    Rows of tasks no longer READY get ``stale_status``. A step whose ``countersign`` property is
    ``all`` gets one row per candidate (会签). ``writes``: the caller's writes of this step (closing
    the completed row, its history), sent with these (``step_writes``: one statement on
    PostgreSQL). Returns the inserted rows (as dicts, without ids).
    """
    writes = writes or step_writes.StepWrites()
    now = clock.now()
    if case in db.session.dirty or db.session.new:
        db.session.flush()  # domain rows and any ORM change to the case go first
    if open_tasks is None:
        open_tasks = list(
            db.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
        )
    ready = instance.ready_user_tasks()
    ready_ids = {t.id for t in ready}
    known = {t.spiff_task_id for t in open_tasks}
    stale = [t for t in open_tasks if t.spiff_task_id not in ready_ids]
    if stale:
        closing = close_values(stale_status, now)
        writes.closes.append(([t.id for t in stale], closing))
        mark_closed(stale, closing)
    new_rows: list[dict[str, Any]] = []
    for view in ready:
        if view.id in known:
            continue
        assignee_var = view.properties.get("assignee")
        assignee = instance.task_data(view.id).get(assignee_var) if assignee_var else None
        if assignee_var and not isinstance(assignee, int):
            raise DomainError(f"流程步骤 {view.name} 的办理人变量 {assignee_var} 未设置")
        row = task_row(case.id, case.unit_id, view, now, assignee)
        if assignee is None and view.properties.get("countersign", "").strip().lower() == "all":
            holders = role_holder_ids(row["role"], case.unit_id)
            if holders:
                new_rows.extend({**row, "kind": "countersign", "assignee_id": uid} for uid in holders)
                continue
        new_rows.append(row)
    writes.new_tasks.extend(new_rows)
    has_timers = sync_timers(case, instance)
    state = instance.dumps()
    values: dict[str, Any] = {
        "state": state,
        "serializer_version": engine.SERIALIZER_VERSION,
        "current_step": current_step(ready),
        "has_pending_timers": has_timers,
        "lock_version": case.lock_version + 1,
    }
    ended = instance.completed and case.status == "running"
    if ended:
        values.update(status="completed", completed_at=now)
        writes.events_after.append(event_row(case, "end", user_id=None, task_id=None, step="流程结束", now=now))
    writes.store = values
    new_ids, stored = step_writes.run(writes, case.id, case.lock_version)
    if stored != 1:
        raise Conflict("案件已被他人更新，请刷新后重试")
    for key, value in values.items():
        set_committed_value(case, key, value)
    if not instance.completed:
        instances.put(case.id, state, instance)
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict("案件已被他人更新，请刷新后重试") from exc
    still_open = [t for t in open_tasks if t.status == "open"]
    db.session.info.setdefault(_OPEN_AFTER_SYNC, {})[case.id] = (
        statements_so_far(), case.lock_version, still_open, list(zip(new_ids, writes.new_tasks, strict=True)),
    )
    return new_rows


def statements_so_far() -> int:
    """Statements run on the session's connection (counted by ``app.database``)."""
    return int(db.session.connection().info.get(STATEMENT_COUNT, 0))


def open_tasks(case: Case) -> list[HumanTask]:
    """The case's open task rows by id. Right after ``sync`` — no statement run since on this
    connection, the case's version unchanged — they are known without a query: the rows it kept
    open and the ones it inserted. Otherwise (or after the transaction ended) from the table."""
    known = db.session.info.get(_OPEN_AFTER_SYNC, {}).get(case.id)
    if known is None or known[0] != statements_so_far() or known[1] != case.lock_version:
        return list(db.session.scalars(_OPEN_TASKS, {"case_id": case.id}))
    _, _, kept, inserted = known
    made = []
    for task_id, row in inserted:
        task = db.session.identity_map.get(identity_key(HumanTask, task_id))
        if task is None:  # the row as a persistent object, without loading it
            task = HumanTask(id=task_id, parent_task_id=None, delegated_to_id=None, acting_for_id=None, note=None,
                             **row)
            adopt(task)
        made.append(task)
    return sorted([t for t in kept if t.status == "open"] + made, key=lambda t: t.id)


_OPEN_TASKS = (
    select(HumanTask)
    .where(HumanTask.case_id == bindparam("case_id"), HumanTask.status == "open")
    .order_by(HumanTask.id)
)


BEGUN_TASK = "begun_task"  # session.info key, see ``cases.begin_task``


@event.listens_for(Session, "after_transaction_end")
def _forget_open_tasks(session: Session, _transaction: Any) -> None:
    session.info.pop(_OPEN_AFTER_SYNC, None)
    session.info.pop(BEGUN_TASK, None)


def sync_timers(case: Case, instance: engine.Instance) -> bool:
    """Register, re-time or cancel Timer rows; returns whether the case waits on a timer."""
    waiting = {t.id: t for t in instance.waiting_timers()}
    pending: list[Timer] = []
    if waiting or case.has_pending_timers:
        pending = list(db.session.scalars(select(Timer).where(Timer.case_id == case.id, Timer.status == "pending")))
    for timer in pending:
        if timer.spiff_task_id not in waiting:
            timer.status = "cancelled"
        else:
            timer.due_at = waiting.pop(timer.spiff_task_id).due_at
    for view in waiting.values():
        db.session.add(Timer(case_id=case.id, spiff_task_id=view.id, step=view.step, due_at=view.due_at))
    return bool(waiting) or any(t.status == "pending" for t in pending)
