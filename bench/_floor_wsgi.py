"""The request floor of the HTTP benches: what gunicorn and the client cost before any app code.

``bare``: a plain WSGI callable; ``flask_app``: Flask with one route and nothing else. Served by
the same gunicorn command and measured by the same client loop as the app (``bench/_http.py``),
so a row's distance to the floor is what the app itself spends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask


def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


flask_app = Flask(__name__)


@flask_app.get("/bench/sql")
def ping() -> str:
    return "ok"
