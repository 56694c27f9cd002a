"""Approval operations on a task, each recorded in the case history with who and why.

- 退回 ``return_to(task_id, actor, target_step=None|step, reason)``: back to the previous user step
  (default) or to any earlier one on this case's path (``return_targets(task)``); the engine resets
  to that task (``Instance.reset_to``), rows of the discarded branch get status ``returned``, the new
  row carries the reason in ``HumanTask.note`` and its candidates get a ``returned`` notification.
- 撤回 ``withdraw(case_id, actor, reason)``: take back one's own last submission while the next step
  is untouched (no completion, co-sign, delegation, transfer or return on its tasks since).
- 转办 ``transfer(task_id, actor, to_user_id, reason)``: the task now belongs to that one person, who
  must be active and hold the task's role in scope.
- 委派 ``delegate(task_id, actor, to_user_id, reason)`` / ``resolve_delegation(task_id, delegate, comment)``:
  the delegate (a colleague of the same unit, or a holder of the role in scope) works on it and hands
  it back; the owner cannot complete it meanwhile.
- 加签 ``add_cosigner(task_id, actor, user_ids, reason)``: co-sign rows (kind ``cosign``, form key
  ``ops.cosign``: data ``{"decision": "approve"|"return", "comment"}``) that must all be approved before
  the main task can be completed; a co-signer's return returns the main task to the previous step.
- 抄送 / 催办 / 代理 / 批量审批: see ``ops_notify``, ``proxies``, ``bulk`` (re-exported here).

Every function locks the case (``cases.begin_task``/``lock_case``) and bumps its version, so two
operations on one task never both apply.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app import clock, engine
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, User
from app.models.user import ROLES
from app.services import access, case_state, cases, notifications
from app.services.ops_common import (
    REASON_MAX,
    active_users,
    candidate_ids,
    is_id,
    local_time,
    on_behalf,
    require_text,
    user_list,
)
from app.services.steps import Checker, FieldSpec, Files, register

COSIGN_FORM = "ops.cosign"
MAX_COSIGNERS = 20
# History actions that mean someone acted on a task (withdrawing is refused after one of them).
_PASSIVE_ACTIONS = ("urge", "cc")


def _begin_op(task_id: int, actor: User) -> cases.TaskContext:
    ctx = cases.begin_task(task_id, actor, for_completion=False)
    if ctx.task.kind == "cosign":
        raise Conflict("加签任务只能同意或退回")
    if ctx.task.delegated_to_id is not None:
        name = ctx.task.delegated_to.display_name if ctx.task.delegated_to else "他人"
        raise Conflict(f"该任务已委派给 {name}，待其处理完毕交回后方可操作")
    return ctx


def _active_user(user_id: Any, field: str) -> User:
    user = db.session.get(User, user_id) if is_id(user_id) else None
    if user is None or not user.active:
        raise ValidationFailed("所选人员不存在或已停用", {field: ["所选人员不存在或已停用"]})
    return user


# --------------------------------------------------------------------------- 退回 / 撤回


def return_targets(task: HumanTask) -> list[tuple[str, str]]:
    """(step, name) of the earlier user steps ``task`` may be returned to, the previous one first."""
    if task.status != "open" or task.kind == "cosign":
        return []
    case = task.case
    instance = cases.load_instance(case)
    try:
        path = instance.user_task_path(task.spiff_task_id)
    except engine.EngineError:
        path = []
    finally:
        cases.give_back(case, instance)
    return [(item.step, item.name) for item in path]


def return_to(task_id: int, actor: User, *, target_step: str | None, reason: str) -> Case:
    """退回 the open task ``task_id`` to ``target_step`` (default: the previous user step)."""
    reason = require_text(reason, "退回理由", "reason")
    ctx = _begin_op(task_id, actor)
    return _return(ctx, target_step, reason, action="return_to")


def _return(ctx: cases.TaskContext, target_step: str | None, reason: str, *, action: str) -> Case:
    task, case = ctx.task, ctx.case
    try:
        path = ctx.instance.user_task_path(task.spiff_task_id)
    except engine.EngineError as exc:
        raise Conflict(f"任务状态已变化: {exc}") from exc
    if not path:
        raise Conflict(f"“{task.name}”是本案件的第一个办理环节，无法退回")
    names = {item.step: item.name for item in path}
    step = target_step or path[0].step
    if step not in names:
        raise ValidationFailed("只能退回到本案件已经过的环节", {"target_step": ["只能退回到本案件已经过的环节"]})
    try:
        target_id = ctx.instance.reset_to(step, from_task=task.spiff_task_id)
    except engine.EngineError as exc:
        raise Conflict(f"无法退回: {exc}") from exc
    now = clock.now()
    case_state.close_tasks([task], "returned", now, completed_by_id=ctx.user.id, outcome=action,
                           acting_for_id=ctx.acting_for)
    data = {"target_step": step, "target_name": names[step], "from_step": task.step, **on_behalf(ctx.acting_for)}
    case_state.record_fast(case, action, user_id=ctx.user.id, task_id=task.id, step=f"{task.name} → {names[step]}",
                           comment=reason, data=data, now=now)
    remaining = [t for t in ctx.open_tasks if t.id != task.id]
    case_state.sync(case, ctx.instance, open_tasks=remaining, stale_status="returned")
    note = f"{ctx.user.display_name} 于 {local_time(now)} 从“{task.name}”退回：{reason}"
    _announce(case, target_id, note, "returned", f"退回：{case.title} · {names[step]}", reason)
    return case


def _announce(case: Case, spiff_id: str, note: str, kind: str, title: str, body: str) -> None:
    """Put ``note`` on the new open rows of task ``spiff_id`` and notify their candidates."""
    db.session.execute(
        update(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.status == "open", HumanTask.spiff_task_id == spiff_id)
        .values(note=note)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open",
                                HumanTask.spiff_task_id == spiff_id)
        .execution_options(populate_existing=True)
    ).all()
    for row in rows:
        notifications.notify(candidate_ids(row), kind, title, body=body, link=f"/tasks/{row.id}",
                             case_id=case.id, task_id=row.id)


def withdraw(case_id: int, actor: User, reason: str) -> Case:
    """撤回 ``actor``'s last submission in the case while the next step is untouched."""
    reason = require_text(reason, "撤回理由", "reason")
    case = cases.lock_case(case_id)
    if case.status != "running":
        raise Conflict("案件已结束，无法撤回")
    last = db.session.scalar(
        select(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.completed_by_id == actor.id, HumanTask.status == "completed",
               HumanTask.kind.in_(("task", "countersign")))
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1)
    )
    if last is None or last.completed_at is None:
        raise Conflict("您在本案件中没有可撤回的提交")
    after = list(db.session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.created_at >= last.completed_at,
                                HumanTask.id != last.id)
    ))
    following = [t for t in after if t.status == "open" and t.kind != "cosign"]
    if not following:
        raise Conflict("流程已进入后续阶段，无法撤回")
    touched = [t for t in after if t.status == "completed" or t.kind == "cosign" or t.delegated_to_id is not None]
    acted = db.session.scalar(
        select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.task_id.in_([t.id for t in after]),
                                   CaseEvent.action.not_in(_PASSIVE_ACTIONS)).limit(1)
    )
    if touched or acted is not None:
        raise Conflict("下一环节已有人办理（或已转办、委派、加签），无法撤回；如需修改请联系下一环节办理人退回")
    instance = cases.load_instance(case)
    try:
        instance.reset_task(last.spiff_task_id)
    except engine.EngineError as exc:
        raise Conflict(f"无法撤回: {exc}") from exc
    now = clock.now()
    last.status = "withdrawn"
    case_state.record_fast(case, "withdraw", user_id=actor.id, task_id=last.id, step=last.name, comment=reason,
                           data={"withdrawn_steps": sorted({t.name for t in following})}, now=now)
    case_state.sync(case, instance, stale_status="withdrawn")
    note = f"{actor.display_name} 于 {local_time(now)} 撤回了提交：{reason}"
    _announce(case, last.spiff_task_id, note, "info", f"已撤回：{case.title} · {last.name}", reason)
    return case


# --------------------------------------------------------------------------- 转办 / 委派


def transfer(task_id: int, actor: User, to_user_id: int, reason: str) -> HumanTask:
    """转办: the open task now belongs to ``to_user_id`` alone."""
    reason = require_text(reason, "转办理由", "reason")
    ctx = _begin_op(task_id, actor)
    task = ctx.task
    target = _active_user(to_user_id, "to_user_id")
    if target.id == actor.id or target.id == task.assignee_id:
        raise ValidationFailed("任务已在该人员名下", {"to_user_id": ["任务已在该人员名下"]})
    if not access.holds_role_for(target, task.role, task.unit_id):
        role = ROLES.get(task.role, task.role)
        message = f"{target.display_name} 不具有本案件单位范围内的“{role}”角色，不能转办给他/她"
        raise ValidationFailed(message, {"to_user_id": [message]})
    if task.kind == "countersign" and any(
        t.kind == "countersign" and t.spiff_task_id == task.spiff_task_id and t.assignee_id == target.id
        for t in ctx.open_tasks
    ):
        raise ValidationFailed(f"{target.display_name} 已是本环节的会签人", {"to_user_id": ["已是本环节的会签人"]})
    previous = task.assignee_id
    task.assignee_id = target.id
    cases.record(ctx.case, "transfer", user=actor, task=task, comment=reason,
                 data={"to_user_id": target.id, "to_name": target.display_name, "from_user_id": previous,
                       **on_behalf(ctx.acting_for)})
    cases.touch(ctx.case)
    notifications.notify([target.id], "assigned", f"转办：{ctx.case.title} · {task.name}",
                         body=f"{actor.display_name} 转办给您：{reason}", link=f"/tasks/{task.id}",
                         case_id=ctx.case.id, task_id=task.id)
    return task


def delegate(task_id: int, actor: User, to_user_id: int, reason: str) -> HumanTask:
    """委派: ``to_user_id`` works on the task and hands it back; the owner then completes it."""
    reason = require_text(reason, "委派事项", "reason")
    ctx = _begin_op(task_id, actor)
    task = ctx.task
    target = _active_user(to_user_id, "to_user_id")
    owner_id = task.assignee_id or ctx.acting_for or actor.id
    if target.id in (actor.id, owner_id):
        raise ValidationFailed("不能委派给自己", {"to_user_id": ["不能委派给自己"]})
    colleague = actor.unit_id is not None and target.unit_id == actor.unit_id
    if not colleague and not access.holds_role_for(target, task.role, task.unit_id):
        role = ROLES.get(task.role, task.role)
        message = f"只能委派给本单位同事或本案件范围内的“{role}”，{target.display_name} 不符合"
        raise ValidationFailed(message, {"to_user_id": [message]})
    task.assignee_id = owner_id
    task.delegated_to_id = target.id
    cases.record(ctx.case, "delegate", user=actor, task=task, comment=reason,
                 data={"to_user_id": target.id, "to_name": target.display_name, **on_behalf(ctx.acting_for)})
    cases.touch(ctx.case)
    notifications.notify([target.id], "assigned", f"委派：{ctx.case.title} · {task.name}",
                         body=f"{actor.display_name} 委派您协助处理：{reason}", link=f"/tasks/{task.id}",
                         case_id=ctx.case.id, task_id=task.id)
    return task


def resolve_delegation(task_id: int, actor: User, comment: str) -> HumanTask:
    """The delegate hands the task back with ``comment``; its owner may then complete it."""
    comment = require_text(comment, "处理意见", "comment")
    ctx = cases.begin_task(task_id, actor, for_completion=False)
    task = ctx.task
    if task.delegated_to_id is None:
        raise Conflict("该任务没有待交回的委派")
    if task.delegated_to_id != actor.id:
        raise Forbidden("只有受委派人可以交回")
    task.delegated_to_id = None
    cases.record(ctx.case, "resolve", user=actor, task=task, comment=comment)
    cases.touch(ctx.case)
    if task.assignee_id is not None:
        notifications.notify([task.assignee_id], "info", f"委派已交回：{ctx.case.title} · {task.name}",
                             body=f"{actor.display_name}：{comment}", link=f"/tasks/{task.id}",
                             case_id=ctx.case.id, task_id=task.id)
    return task


# --------------------------------------------------------------------------- 加签


def add_cosigner(task_id: int, actor: User, user_ids: list[int], reason: str) -> list[HumanTask]:
    """加签: each of ``user_ids`` gets a co-sign row that must be approved before the task completes."""
    reason = require_text(reason, "加签说明", "reason")
    ids = user_list(user_ids, "user_ids", limit=MAX_COSIGNERS)
    ctx = _begin_op(task_id, actor)
    task = ctx.task
    pending = {t.assignee_id for t in ctx.open_tasks if t.kind == "cosign" and t.parent_task_id == task.id}
    users = active_users(ids, "user_ids")
    for user in users:
        if user.id in (actor.id, task.assignee_id, ctx.acting_for):
            raise ValidationFailed("不能给自己加签", {"user_ids": ["不能给自己加签"]})
        if user.id in pending:
            raise ValidationFailed(f"{user.display_name} 已在加签中", {"user_ids": [f"{user.display_name} 已在加签中"]})
    now = clock.now()
    rows = [
        HumanTask(
            case_id=task.case_id, spiff_task_id=task.spiff_task_id, step=task.step, name=f"{task.name}（加签）",
            role=task.role, unit_id=task.unit_id, form_key=COSIGN_FORM, status="open", assignee_id=user.id,
            kind="cosign", parent_task_id=task.id, created_at=now, due_at=task.due_at,
            note=f"{actor.display_name} 请您加签：{reason}",
        )
        for user in users
    ]
    db.session.add_all(rows)
    cases.record(ctx.case, "cosign", user=actor, task=task, comment=reason,
                 data={"user_ids": ids, "users": [u.display_name for u in users], **on_behalf(ctx.acting_for)})
    cases.touch(ctx.case)
    for user, row in zip(users, rows, strict=True):
        notifications.notify([user.id], "assigned", f"加签：{ctx.case.title} · {task.name}",
                             body=f"{actor.display_name} 请您加签：{reason}", link=f"/tasks/{row.id}",
                             case_id=ctx.case.id, task_id=row.id)
    return rows


def _describe_cosign(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "加签意见", "choice", True, [("approve", "同意"), ("return", "退回")]),
        FieldSpec("comment", "意见", "textarea", help="退回时必须填写理由；退回将使主任务退回上一环节"),
    ]


@register(COSIGN_FORM, _describe_cosign)
def submit_cosign(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    """A co-signer approves or returns (data ``{"decision", "comment"}``)."""
    ctx = cases.begin_task(task_id, user, for_completion=False)
    task = ctx.task
    if task.kind != "cosign":
        raise Conflict("该任务不是加签任务")
    check = Checker(data)
    decision = check.choice("decision", "加签意见", ["approve", "return"])
    comment = check.text("comment", "意见", required=decision == "return", max_len=REASON_MAX)
    check.raise_if_any()
    now = clock.now()
    action = f"cosign_{decision}"
    case_state.close_tasks([task], "completed", now, completed_by_id=user.id, outcome=action,
                           acting_for_id=ctx.acting_for)
    case_state.record_fast(ctx.case, action, user_id=user.id, task_id=task.id, step=task.name,
                           comment=comment or None, data=on_behalf(ctx.acting_for) or None, now=now)
    main = next((t for t in ctx.open_tasks if t.id == task.parent_task_id), None)
    if main is None:
        raise Conflict("主任务已不在办理中")
    siblings = [t for t in ctx.open_tasks if t.kind == "cosign" and t.parent_task_id == main.id and t.id != task.id]
    if decision == "approve":
        cases.touch(ctx.case)
        if not siblings and main.assignee_id is not None:
            notifications.notify([main.assignee_id], "info", f"加签已全部同意：{ctx.case.title} · {main.name}",
                                 link=f"/tasks/{main.id}", case_id=ctx.case.id, task_id=main.id)
        return ctx.case
    case_state.close_tasks(siblings, "cancelled", now)
    rest = [t for t in ctx.open_tasks if t.id != task.id and t not in siblings]
    main_ctx = cases.TaskContext(case=ctx.case, task=main, user=user, open_tasks=rest, acting_for=ctx.acting_for)
    return _return(main_ctx, None, f"加签人退回：{comment}", action="return_to")


from app.services.bulk import bulk_approve  # noqa: E402
from app.services.ops_notify import carbon_copy, urge  # noqa: E402
from app.services.proxies import end_proxy, set_proxy  # noqa: E402

__all__ = [
    "COSIGN_FORM", "add_cosigner", "bulk_approve", "carbon_copy", "delegate", "end_proxy", "resolve_delegation",
    "return_targets", "return_to", "set_proxy", "transfer", "urge", "withdraw",
]
