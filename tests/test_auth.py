"""Login, lockout, logout, password change, safe redirects, idle timeout, CSRF (kept enabled)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import User
from tests.factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)






def csrf_token(client, url: str = "/login") -> str:
    html = client.get(url).get_data(as_text=True)
    match = TOKEN.search(html)
    assert match, f"no csrf token on {url}"
    return match.group(1) or match.group(2)


def login(client, username: str, password: str = PASSWORD, next_url: str | None = None):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, "username": username, "password": password})


def fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def todo_url(client) -> str:
    with client.application.test_request_context():
        return url_for("inbox.todo")


def logged_in_as(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def test_login_page(client):
    html = client.get("/login").get_data(as_text=True)
    assert "login-box" in html and "绩效考核管理系统" in html


def test_login_success_and_logout(client, county):
    resp = login(client, "officer")
    assert resp.status_code == 302
    assert resp.headers["Location"] == todo_url(client)
    assert logged_in_as(client) == str(county.users["officer"].id)
    with client.session_transaction() as sess:
        assert abs(sess["seen"] - time.time()) < 60
    assert fresh("officer").last_login_at is not None
    # username is case-insensitive
    client2 = client.application.test_client()
    assert login(client2, "OFFICER").status_code == 302

    token = csrf_token(client, "/password")
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert logged_in_as(client) is None


def test_home_redirects(client, county):
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    login(client, "officer")
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == todo_url(client)


def test_login_failure(client, county):
    resp = login(client, "officer", "wrong-Password1")
    assert resp.status_code == 200
    assert "用户名或密码错误" in resp.get_data(as_text=True)
    assert logged_in_as(client) is None
    assert fresh("officer").failed_logins == 1
    resp = login(client, "nobody", PASSWORD)
    assert resp.status_code == 200 and "用户名或密码错误" in resp.get_data(as_text=True)


def test_inactive_user_refused(client, county):
    county.users["officer"].active = False
    db.session.commit()
    resp = login(client, "officer")
    assert resp.status_code == 200 and "账号已停用" in resp.get_data(as_text=True)


def test_lockout_after_five_failures(client, county):
    for _ in range(4):
        assert "用户名或密码错误" in login(client, "officer", "bad-Password1").get_data(as_text=True)
    assert fresh("officer").failed_logins == 4
    resp = login(client, "officer", "bad-Password1")
    assert "已锁定" in resp.get_data(as_text=True)
    assert fresh("officer").locked_until is not None

    resp = login(client, "officer", PASSWORD)  # right password, still refused
    assert resp.status_code == 200
    assert "账号已锁定" in resp.get_data(as_text=True)
    assert logged_in_as(client) is None

    clock.advance(timedelta(minutes=16))
    resp = login(client, "officer", PASSWORD)
    assert resp.status_code == 302
    assert logged_in_as(client) == str(county.users["officer"].id)
    assert fresh("officer").failed_logins == 0


def test_change_password_policy(client, county):
    login(client, "officer")
    page = client.get("/password").get_data(as_text=True)
    assert "长度至少 10 位" in page and "至少三类" in page

    def change(current: str, new: str, confirm: str | None = None):
        token = csrf_token(client, "/password")
        data = {"csrf_token": token, "current": current, "new": new, "confirm": confirm or new}
        return client.post("/password", data=data)

    resp = change(PASSWORD, "Ab1!x")
    assert resp.status_code == 200 and "密码长度至少 10 位" in resp.get_data(as_text=True)
    resp = change(PASSWORD, "abcdefghijkl")
    assert resp.status_code == 200 and "至少三类" in resp.get_data(as_text=True)
    resp = change("not-it-Aa1!", "New#Password2025")
    assert resp.status_code == 200 and "当前密码不正确" in resp.get_data(as_text=True)
    resp = change(PASSWORD, "New#Password2025", "Other#Password2025")
    assert resp.status_code == 200 and "不一致" in resp.get_data(as_text=True)
    assert fresh("officer").password_changed_at == county.users["officer"].password_changed_at

    resp = change(PASSWORD, "New#Password2025")
    assert resp.status_code == 302
    other = client.application.test_client()
    assert login(other, "officer", PASSWORD).status_code == 200
    assert login(other, "officer", "New#Password2025").status_code == 302


def test_password_requires_login(client, county):
    resp = client.get("/password")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


BAD_TARGETS = [
    "https://evil.example.com/",
    "//evil.example.com/x",
    "/\\evil.example.com",
    "\\\\evil.example.com",
    "javascript:alert(1)",
    "http:/evil.example.com",
    "evil.example.com",
    "/%2F%2Fevil.example.com",
    "/%5Cevil.example.com",
    "/%09/evil.example.com",
]


def test_next_open_redirect_refused(app, client, county):
    for target in BAD_TARGETS:
        client = app.test_client()
        resp = login(client, "officer", next_url=target)
        assert resp.status_code == 302, target
        assert resp.headers["Location"] == todo_url(client), target


def test_next_relative_path_followed(client, county):
    resp = login(client, "admin", next_url="/admin/users")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/users"


def test_idle_timeout_logs_out(client, county):
    login(client, "officer")
    assert client.get("/password").status_code == 200
    idle = client.application.config["SESSION_IDLE_MINUTES"]
    with client.session_transaction() as sess:
        sess["seen"] = int(time.time()) - idle * 60 - 5
    resp = client.get("/password")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert logged_in_as(client) is None
    assert client.get("/password").status_code == 302


def test_csrf_required(client, county):
    resp = client.post("/login", data={"username": "officer", "password": PASSWORD})
    assert resp.status_code == 400
    assert logged_in_as(client) is None
    assert fresh("officer").failed_logins == 0

    login(client, "officer")
    assert client.post("/logout").status_code == 400
    assert logged_in_as(client) is not None
    resp = client.post(
        "/password", data={"current": PASSWORD, "new": "New#Password2025", "confirm": "New#Password2025"}
    )
    assert resp.status_code == 400

    admin = client.application.test_client()
    login(admin, "admin")
    assert admin.post("/admin/groups", data={"code": "X", "name": "X"}).status_code == 400
