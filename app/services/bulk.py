"""Safe bulk approval (批量审批).

``bulk_approve(task_ids, actor, comment)`` → list of ``BulkResult`` (one per requested id, in order):
only steps whose BPMN user task has the property ``bulk`` = ``true``, 1–``MAX_BULK`` tasks, all of
ONE process and step; each task is completed separately (its own savepoint) through
``steps.submit(task, actor, {"decision": "approve", "reason": comment})`` and recorded with
``{"bulk": true}`` in its history event, so one failure (taken meanwhile, not a candidate, ...)
does not undo the others. ``bulk_steps(user)`` lists the bulk-approvable steps where ``user`` has
open tasks; ``bulk_candidates(user, process_key, step)`` the open tasks of one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.errors import DomainError, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, ProcessDefinition, User
from app.services import access, case_state, cases, steps
from app.services.ops_common import is_id

MAX_BULK = 100


@dataclass(frozen=True)
class BulkResult:
    task_id: int
    ok: bool
    status: int  # 200, or the DomainError status
    message: str
    case_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "ok": self.ok, "status": self.status, "message": self.message,
                "case_id": self.case_id}


def is_bulk_step(definition: ProcessDefinition, step: str) -> bool:
    info = case_state.process_of(definition).steps.get(step)
    return info is not None and info.properties.get("bulk", "").strip().lower() == "true"


def bulk_approve(task_ids: Any, actor: User, comment: str | None = None) -> list[BulkResult]:
    if not isinstance(task_ids, list) or not task_ids:
        raise ValidationFailed("请选择要批量审批的任务", {"task_ids": ["请选择至少一个任务"]})
    if not all(is_id(t) for t in task_ids):
        raise ValidationFailed("任务编号应为正整数", {"task_ids": ["任务编号应为正整数"]})
    ids = list(dict.fromkeys(task_ids))
    if len(ids) > MAX_BULK:
        raise ValidationFailed(f"一次最多批量审批 {MAX_BULK} 个任务", {"task_ids": [f"一次最多 {MAX_BULK} 个"]})
    if comment is not None and not isinstance(comment, str):
        raise ValidationFailed("审批意见应为文本", {"comment": ["审批意见应为文本"]})
    text = (comment or "").replace("\x00", "").strip()
    if len(text) > 2000:
        raise ValidationFailed("审批意见不能超过 2000 字", {"comment": ["审批意见不能超过 2000 字"]})
    rows = db.session.execute(
        select(HumanTask, Case).join(Case, Case.id == HumanTask.case_id).where(HumanTask.id.in_(ids))
        .options(joinedload(Case.definition))
    ).all()
    found = {task.id: (task, case) for task, case in rows}
    kinds = {(case.process_key, task.step) for task, case in found.values()}
    if len(kinds) > 1:
        raise ValidationFailed("一次只能批量审批同一流程的同一环节", {"task_ids": ["所选任务不属于同一环节"]})
    if any(task.kind == "cosign" for task, _ in found.values()):
        raise ValidationFailed("加签任务不能批量审批", {"task_ids": ["加签任务不能批量审批"]})
    definitions = {case.definition_id: case.definition for _, case in found.values()}
    for task, _ in found.values():
        if not is_bulk_step(definitions[found[task.id][1].definition_id], task.step):
            raise Forbidden(f"环节“{task.name}”未设置为可批量审批，请逐件办理")
    data: dict[str, Any] = {"decision": "approve"}
    if text:
        data["reason"] = text
    results = []
    for task_id in ids:
        if task_id not in found:
            results.append(BulkResult(task_id, False, 404, "任务不存在"))
            continue
        task, case = found[task_id]
        try:
            with db.session.begin_nested(), cases.event_extra({"bulk": True}):
                steps.submit(task, actor, dict(data))
            results.append(BulkResult(task_id, True, 200, "已通过", case.id))
        except DomainError as exc:
            db.session.expire_all()
            results.append(BulkResult(task_id, False, exc.status, exc.message, case.id))
    return results


def bulk_steps(user: User) -> list[tuple[str, str, str, int]]:
    """(process_key, step, step name, open count) of bulk-approvable steps with open tasks of ``user``."""
    rows = db.session.execute(
        select(Case.process_key, HumanTask.step, HumanTask.name, Case.definition_id, func.count())
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == "open", HumanTask.kind != "cosign", access.task_candidate_clause(user))
        .group_by(Case.process_key, HumanTask.step, HumanTask.name, Case.definition_id)
    ).all()
    out: dict[tuple[str, str], tuple[str, str, str, int]] = {}
    for key, step, name, definition_id, count in rows:
        definition = db.session.get(ProcessDefinition, definition_id)
        if definition is None or not is_bulk_step(definition, step):
            continue
        before = out.get((key, step), (key, step, name, 0))
        out[(key, step)] = (key, step, name, before[3] + int(count))
    return list(out.values())


def bulk_candidates(user: User, process_key: str, step: str, limit: int = MAX_BULK) -> list[HumanTask]:
    """Open tasks of ``user`` at one bulk-approvable step (oldest first), for the bulk page."""
    return list(db.session.scalars(
        select(HumanTask).join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == "open", HumanTask.kind != "cosign", HumanTask.delegated_to_id.is_(None),
               Case.process_key == process_key, HumanTask.step == step, access.task_candidate_clause(user))
        .options(joinedload(HumanTask.case).joinedload(Case.unit))
        .order_by(HumanTask.created_at, HumanTask.id).limit(limit)
    ).unique())
