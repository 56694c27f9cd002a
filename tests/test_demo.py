"""`flask demo` leaves real work in every role's inbox, and every page those users reach renders."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services import demo, inbox

SKIP = (".pdf", "/pdf", ".xlsx", "/xlsx", "/download", "/logout")


def _crawl(app, username: str, limit: int = 80) -> tuple[int, list[tuple[str, int]]]:
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    data = {"username": username, "password": demo.DEMO_PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    assert client.post("/login", data=data).status_code in (302, 303)
    queue, seen, errors = ["/tasks"], set(), []
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code >= 500:
            errors.append((url, response.status_code))
        if response.status_code == 200 and response.mimetype == "text/html":
            for href in re.findall(r'href="(/[^"#?]*)', response.get_data(as_text=True)):
                if not href.startswith("/static") and not href.endswith(SKIP) and href not in seen:
                    queue.append(href)
    return len(seen), errors


def test_demo_gives_every_role_work_and_no_page_fails(app):
    assert demo.seed() is True
    db.session.commit()
    assert demo.seed() is False  # idempotent
    users = {u.username: u for u in db.session.scalars(select(User))}
    todo = {name: inbox.counts(users[name])["todo"] for name in (
        "office", "committee", "auditor", "assessor", "monitor", "supervisor", "t102_officer", "t103_officer",
        "d103_head", "t101_head", "t101_dept", "t101_staff")}
    assert all(count >= 1 for count in todo.values()), todo
    assert inbox.counts(users["t101_head"])["overdue"] == 0  # letters are due at the end of the year
    for username in ("office", "committee", "supervisor", "inspector", "t101_head", "t102_officer", "admin"):
        visited, errors = _crawl(app, username)
        assert visited > 10 and errors == [], (username, errors)
