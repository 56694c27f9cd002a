"""Starting cases: one (``start_one``, behind ``cases.start_case``) or many of one process at once
(``start_cases``: one case per letter of a unit, for instance).

A started case is a case row holding the started instance's state, its "start" history event and
its inbox rows. When the first steps need nothing but plain inbox rows these are three prebuilt
INSERTs (for a whole batch as for one case) and the new row becomes a persistent object without a
unit-of-work flush. A start whose first steps need more (会签 rows per role holder, a waiting
timer, an instance that ended at once) takes the general path: insert, then ``case_state.sync``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app import clock, engine
from app.database import adopt, core
from app.errors import DomainError
from app.extensions import db
from app.models import Case, ProcessDefinition, User
from app.services import case_state


@dataclass(frozen=True)
class CaseStart:
    """One case to start: the arguments of ``cases.start_case`` other than the process and starter."""

    unit_id: int
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    cycle_id: int | None = None
    group_id: int | None = None
    subject: tuple[str, int] | None = None
    parent_case_id: int | None = None


_CASE_INSERT = case_state.case_table.insert().returning(case_state.case_table.c.id, sort_by_parameter_order=True)
_CASE_INSERT_ONE = case_state.case_table.insert().returning(case_state.case_table.c.id)


def _plain(instance: engine.Instance, views: list[engine.UserTaskView]) -> bool:
    """Whether the started instance needs nothing beyond one inbox row per READY user task."""
    if instance.completed or instance.waiting_timers():
        return False
    return all(
        view.properties.get("assignee") or view.properties.get("countersign", "").strip().lower() != "all"
        for view in views
    )


def _assignee(instance: engine.Instance, view: engine.UserTaskView) -> int | None:
    variable = view.properties.get("assignee")
    if not variable:
        return None
    assignee = instance.task_data(view.id).get(variable)
    if not isinstance(assignee, int):
        raise DomainError(f"流程步骤 {view.name} 的办理人变量 {variable} 未设置")
    return assignee


def start_cases(process_key: str, items: Sequence[CaseStart], *, started_by: User | None) -> list[int]:
    """Start one case of ``process_key`` per item; returns the case ids in the order of ``items``."""
    if not items:
        return []
    definition = case_state.latest_definition(process_key)
    parsed = case_state.process_of(definition)
    now = clock.now()
    ids: list[int] = [0] * len(items)
    batch: list[tuple[int, engine.Instance, list[engine.UserTaskView], str]] = []
    for index, item in enumerate(items):
        try:
            instance = engine.Instance.start(parsed, dict(item.data))
        except engine.EngineError as exc:
            raise DomainError(f"流程启动失败: {exc}") from exc
        views = instance.ready_user_tasks()
        if not _plain(instance, views):
            ids[index] = _start_general(definition, instance, item, started_by, now).id
            continue
        batch.append((index, instance, views, instance.dumps()))
    if not batch:
        return ids
    started_by_id = started_by.id if started_by else None
    case_rows = [_case_row(definition.id, process_key, items[index], views, state, started_by_id, now)
                 for index, _, views, state in batch]
    new_ids = list(db.session.execute(_CASE_INSERT, case_rows).scalars())
    events: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for case_id, (index, instance, views, state) in zip(new_ids, batch, strict=True):
        ids[index] = case_id
        events.append(_start_event(case_id, definition, started_by_id, now))
        tasks.extend(
            case_state.task_row(case_id, items[index].unit_id, view, now, _assignee(instance, view)) for view in views
        )
        case_state.instances.put(case_id, state, instance)
    db.session.execute(case_state.EVENT_INSERT, events)
    if tasks:
        db.session.execute(case_state.TASK_INSERT, tasks)
    return ids


def _case_row(
    definition_id: int, process_key: str, item: CaseStart, views: list[engine.UserTaskView], state: str,
    started_by_id: int | None, now: dt.datetime,
) -> dict[str, Any]:
    subject_type, subject_id = item.subject if item.subject else (None, None)
    return {
        "definition_id": definition_id, "process_key": process_key, "title": item.title, "unit_id": item.unit_id,
        "cycle_id": item.cycle_id, "group_id": item.group_id, "subject_type": subject_type,
        "subject_id": subject_id, "parent_case_id": item.parent_case_id, "status": "running",
        "current_step": case_state.current_step(views), "state": state,
        "serializer_version": engine.SERIALIZER_VERSION, "lock_version": 1, "has_pending_timers": False,
        "started_by_id": started_by_id, "started_at": now, "completed_at": None,
    }


def start_one(process_key: str, item: CaseStart, started_by: User | None) -> Case:
    """Start one case of the latest version of ``process_key`` and run it to its first user tasks."""
    definition = case_state.latest_definition(process_key)
    try:
        instance = engine.Instance.start(case_state.process_of(definition), dict(item.data))
    except engine.EngineError as exc:
        raise DomainError(f"流程启动失败: {exc}") from exc
    now = clock.now()
    views = instance.ready_user_tasks()
    if not _plain(instance, views):
        return _start_general(definition, instance, item, started_by, now)
    started_by_id = started_by.id if started_by else None
    state = instance.dumps()
    row = _case_row(definition.id, process_key, item, views, state, started_by_id, now)
    case_id = db.session.execute(_CASE_INSERT_ONE, row).scalar_one()
    case = Case(id=case_id, **row)
    adopt(case)  # the row as a persistent object, without a flush
    core(case_state.EVENT_INSERT, _start_event(case_id, definition, started_by_id, now))
    tasks = [case_state.task_row(case_id, item.unit_id, view, now, _assignee(instance, view)) for view in views]
    if tasks:
        core(case_state.TASK_INSERT, tasks)
    case_state.instances.put(case_id, state, instance)
    return case


def _start_event(case_id: int, definition: ProcessDefinition, started_by_id: int | None,
                 now: dt.datetime) -> dict[str, Any]:
    return {"case_id": case_id, "task_id": None, "user_id": started_by_id, "action": "start",
            "step": definition.name, "comment": None, "data": None, "created_at": now}


def _start_general(
    definition: ProcessDefinition, instance: engine.Instance, item: CaseStart, started_by: User | None,
    now: dt.datetime,
) -> Case:
    """Insert the case, then mirror the instance with ``sync`` (会签 rows, timers, an instance that ended)."""
    subject_type, subject_id = item.subject if item.subject else (None, None)
    case = Case(
        definition_id=definition.id, process_key=definition.key, title=item.title, unit_id=item.unit_id,
        cycle_id=item.cycle_id, group_id=item.group_id, subject_type=subject_type, subject_id=subject_id,
        parent_case_id=item.parent_case_id, state="{}", serializer_version=engine.SERIALIZER_VERSION,
        started_by_id=started_by.id if started_by else None, started_at=now,
    )
    db.session.add(case)
    db.session.flush()
    case_state.record_fast(case, "start", user_id=case.started_by_id, task_id=None, step=definition.name, now=now)
    case_state.sync(case, instance, open_tasks=[])
    return case
