"""JSON serializers for API v1: plain dicts with ISO-8601 UTC datetimes ("...Z")."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.models import Case, CaseEvent, HumanTask, Unit, User
from app.models.notification import KINDS, Notification
from app.models.user import ROLES
from app.services.steps import FieldSpec


def iso(value: dt.datetime | None) -> str | None:
    """Naive-UTC (storage convention) or aware datetime → ``2025-01-31T08:00:00Z``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def unit(value: Unit) -> dict[str, Any]:
    return {"id": value.id, "code": value.code, "name": value.name}


def me(user: User, roles: list[tuple[str, int, str, str]]) -> dict[str, Any]:
    """/me: the user with their role assignments ``(role, unit id, code, name)``; the user's own unit
    is usually one of the role units (then no second statement)."""
    units = {unit_id: {"id": unit_id, "code": code, "name": name} for _, unit_id, code, name in roles}
    own = None
    if user.unit_id is not None:
        own = units.get(user.unit_id) or (unit(user.unit) if user.unit else None)
    return {
        "id": user.id, "username": user.username, "name": user.display_name, "unit": own,
        "roles": [{"role": role, "unit": units[unit_id]} for role, unit_id, _, _ in roles],
        "is_admin": user.is_admin,
    }


def user_ref(value: User | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"id": value.id, "name": value.display_name}


def task_summary(task: HumanTask) -> dict[str, Any]:
    """One row of the to-do list (``task.case`` and ``task.unit`` are expected to be loaded)."""
    return {
        "id": task.id,
        "name": task.name,
        "step": task.step,
        "process": task.case.process_key,
        "case_id": task.case_id,
        "case_title": task.case.title,
        "unit": unit(task.unit),
        "role": task.role,
        "role_label": ROLES.get(task.role, task.role),
        "created_at": iso(task.created_at),
        "due_at": iso(task.due_at),
        "overdue": task.is_overdue,
    }


def todo_row(row: Any) -> dict[str, Any]:
    """One row of the to-do list from ``inbox.TodoRow`` (the same keys as ``task_summary``)."""
    return {
        "id": row.id,
        "name": row.name,
        "step": row.step,
        "process": row.process_key,
        "case_id": row.case_id,
        "case_title": row.case_title,
        "unit": {"id": row.unit_id, "code": row.unit_code, "name": row.unit_name},
        "role": row.role,
        "role_label": ROLES.get(row.role, row.role),
        "created_at": iso(row.created_at),
        "due_at": iso(row.due_at),
        "overdue": row.is_overdue,
    }


def task_detail(task: HumanTask, fields: list[FieldSpec]) -> dict[str, Any]:
    body = task_summary(task)
    body.update(
        {
            "status": task.status,
            "form_key": task.form_key,
            "completed_at": iso(task.completed_at),
            "completed_by": user_ref(task.completed_by),
            "outcome": task.outcome,
            "fields": [spec.as_dict() for spec in fields],
        }
    )
    return body


def next_task(task: HumanTask) -> dict[str, Any]:
    return {"id": task.id, "name": task.name, "step": task.step, "role": task.role, "due_at": iso(task.due_at)}


def case_item(case: Case) -> dict[str, Any]:
    """One row of a case list (``case.unit`` is expected to be loaded)."""
    return {
        "id": case.id,
        "title": case.title,
        "process": case.process_key,
        "status": case.status,
        "current_step": case.current_step,
        "unit": unit(case.unit),
        "cycle_id": case.cycle_id,
        "started_at": iso(case.started_at),
        "completed_at": iso(case.completed_at),
    }


def case_summary(case: Case, open_tasks: list[HumanTask]) -> dict[str, Any]:
    body = case_item(case)
    body.update({"started_by": user_ref(case.started_by), "open_tasks": [next_task(t) for t in open_tasks]})
    return body


def done_task(task: HumanTask) -> dict[str, Any]:
    body = task_summary(task)
    body.update(
        {
            "status": task.status,
            "outcome": task.outcome,
            "completed_at": iso(task.completed_at),
            "case_status": task.case.status,
        }
    )
    return body


def page(result: Any, serialize: Any, **extra: Any) -> dict[str, Any]:
    """An ``inbox.Page`` as ``{"items", "total", "page", "per_page"}``."""
    return {
        "items": [serialize(item) for item in result.items],
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        **extra,
    }


def facets(value: Any) -> dict[str, Any]:
    return {
        "cycles": [{"id": i, "title": t} for i, t in value.cycles],
        "units": [{"id": i, "name": n} for i, n in value.units],
        "processes": [{"key": k, "name": n} for k, n in value.processes],
        "steps": [{"key": k, "name": n} for k, n in value.steps],
    }


def notification(value: Notification) -> dict[str, Any]:
    return {
        "id": value.id,
        "kind": value.kind,
        "kind_label": KINDS.get(value.kind, value.kind),
        "title": value.title,
        "body": value.body,
        "link": value.link,
        "case_id": value.case_id,
        "task_id": value.task_id,
        "created_at": iso(value.created_at),
        "read_at": iso(value.read_at),
    }


def event(value: CaseEvent) -> dict[str, Any]:
    return {
        "id": value.id,
        "action": value.action,
        "step": value.step,
        "user": user_ref(value.user),
        "comment": value.comment,
        "data": value.data,
        "created_at": iso(value.created_at),
    }
