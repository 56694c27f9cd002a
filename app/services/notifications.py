"""In-app notifications; e-mail delivery (when SMTP is configured) is a separate, retried pass."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, insert, select, update

from app import clock
from app.extensions import db
from app.models.notification import KINDS, Notification


def notify(
    user_ids: Iterable[int],
    kind: str,
    title: str,
    *,
    body: str | None = None,
    link: str | None = None,
    case_id: int | None = None,
    task_id: int | None = None,
) -> int:
    """One notification per distinct user (one INSERT); returns how many were written."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind}")
    now = clock.now()
    rows = [
        {"user_id": uid, "kind": kind, "title": title[:200], "body": body, "link": link, "case_id": case_id,
         "task_id": task_id, "created_at": now}
        for uid in dict.fromkeys(user_ids)
    ]
    if rows:
        db.session.execute(insert(Notification), rows)
    return len(rows)


def unread_count(user_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        ) or 0
    )


def recent(user_id: int, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user_id)
            .order_by(Notification.id.desc()).limit(limit)
        )
    )


def mark_read(user_id: int, notification_ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's notifications read; never touches other users' rows."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_ids is not None:
        stmt = stmt.where(Notification.id.in_(notification_ids))
    result = db.session.execute(stmt.values(read_at=clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
