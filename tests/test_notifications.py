"""In-app notifications (counter, list, mark read) on the web and in the API; e-mail delivery via SMTP."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socketserver
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import HumanTask, Notification, User
from app.services import deadlines, notifications
from tests.factories import PASSWORD, start_assessment
from tests.helpers import open_task
from tests.test_inbox_web import count_queries, login

# --------------------------------------------------------------------------- a tiny SMTP server


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT (refuses *@refused.example), DATA, RSET, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server = self.server
        self._say("220 stub ESMTP")
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 stub")
            elif verb == "MAIL":
                recipients = []
                self._say("250 ok")
            elif verb == "RCPT":
                address = command.split(":", 1)[1].strip(" <>")
                if address.endswith("@refused.example"):
                    self._say("550 no such user")
                else:
                    recipients.append(address)
                    self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go ahead")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                server.messages.append((recipients, b"".join(lines)))  # type: ignore[attr-defined]
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _settings(server, **extra) -> notifications.SmtpSettings:
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.server_address[1], "SMTP_FROM": "kaohe@county.example",
              "BASE_URL": "https://kaohe.example/", **extra}
    settings = notifications.smtp_settings(config)
    assert settings is not None
    return settings


def _set_email(username: str, address: str | None) -> None:
    db.session.execute(update(User).where(User.username == username).values(email=address))
    db.session.commit()


def _due(task_id: int, delta: dt.timedelta) -> None:
    db.session.execute(update(HumanTask).where(HumanTask.id == task_id).values(due_at=clock.now() + delta))
    db.session.commit()


def _overdue(county) -> int:
    """An overdue assessment task, escalated: notifications for officer (candidate) and office."""
    task = open_task(start_assessment(county))
    _due(task.id, -dt.timedelta(hours=1))
    deadlines.run_due_checks(clock.now())
    db.session.commit()
    return task.id


# --------------------------------------------------------------------------- e-mail


def test_no_smtp_host_means_no_email():
    assert notifications.smtp_settings({"SMTP_HOST": ""}) is None
    assert notifications.smtp_settings({}) is None


def test_delivery_sends_each_unsent_notification_once(county, smtp):
    _set_email("officer", "officer@school.example")
    task_id = _overdue(county)  # officer (has an address) and office (has none)
    assert notifications.deliver_email(_settings(smtp)) == 1
    db.session.commit()
    assert len(smtp.messages) == 1
    recipients, raw = smtp.messages[0]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert recipients == ["officer@school.example"] and message["To"] == "officer@school.example"
    assert message["Subject"] == "【绩效考核】超期督办：已超期：县第一中学 2025 年度考核 · 单位自评"
    body = message.get_content()
    assert f"https://kaohe.example/tasks/{task_id}" in body and message["From"] == "kaohe@county.example"
    rows = {n.user_id: n for n in db.session.scalars(select(Notification))}
    assert rows[county.users["officer"].id].emailed_at is not None
    assert rows[county.users["office"].id].emailed_at is None  # no address: left alone
    assert notifications.deliver_email(_settings(smtp)) == 0 and len(smtp.messages) == 1


def test_refused_recipient_is_not_retried_and_a_dead_server_is(county, smtp):
    _set_email("officer", "nobody@refused.example")
    _set_email("office", "office@county.example")
    _overdue(county)
    dead = notifications.SmtpSettings(host="127.0.0.1", port=1, timeout=2)
    assert notifications.deliver_email(dead) == 0
    db.session.commit()
    assert all(n.emailed_at is None for n in db.session.scalars(select(Notification)))
    assert notifications.deliver_email(_settings(smtp)) == 1  # office's; officer's refused
    db.session.commit()
    assert [r for r, _ in smtp.messages] == [["office@county.example"]]
    assert all(n.emailed_at is not None for n in db.session.scalars(select(Notification)))


def test_old_notifications_are_never_emailed(county, smtp):
    _set_email("officer", "officer@school.example")
    _overdue(county)
    clock.advance(dt.timedelta(hours=73))
    assert notifications.deliver_email(_settings(smtp)) == 0 and smtp.messages == []


def test_the_timer_loop_delivers_when_smtp_is_configured(app, county, smtp, monkeypatch):
    _set_email("officer", "officer@school.example")
    _due(open_task(start_assessment(county)).id, dt.timedelta(hours=2))
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp.server_address[1])
    result = app.test_cli_runner().invoke(args=["timers", "run", "--once"])
    assert "1 reminded" in result.output and "1 e-mail(s) sent" in result.output, result.output
    assert len(smtp.messages) == 1


# --------------------------------------------------------------------------- web


def test_counter_list_open_and_mark_read(app, county):
    officer = county.users["officer"]
    notifications.notify([officer.id], "urge", "请尽快办理自评", body="绩效办催办", link="/tasks")
    notifications.notify([officer.id], "info", "外部链接", link="//evil.example/x")
    notifications.notify([county.users["office"].id], "info", "别人的消息")
    db.session.commit()
    browser = login(app, officer)
    page = browser.get("/tasks").get_data(as_text=True)
    assert re.search(r'id="unread-count">2<', page)
    listing = browser.get("/notifications").get_data(as_text=True)
    assert "请尽快办理自评" in listing and "催办" in listing and "绩效办催办" in listing and "别人的消息" not in listing
    mine = {n.title: n.id for n in db.session.scalars(select(Notification).where(Notification.user_id == officer.id))}
    response = browser.post(f"/notifications/{mine['请尽快办理自评']}/read", {"open": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/tasks"
    response = browser.post(f"/notifications/{mine['外部链接']}/read", {"open": "1", "back": "https://evil.example"})
    assert response.headers["Location"] == "/notifications"  # never an open redirect
    assert 'id="unread-count"' not in browser.get("/tasks").get_data(as_text=True)
    assert "没有未读消息" in browser.get("/notifications?unread=1").get_data(as_text=True)
    others = db.session.scalar(select(Notification.id).where(Notification.user_id == county.users["office"].id))
    assert browser.post(f"/notifications/{others}/read").status_code == 404
    assert db.session.get(Notification, others).read_at is None


def test_mark_all_read_touches_only_my_rows(app, county):
    officer, office = county.users["officer"], county.users["office"]
    notifications.notify([officer.id, office.id], "info", "年度考核启动")
    notifications.notify([officer.id], "cc", "抄送：自评材料")
    db.session.commit()
    browser = login(app, officer)
    browser.get("/notifications")
    response = browser.post("/notifications/read-all", follow_redirects=True)
    assert "已将 2 条消息标为已读" in response.get_data(as_text=True)
    assert notifications.unread_count(officer.id) == 0 and notifications.unread_count(office.id) == 1


def test_the_counter_costs_no_extra_statement(app, county):
    browser = login(app, county.users["officer"])
    with count_queries() as before:
        browser.get("/tasks/done")
    notifications.notify([county.users["officer"].id] * 3 + [county.users["office"].id], "info", "x")
    db.session.commit()
    with count_queries() as after:
        page = browser.get("/tasks/done").get_data(as_text=True)
    assert after[0] == before[0] and re.search(r'id="unread-count">1<', page)


# --------------------------------------------------------------------------- API


def test_api_lists_and_marks_notifications(app, client, county):
    officer = county.users["officer"]
    notifications.notify([officer.id], "reminder", "即将到期：自评", link="/tasks/1")
    notifications.notify([officer.id], "info", "第二条")
    notifications.notify([county.users["office"].id], "info", "别人的")
    db.session.commit()
    token = client.post("/api/v1/auth/token", json={"username": "officer", "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, **kwargs):
        with app.app_context():
            return client.open(url, method=method, headers=headers, **kwargs)

    body = call("GET", "/api/v1/notifications").get_json()
    assert body["total"] == 2 and body["unread"] == 2 and body["items"][0]["title"] == "第二条"
    first = body["items"][1]
    assert first["kind"] == "reminder" and first["kind_label"] == "到期提醒" and first["read_at"] is None
    others = db.session.scalar(select(Notification.id).where(Notification.user_id == county.users["office"].id))
    response = call("POST", "/api/v1/notifications/read", json={"ids": [first["id"], others]})
    assert response.get_json() == {"marked": 1, "unread": 1}
    assert call("GET", "/api/v1/notifications?unread=1").get_json()["total"] == 1
    assert call("POST", "/api/v1/notifications/read", json={"ids": ["x"]}).status_code == 400
    assert call("POST", "/api/v1/notifications/read").get_json() == {"marked": 1, "unread": 0}
    assert db.session.get(Notification, others).read_at is None
