"""Cases: start a process, work on its user tasks, deliver messages, fire timers.

The protocol for acting on a task is ``ctx = begin_task(task_id, user)`` (locks the case,
checks the task is open and the user may act) → the caller writes its domain rows →
``finish_task(ctx, data, ...)`` (runs the engine, mirrors READY user tasks into
``human_task``, registers timers, appends history, bumps the case version).
Callers never commit; the request edge (or CLI command) does.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app import clock, engine
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, ProcessDefinition, RoleAssignment, Timer, UnitClosure, User

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


def _load_instance(case: Case) -> engine.Instance:
    cached = _instances.take(case.id, case.state)
    if cached is not None:
        return cached
    parsed = engine._spec_cache.get((case.definition_id, case.process_key))
    if parsed is None:
        parsed = process_of(case.definition)
    try:
        return engine.Instance.load(parsed, case.state, case.serializer_version)
    except engine.EngineError as exc:
        raise DomainError(f"案件 {case.id} 的流程状态无法恢复: {exc}") from exc


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


_instances = _InstanceCache(size=512)


def latest_definition(process_key: str) -> ProcessDefinition:
    definition = db.session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == process_key, ProcessDefinition.is_latest.is_(True))
    )
    if definition is None:
        raise NotFound(f"流程 {process_key} 尚未部署")
    return definition


def record(
    case: Case,
    action: str,
    *,
    user: User | None = None,
    task: HumanTask | None = None,
    step: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    db.session.add(
        CaseEvent(
            case_id=case.id,
            task_id=task.id if task else None,
            user_id=user.id if user else None,
            action=action,
            step=step or (task.name if task else None),
            comment=comment,
            data=data,
            created_at=clock.now(),
        )
    )


def _record_fast(
    case: Case, action: str, *, user_id: int | None, task_id: int | None, step: str | None,
    comment: str | None = None, data: dict[str, Any] | None = None, now: dt.datetime,
) -> None:
    """``record`` as one Core INSERT (the hot path of every completion; no unit-of-work)."""
    db.session.execute(
        _EVENT_INSERT,
        {"case_id": case.id, "task_id": task_id, "user_id": user_id, "action": action, "step": step,
         "comment": comment, "data": data, "created_at": now},
    )


_EVENT_INSERT = CaseEvent.__table__.insert()
_TASK_INSERT = HumanTask.__table__.insert()
_task_table = HumanTask.__table__
_case_table = Case.__table__


def start_case(
    process_key: str,
    *,
    unit_id: int,
    title: str,
    started_by: User | None,
    data: dict[str, Any] | None = None,
    cycle_id: int | None = None,
    group_id: int | None = None,
    subject: tuple[str, int] | None = None,
    parent_case_id: int | None = None,
) -> Case:
    definition = latest_definition(process_key)
    try:
        instance = engine.Instance.start(process_of(definition), data or {})
    except engine.EngineError as exc:
        raise DomainError(f"流程启动失败: {exc}") from exc
    case = Case(
        definition_id=definition.id,
        process_key=process_key,
        title=title,
        unit_id=unit_id,
        cycle_id=cycle_id,
        group_id=group_id,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        parent_case_id=parent_case_id,
        state="{}",
        serializer_version=engine.SERIALIZER_VERSION,
        started_by_id=started_by.id if started_by else None,
        started_at=clock.now(),
    )
    db.session.add(case)
    db.session.flush()
    record(case, "start", user=started_by, step=definition.name)
    _sync(case, instance, open_tasks=[])
    return case


# --------------------------------------------------------------------------- tasks


def may_work_on(user: User, task: HumanTask) -> bool:
    """Whether ``user`` is a candidate for ``task`` (its assignee, or holds its role in scope)."""
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return bool(
        db.session.scalar(
            select(
                exists()
                .where(RoleAssignment.user_id == user.id, RoleAssignment.role == task.role)
                .where(UnitClosure.ancestor_id == RoleAssignment.unit_id)
                .where(UnitClosure.descendant_id == task.unit_id)
            )
        )
    )


@dataclass
class TaskContext:
    case: Case
    task: HumanTask
    user: User
    open_tasks: list[HumanTask]
    _instance: engine.Instance | None = None

    @property
    def instance(self) -> engine.Instance:
        if self._instance is None:
            self._instance = _load_instance(self.case)
        return self._instance


def lock_case(case_id: int) -> Case:
    case = db.session.scalar(
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    )
    if case is None:
        raise NotFound("案件不存在")
    return case


def begin_task(task_id: int, user: User) -> TaskContext:
    """Lock the task's case and check that ``user`` may complete the open task ``task_id``."""
    from app.services.access import task_candidate_clause

    case = db.session.scalar(
        select(Case)
        .where(Case.id == select(HumanTask.case_id).where(HumanTask.id == task_id).scalar_subquery())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise NotFound("任务不存在")
    rows = db.session.execute(
        select(HumanTask, task_candidate_clause(user).label("may"))
        .where(HumanTask.case_id == case.id, (HumanTask.status == "open") | (HumanTask.id == task_id))
        .execution_options(populate_existing=True)
    ).all()
    found = next(((t, may) for t, may in rows if t.id == task_id), None)
    if found is None:
        raise NotFound("任务不存在")
    task, may = found
    if not may:
        raise Forbidden("您无权办理此任务")
    if task.status != "open":
        raise Conflict("该任务已办理，请刷新待办列表")
    return TaskContext(case=case, task=task, user=user, open_tasks=[t for t, _ in rows if t.status == "open"])


def finish_task(
    ctx: TaskContext,
    data: dict[str, Any],
    *,
    outcome: str,
    comment: str | None = None,
    event_data: dict[str, Any] | None = None,
) -> Case:
    """Complete the locked task in the engine with ``data`` and persist everything."""
    try:
        ctx.instance.complete(ctx.task.spiff_task_id, data)
    except engine.EngineError as exc:
        raise Conflict(f"任务状态已变化: {exc}") from exc
    now = clock.now()
    _close_tasks([ctx.task], "completed", now, completed_by_id=ctx.user.id, outcome=outcome)
    _record_fast(ctx.case, outcome, user_id=ctx.user.id, task_id=ctx.task.id, step=ctx.task.name,
                 comment=comment, data=event_data, now=now)
    _sync(ctx.case, ctx.instance, open_tasks=[t for t in ctx.open_tasks if t.id != ctx.task.id])
    return ctx.case


def _close_tasks(
    tasks: list[HumanTask], status: str, now: dt.datetime, *, completed_by_id: int | None = None,
    outcome: str | None = None,
) -> None:
    """Mark open task rows completed/cancelled with one UPDATE; keeps the loaded objects in step."""
    if not tasks:
        return
    values = {"status": status, "completed_at": now}
    if completed_by_id is not None:
        values.update(completed_by_id=completed_by_id, outcome=outcome)
    db.session.execute(
        update(_task_table).where(_task_table.c.id.in_([t.id for t in tasks]), _task_table.c.status == "open")
        .values(**values)
    )
    for task in tasks:
        for key, value in values.items():
            set_committed_value(task, key, value)


def send_message(
    case_id: int,
    name: str,
    payload: dict[str, Any],
    *,
    user: User | None,
    comment: str | None = None,
    event_data: dict[str, Any] | None = None,
) -> Case:
    case = lock_case(case_id)
    instance = _load_instance(case)
    instance.refresh_timers()  # a window that closed on the clock closes now, not at the worker's next run
    if name not in instance.waiting_messages():
        raise Conflict("案件当前不接受该操作")
    instance.send_message(name, payload)
    record(case, f"message:{name}", user=user, comment=comment, data=event_data)
    _sync(case, instance)
    return case


def case_waits_for(case: Case, message: str) -> bool:
    return message_state(case, message) == "waiting"


def message_state(case: Case, message: str) -> str:
    """'waiting' if the case accepts ``message`` now; 'ended' if it has ended or would end as soon
    as its due timers fire (the application clock has passed them); else 'busy'."""
    if case.status != "running":
        return "ended"
    instance = _load_instance(case)
    instance.refresh_timers()
    if instance.completed:
        return "ended"
    return "waiting" if message in instance.waiting_messages() else "busy"


# --------------------------------------------------------------------------- persistence


def _sync(case: Case, instance: engine.Instance, open_tasks: list[HumanTask] | None = None) -> None:
    """Mirror READY user tasks and waiting timers; store the state; bump the version.

    The hot path of every step: a few Core statements (close stale rows, insert new ones,
    one versioned UPDATE of the case) instead of a unit-of-work flush.
    """
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
    _close_tasks([t for t in open_tasks if t.spiff_task_id not in ready_ids], "cancelled", now)
    new_rows = []
    for view in ready:
        if view.id in known:
            continue
        if not view.lane:
            raise DomainError(f"流程步骤 {view.name} 没有泳道(角色)，无法分派")
        due = parse_duration(view.properties.get("due"))
        assignee_var = view.properties.get("assignee")
        assignee = instance.task_data(view.id).get(assignee_var) if assignee_var else None
        if assignee_var and not isinstance(assignee, int):
            raise DomainError(f"流程步骤 {view.name} 的办理人变量 {assignee_var} 未设置")
        new_rows.append({
            "case_id": case.id, "spiff_task_id": view.id, "step": view.step, "name": view.name,
            "role": view.lane, "unit_id": case.unit_id, "assignee_id": assignee,
            "form_key": view.properties.get("form"), "status": "open", "created_at": now,
            "due_at": now + due if due else None, "completed_at": None, "completed_by_id": None, "outcome": None,
        })
    if new_rows:
        db.session.execute(_TASK_INSERT, new_rows)
    has_timers = _sync_timers(case, instance)
    state = instance.dumps()
    values: dict[str, Any] = {
        "state": state,
        "serializer_version": engine.SERIALIZER_VERSION,
        "current_step": "、".join(v.name for v in ready)[:200] or None,
        "has_pending_timers": has_timers,
        "lock_version": case.lock_version + 1,
    }
    ended = instance.completed and case.status == "running"
    if ended:
        values.update(status="completed", completed_at=now)
    result = db.session.execute(
        update(_case_table)
        .where(_case_table.c.id == case.id, _case_table.c.lock_version == case.lock_version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("案件已被他人更新，请刷新后重试")
    for key, value in values.items():
        set_committed_value(case, key, value)
    if ended:
        _record_fast(case, "end", user_id=None, task_id=None, step="流程结束", now=now)
    if not instance.completed:
        _instances.put(case.id, state, instance)
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict("案件已被他人更新，请刷新后重试") from exc


def _sync_timers(case: Case, instance: engine.Instance) -> bool:
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


def due_timers(limit: int = 100) -> list[tuple[int, int]]:
    """(timer id, case id) of pending timers due on the application clock, oldest first."""
    rows = db.session.execute(
        select(Timer.id, Timer.case_id)
        .where(Timer.status == "pending", Timer.due_at <= clock.now())
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    ).all()
    return [(timer_id, case_id) for timer_id, case_id in rows]


def fire_timer(timer_id: int, case_id: int) -> bool:
    """Fire one due timer. Locks the case first (the same order as task completion, so no
    deadlock), skipping a case another worker or request holds; returns whether it fired.
    The caller commits."""
    case = db.session.scalar(
        select(Case).where(Case.id == case_id).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if case is None:
        return False
    timer = db.session.scalar(
        select(Timer).where(Timer.id == timer_id).execution_options(populate_existing=True)
    )
    if timer is None or timer.status != "pending" or timer.due_at > clock.now():
        return False
    instance = _load_instance(case)
    timer.fired_at = clock.now()
    try:
        instance.fire_timer(timer.spiff_task_id)
    except engine.EngineError:
        timer.status = "cancelled"
        return False
    timer.status = "fired"
    record(case, "timer", step=timer.step, comment="定时事件触发")
    _sync(case, instance)
    return True


def fire_due_timers(limit: int = 100) -> int:
    """Fire every due timer in one transaction (tests, scenario runs). The caller commits."""
    return sum(fire_timer(timer_id, case_id) for timer_id, case_id in due_timers(limit))


def cancel_case(case_id: int, user: User, reason: str) -> Case:
    case = lock_case(case_id)
    if case.status != "running":
        raise Conflict("案件已结束")
    now = clock.now()
    db.session.execute(
        update(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.status == "open")
        .values(status="cancelled", completed_at=now)
    )
    db.session.execute(
        update(Timer).where(Timer.case_id == case.id, Timer.status == "pending").values(status="cancelled")
    )
    case.status = "cancelled"
    case.completed_at = now
    record(case, "cancel", user=user, comment=reason)
    return case
