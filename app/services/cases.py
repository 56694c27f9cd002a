"""Cases: start a process, work on its user tasks, deliver messages, fire timers.

The protocol for acting on a task is ``ctx = begin_task(task_id, user)`` (locks the case,
checks the task is open and the user may act) → the caller writes its domain rows →
``finish_task(ctx, data, ...)`` (runs the engine, mirrors READY user tasks into
``human_task``, registers timers, appends history, bumps the case version).
Callers never commit; the request edge (or CLI command) does.

Approval operations build on the same protocol (``app.services.operations``): ``begin_task(...,
for_completion=False)`` for an operation on a task; ``finish_task`` knows countersign rows (会签),
co-sign rows (加签) blocking completion, delegation (委派) and proxies (代理, ``TaskContext.acting_for``).
The storage half (instance cache, mirroring rows, timers) lives in ``case_state``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Select, bindparam, exists, select, update

from app import clock, engine
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, RoleAssignment, Timer, UnitClosure, User
from app.services import access, case_start, case_state, step_writes

# The storage half lives in ``case_state``; these names are kept for callers and tests.
parse_duration = case_state.parse_duration
process_of = case_state.process_of
latest_definition = case_state.latest_definition
open_tasks = case_state.open_tasks
_load_instance = case_state.load_instance
_instances = case_state.instances
_record_fast = case_state.record_fast
_close_tasks = case_state.close_tasks
_sync = case_state.sync
_sync_timers = case_state.sync_timers
load_instance = case_state.load_instance
give_back = case_state.give_back
touch = case_state.touch

# Outcomes with which one row of a countersign (会签) step decides the whole step at once.
NEGATIVE_OUTCOMES = frozenset({"return", "reject", "rejected", "rescore"})
_event_extra: ContextVar[dict[str, Any] | None] = ContextVar("case_event_extra", default=None)


@contextmanager
def event_extra(data: dict[str, Any]) -> Iterator[None]:
    """Merge ``data`` into the history event of every completion inside the block (e.g. bulk)."""
    token = _event_extra.set({**(_event_extra.get() or {}), **data})
    try:
        yield
    finally:
        _event_extra.reset(token)


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
    """Start a case of the latest version of ``process_key`` (see ``case_start.start_one``)."""
    item = case_start.CaseStart(
        unit_id=unit_id, title=title, data=data or {}, cycle_id=cycle_id, group_id=group_id, subject=subject,
        parent_case_id=parent_case_id,
    )
    return case_start.start_one(process_key, item, started_by)


# --------------------------------------------------------------------------- tasks


def may_work_on(user: User, task: HumanTask) -> bool:
    """Whether ``user`` is a candidate for ``task``: its assignee (or, with no assignee, holds its
    role in scope), the person it is delegated to, or an active proxy (代理) of a candidate."""
    if task.delegated_to_id is not None and task.delegated_to_id == user.id:
        return True
    if task.assignee_id is not None:
        if task.assignee_id == user.id:
            return True
    elif db.session.scalar(
        select(
            exists()
            .where(RoleAssignment.user_id == user.id, RoleAssignment.role == task.role)
            .where(UnitClosure.ancestor_id == RoleAssignment.unit_id)
            .where(UnitClosure.descendant_id == task.unit_id)
        )
    ):
        return True
    return access.proxy_principal_for(user, task) is not None


@dataclass
class TaskContext:
    case: Case
    task: HumanTask
    user: User
    open_tasks: list[HumanTask]
    _instance: engine.Instance | None = None
    acting_for: int | None = None  # the candidate a proxy (代理) acts for, when not a candidate itself

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


def begin_task(task_id: int, user: User, *, for_completion: bool = True) -> TaskContext:
    """Lock the task's case and check that ``user`` may complete the open task ``task_id``.

    ``for_completion=False`` (approval operations on the task) skips the checks that only block
    completing it: a delegation in progress (委派) and co-signers still to approve (加签).

    Called again for the same task, user and purpose with no statement run on the connection since
    (a view that begins the task to answer 404/403/409, then the step handler it dispatches to), it
    answers the same context: the case is still locked by this transaction and nothing has changed
    in the database. (Unflushed changes to the loaded rows in between are not checked again; no
    caller makes any.) ``finish_task`` forgets the context it consumes, as does any transaction or
    savepoint end.
    """
    begun = db.session.info.get(case_state.BEGUN_TASK)
    if begun is not None and begun[:4] == (task_id, user.id, for_completion, case_state.statements_so_far()):
        return cast(TaskContext, begun[4])
    lock, rows_of_case = _begin_statements()
    case = db.session.scalar(lock, {"begin_task_id": task_id})
    if case is None:
        raise NotFound("任务不存在")
    rows = db.session.execute(
        rows_of_case, {"begin_task_id": task_id, "begin_case_id": case.id, **access.candidate_params(user)}
    ).all()
    found = next(((t, may, pp) for t, may, pp in rows if t.id == task_id), None)
    if found is None:
        raise NotFound("任务不存在")
    task, may, principal = found
    if not may and principal is None:
        raise Forbidden("您无权办理此任务")
    if task.status != "open":
        raise Conflict("该任务已办理，请刷新待办列表")
    open_tasks = [t for t, _, _ in rows if t.status == "open"]
    if for_completion:
        _check_completable(task, user, open_tasks)
    ctx = TaskContext(case=case, task=task, user=user, open_tasks=open_tasks, acting_for=None if may else principal)
    db.session.info[case_state.BEGUN_TASK] = (task_id, user.id, for_completion, case_state.statements_so_far(), ctx)
    return ctx


@lru_cache(maxsize=1)
def _begin_statements() -> tuple[Select[Case], Select[Any]]:
    """begin_task's two statements, built once (building SQL expressions costs more than running them)."""
    task_id, case_id = bindparam("begin_task_id", type_=Integer), bindparam("begin_case_id", type_=Integer)
    lock = (
        select(Case)
        .where(Case.id == select(HumanTask.case_id).where(HumanTask.id == task_id).scalar_subquery())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    may, principal = access.bound_candidate_columns()
    rows = (
        select(HumanTask, may.label("may"), principal.label("pp"))
        .where(HumanTask.case_id == case_id, (HumanTask.status == "open") | (HumanTask.id == task_id))
        .execution_options(populate_existing=True)
    )
    return lock, rows


def _check_completable(task: HumanTask, user: User, open_tasks: list[HumanTask]) -> None:
    if task.delegated_to_id is not None:
        if task.delegated_to_id == user.id:
            raise Conflict("该任务是委派给您协助处理的，请填写处理意见后“处理完毕交回”，由原办理人提交")
        name = task.delegated_to.display_name if task.delegated_to else "他人"
        raise Conflict(f"该任务已委派给 {name} 处理，待其处理完毕交回后方可提交")
    if any(t.kind == "cosign" and t.parent_task_id == task.id for t in open_tasks):
        raise Conflict("加签人尚未全部审批，暂不能提交")


def finish_task(
    ctx: TaskContext,
    data: dict[str, Any],
    *,
    outcome: str,
    comment: str | None = None,
    event_data: dict[str, Any] | None = None,
) -> Case:
    """Complete the locked task in the engine with ``data`` and persist everything.

    A row of a countersign step (会签) that approves while other rows are still open only records
    its approval; the last approval (or any return) completes the step in the engine.
    """
    task = ctx.task
    db.session.info.pop(case_state.BEGUN_TASK, None)  # this context is being used up: never hand it out again
    extra = _event_extra.get()
    if extra or ctx.acting_for is not None:
        event_data = _event_data(ctx, event_data, extra)
    if task.kind == "countersign" and outcome not in NEGATIVE_OUTCOMES:
        pending = [t for t in ctx.open_tasks
                   if t.kind == "countersign" and t.spiff_task_id == task.spiff_task_id and t.id != task.id]
        if pending:
            return _countersign_partial(ctx, outcome, comment, event_data, len(pending))
    if task.kind == "cosign":
        raise Conflict("加签任务请选择同意或退回")
    try:
        ctx.instance.complete(task.spiff_task_id, data)
    except engine.EngineError as exc:
        raise Conflict(f"任务状态已变化: {exc}") from exc
    now = clock.now()
    closing = case_state.close_values("completed", now, completed_by_id=ctx.user.id, outcome=outcome,
                                      acting_for_id=ctx.acting_for)
    case_state.mark_closed([task], closing)
    event = case_state.event_row(ctx.case, outcome, user_id=ctx.user.id, task_id=task.id, step=task.name,
                                 comment=comment, data=event_data, now=now)
    # closing the row and its history go out with the rest of the step's writes (one statement on PG)
    writes = step_writes.StepWrites(closes=[([task.id], closing)], events=[event])
    _sync(ctx.case, ctx.instance, open_tasks=[t for t in ctx.open_tasks if t.id != task.id], writes=writes)
    return ctx.case


def _event_data(ctx: TaskContext, data: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**(data or {}), **(extra or {})}
    if ctx.acting_for is not None:
        principal = db.session.get(User, ctx.acting_for)
        merged.update(on_behalf_of=ctx.acting_for, on_behalf_of_name=principal.display_name if principal else "")
    return merged


def _countersign_partial(
    ctx: TaskContext, outcome: str, comment: str | None, event_data: dict[str, Any] | None, pending: int
) -> Case:
    now = clock.now()
    _close_tasks([ctx.task], "completed", now, completed_by_id=ctx.user.id, outcome=outcome,
                 acting_for_id=ctx.acting_for)
    data = {**(event_data or {}), "countersign_pending": pending}
    _record_fast(ctx.case, outcome, user_id=ctx.user.id, task_id=ctx.task.id, step=ctx.task.name,
                 comment=comment, data=data, now=now)
    touch(ctx.case)
    return ctx.case


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


# --------------------------------------------------------------------------- timers


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
