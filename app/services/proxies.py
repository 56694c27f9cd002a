"""代理 (out-of-office proxy): during a time window the proxy sees and may complete the user's tasks.

The candidate clause (``access.task_candidate_clause``) includes proxied tasks; a completion by a
proxy records the proxy as the actor and the represented user in ``HumanTask.acting_for_id`` and
``CaseEvent.data["on_behalf_of"]`` / ``["on_behalf_of_name"]``.

- ``set_proxy(user, proxy_user_id, starts_at, ends_at, reason)`` → TaskProxy (naive UTC times; the
  window may not overlap another open window of the same user; at most ``MAX_DAYS`` long).
- ``end_proxy(user, proxy_id)`` → TaskProxy (ended now; by the user or an administrator).
- ``proxies_of(user)`` (windows the user set) and ``acting_for(user)`` (windows where the user is
  the proxy, current or future).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import User
from app.models.workflow import TaskProxy
from app.services.ops_common import is_id, require_text

MAX_DAYS = 180


def set_proxy(user: User, proxy_user_id: int, starts_at: dt.datetime, ends_at: dt.datetime, reason: str) -> TaskProxy:
    reason = require_text(reason, "代理事由", "reason", max_len=500)
    proxy = db.session.get(User, proxy_user_id) if is_id(proxy_user_id) else None
    if proxy is None or not proxy.active:
        raise ValidationFailed("代理人不存在或已停用", {"proxy_user_id": ["代理人不存在或已停用"]})
    if proxy.id == user.id:
        raise ValidationFailed("不能设置自己为代理人", {"proxy_user_id": ["不能设置自己为代理人"]})
    now = clock.now()
    errors: dict[str, list[str]] = {}
    if ends_at <= starts_at:
        errors["ends_at"] = ["结束时间应晚于开始时间"]
    elif ends_at <= now:
        errors["ends_at"] = ["结束时间应晚于当前时间"]
    elif ends_at - starts_at > dt.timedelta(days=MAX_DAYS):
        errors["ends_at"] = [f"代理时段不能超过 {MAX_DAYS} 天"]
    if errors:
        raise ValidationFailed("代理时段有误：" + next(iter(errors.values()))[0], errors)
    overlapping = db.session.scalar(
        select(TaskProxy.id).where(
            TaskProxy.user_id == user.id, TaskProxy.ended_at.is_(None),
            TaskProxy.starts_at < ends_at, TaskProxy.ends_at > starts_at,
        ).limit(1)
    )
    if overlapping is not None:
        raise Conflict("与已设置的代理时段重叠，请先结束原代理")
    row = TaskProxy(user_id=user.id, proxy_id=proxy.id, starts_at=starts_at, ends_at=ends_at, reason=reason,
                    created_by_id=user.id, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def end_proxy(user: User, proxy_id: int) -> TaskProxy:
    row = db.session.get(TaskProxy, proxy_id)
    if row is None:
        raise NotFound("代理记录不存在")
    if row.user_id != user.id and not user.is_admin:
        raise Forbidden("只能结束自己设置的代理")
    now = clock.now()
    if row.ended_at is not None or row.ends_at <= now:
        raise Conflict("该代理已结束")
    row.ended_at = now
    db.session.flush()
    return row


def proxies_of(user: User, limit: int = 50) -> list[TaskProxy]:
    return list(db.session.scalars(
        select(TaskProxy).where(TaskProxy.user_id == user.id).options(joinedload(TaskProxy.proxy))
        .order_by(TaskProxy.starts_at.desc(), TaskProxy.id.desc()).limit(limit)
    ))


def acting_for(user: User) -> list[TaskProxy]:
    """Windows (current or future, not ended) in which ``user`` is someone's proxy."""
    now = clock.now()
    return list(db.session.scalars(
        select(TaskProxy)
        .where(TaskProxy.proxy_id == user.id, TaskProxy.ends_at > now,
               or_(TaskProxy.ended_at.is_(None), TaskProxy.ended_at > now))
        .options(joinedload(TaskProxy.user)).order_by(TaskProxy.starts_at)
    ))
