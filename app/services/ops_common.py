"""Small helpers shared by the approval-operation services (validation, candidates, history data)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from app import clock
from app.errors import ValidationFailed
from app.extensions import db
from app.models import HumanTask, User
from app.models.workflow import TaskProxy
from app.services import case_state

REASON_MAX = 2000
ID_MAX = 2**31 - 1


def is_id(value: Any) -> bool:
    """A plausible row id: an int (not a bool) in 1..2**31-1."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ID_MAX


def require_text(value: Any, label: str, field: str, *, required: bool = True, max_len: int = REASON_MAX) -> str:
    text = value.replace("\x00", "").strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"{label}应为文本", {field: [f"{label}应为文本"]})
    if required and not text:
        raise ValidationFailed(f"请填写{label}", {field: [f"请填写{label}"]})
    if len(text) > max_len:
        raise ValidationFailed(f"{label}不能超过 {max_len} 字", {field: [f"{label}不能超过 {max_len} 字"]})
    return text


def user_list(value: Any, field: str, *, limit: int) -> list[int]:
    """A non-empty list of distinct user ids (ints), at most ``limit``."""
    if not isinstance(value, list) or not value:
        raise ValidationFailed("请选择人员", {field: ["请选择至少一名人员"]})
    if not all(is_id(v) for v in value):
        raise ValidationFailed("人员编号应为正整数", {field: ["人员编号应为正整数"]})
    ids = list(dict.fromkeys(value))
    if len(ids) > limit:
        raise ValidationFailed(f"一次最多选择 {limit} 人", {field: [f"一次最多选择 {limit} 人"]})
    return ids


def active_users(ids: list[int], field: str) -> list[User]:
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    missing = [i for i in ids if i not in users or not users[i].active]
    if missing:
        raise ValidationFailed("所选人员不存在或已停用", {field: [f"人员 {i} 不存在或已停用" for i in missing]})
    return [users[i] for i in ids]


def on_behalf(principal_id: int | None) -> dict[str, Any]:
    """History data naming the person a proxy (代理) acted for; empty when acting for oneself."""
    if principal_id is None:
        return {}
    principal = db.session.get(User, principal_id)
    return {"on_behalf_of": principal_id, "on_behalf_of_name": principal.display_name if principal else ""}


def candidate_ids(task: HumanTask) -> list[int]:
    """Who may work on ``task`` now: its assignee (or the role holders in scope), the delegate, and
    the active proxies of those."""
    ids = [task.assignee_id] if task.assignee_id is not None else case_state.role_holder_ids(task.role, task.unit_id)
    if task.delegated_to_id is not None:
        ids.append(task.delegated_to_id)
    if ids:
        now = clock.now()
        ids += list(db.session.scalars(
            select(TaskProxy.proxy_id).where(
                TaskProxy.user_id.in_(ids), TaskProxy.ended_at.is_(None), TaskProxy.starts_at <= now,
                TaskProxy.ends_at > now,
            )
        ))
    return list(dict.fromkeys(ids))


def local_time(value: dt.datetime) -> str:
    local = clock.to_local(value)
    return f"{local:%Y-%m-%d %H:%M}" if local else ""


def user_ids_by_username(text: str, field: str = "users", *, limit: int = 50) -> list[int]:
    """Ids of the active users named (by 账号) in ``text`` — separated by commas, spaces or 、."""
    names = list(dict.fromkeys(n for n in re.split(r"[\s,，、;；]+", text or "") if n))
    if not names:
        raise ValidationFailed("请填写人员账号", {field: ["请填写人员账号"]})
    if len(names) > limit:
        raise ValidationFailed(f"一次最多 {limit} 人", {field: [f"一次最多 {limit} 人"]})
    rows = db.session.execute(select(User.username, User.id).where(User.username.in_(names), User.active.is_(True)))
    found = {username: user_id for username, user_id in rows}
    missing = [n for n in names if n not in found]
    if missing:
        message = "以下账号不存在或已停用：" + "、".join(missing)
        raise ValidationFailed(message, {field: [message]})
    return [found[n] for n in names]


def transfer_choices(task: HumanTask, actor: User) -> list[tuple[int, str]]:
    """(id, label) of the people ``task`` may be transferred to: active holders of its role in scope."""
    ids = [i for i in case_state.role_holder_ids(task.role, task.unit_id) if i not in (actor.id, task.assignee_id)]
    if not ids:
        return []
    rows = db.session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(ids)).order_by(User.display_name)
    ).all()
    return [(uid, f"{name}（{username}）") for uid, name, username in rows]
