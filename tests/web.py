"""A logged-in Flask test client that behaves like a browser: its own cookies, and the CSRF token
of the last HTML page sent with every POST. Shared by the web tests."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, g

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """The test client shares the test's app context (and so ``g``) across requests; per-request
    state is cleared before each call so each request behaves like a fresh one."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.token = ""

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        for key in ("_login_user", "csrf_token", "csrf_valid"):
            g.pop(key, None)
        response = self.client.open(url, method=method, **kwargs)
        if response.mimetype == "text/html":
            match = TOKEN.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1)
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._call("GET", url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._call("POST", url, data={"csrf_token": self.token, **(data or {})}, **kwargs)


def login(app: Flask, user: Any) -> Browser:
    """A Browser logged in as ``user`` (password of tests/factories.py)."""
    from tests.factories import PASSWORD

    browser = Browser(app)
    browser.get("/login")
    response = browser.post("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser
