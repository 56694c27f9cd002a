"""Support for the negotiation tests: an autouse fixture and small helpers.

``unlink_issued``: the shared wipe in conftest deletes ``target_version`` before ``cycle_unit``
(their foreign keys form a cycle: cycle_unit.issued_version_id → target_version), which SQLite
refuses; this fixture clears those links after each test, before the wipe runs.
Import it into a test module with ``from tests.negotiation_support import unlink_issued  # noqa: F401``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g
from sqlalchemy import select, update

from app.extensions import db
from app.models import Case, CycleUnit, HumanTask, Indicator
from app.services import steps


@pytest.fixture(autouse=True)
def unlink_issued(_clean: None) -> Iterator[None]:
    yield
    db.session.rollback()
    db.session.execute(update(CycleUnit).values(issued_version_id=None))
    db.session.execute(update(Indicator).values(version_id=None))
    db.session.commit()


def open_step(case_id: int, step: str | None = None) -> HumanTask:
    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    if step:
        query = query.where(HumanTask.step == step)
    tasks = db.session.scalars(query).all()
    assert len(tasks) == 1, f"expected one open task {step}, got {[t.step for t in tasks]}"
    return tasks[0]


def act(case_id: int, step: str, user: Any, data: dict[str, Any]) -> Case:
    case = steps.submit(open_step(case_id, step), user, data)
    db.session.commit()
    return case


# --------------------------------------------------------------------------- web client

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A logged-in test client sending the CSRF token (taken from the last HTML page) with each POST."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.token = ""

    def _call(self, method: str, url: str, **kwargs: Any):
        for key in ("_login_user", "csrf_token", "csrf_valid"):
            g.pop(key, None)
        response = self.client.open(url, method=method, **kwargs)
        if response.mimetype == "text/html":
            match = TOKEN.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1)
        return response

    def get(self, url: str, **kwargs: Any):
        return self._call("GET", url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any):
        return self._call("POST", url, data={"csrf_token": self.token, **(data or {})}, **kwargs)


def login(app: Flask, user: Any) -> Browser:
    from tests.factories import PASSWORD

    browser = Browser(app)
    browser.get("/login")
    response = browser.post("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def row_fields(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Web form fields ``items-<n>-<field>`` for a list of target dicts."""
    out: dict[str, Any] = {}
    for n, item in enumerate(items):
        for key, value in item.items():
            out[f"items-{n}-{key}"] = "" if value is None else str(value)
    return out
