"""In-app notifications; e-mail delivery (when SMTP is configured) is a separate, retried pass."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, insert, select, update

from app import clock
from app.errors import NotFound
from app.extensions import db
from app.models import User
from app.models.notification import KINDS, Notification
from app.services.inbox import Page

log = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- list page


def page(user_id: int, page: int = 1, per_page: int = 30, unread_only: bool = False) -> Page:
    """The user's notifications, newest first, with the total in the same statement."""
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = select(func.count()).select_from(Notification).where(*where).scalar_subquery()
    rows = db.session.execute(
        select(Notification, total.label("total"))
        .where(*where)
        .order_by(Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if rows:
        count = int(rows[0][1])
    else:
        count = int(db.session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0)
    return Page([row[0] for row in rows], count, page, per_page)


def open_one(user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read and return it (NotFound for someone else's)."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotFound("消息不存在")
    if row.read_at is None:
        row.read_at = clock.now()
        db.session.flush()
    return row


# --------------------------------------------------------------------------- e-mail


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "jixiao@localhost"
    starttls: bool = False
    timeout: float = 10.0
    max_age_hours: int = 72
    base_url: str = ""


def smtp_settings(config: Mapping[str, Any]) -> SmtpSettings | None:
    """Settings from the app config (``SMTP_*``); None when SMTP_HOST is not configured."""
    host = (config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(config.get("SMTP_PORT") or 25),
        user=config.get("SMTP_USER") or "",
        password=config.get("SMTP_PASSWORD") or "",
        sender=config.get("SMTP_FROM") or "jixiao@localhost",
        starttls=bool(config.get("SMTP_STARTTLS")),
        timeout=float(config.get("SMTP_TIMEOUT") or 10),
        max_age_hours=int(config.get("SMTP_MAX_AGE_HOURS") or 72),
        base_url=(config.get("BASE_URL") or "").rstrip("/"),
    )


def _message(row: Notification, address: str, settings: SmtpSettings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"【绩效考核】{KINDS.get(row.kind, row.kind)}：{row.title}"
    message["From"] = settings.sender
    message["To"] = address
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(idstring=f"notification-{row.id}")
    lines = [row.title]
    if row.body:
        lines += ["", row.body]
    if row.link:
        lines += ["", f"查看：{settings.base_url}{row.link}"]
    lines += ["", "（本邮件由绩效考核管理系统自动发送，请勿直接回复。）"]
    message.set_content("\n".join(lines))
    return message


def deliver_email(settings: SmtpSettings, limit: int = 200) -> int:
    """Send unsent notifications of users with an e-mail address; sets ``emailed_at`` on each sent one.

    At-least-once: rows are marked in the session and the caller commits after the pass. A
    connection failure stops the pass (retried next round); a refused recipient is marked so it
    is not retried forever. Rows older than ``max_age_hours`` are never e-mailed.
    """
    cutoff = clock.now() - dt.timedelta(hours=settings.max_age_hours)
    rows = db.session.execute(
        select(Notification, User.email)
        .join(User, User.id == Notification.user_id)
        .where(Notification.emailed_at.is_(None), Notification.created_at >= cutoff)
        .where(User.email.is_not(None), User.email != "", User.active.is_(True))
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    sent = 0
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user:
                smtp.login(settings.user, settings.password)
            for row, address in rows:
                try:
                    smtp.send_message(_message(row, str(address), settings))
                    sent += 1
                except smtplib.SMTPRecipientsRefused:
                    log.warning("notification %s: recipient %s refused", row.id, address)
                row.emailed_at = clock.now()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("e-mail delivery stopped after %d message(s): %s", sent, exc)
    db.session.flush()
    return sent
