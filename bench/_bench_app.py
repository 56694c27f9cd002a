"""Bench-only additions to the app, installed by ``bench/_bench_wsgi.py`` (never by ``app/``).

- Step handlers for the form keys of ``bench/two_lane.bpmn``: ``bench.submit`` {"note"} and
  ``bench.review`` {"decision": "approve"|"return", "reason"}; both go through
  ``cases.begin_task``/``finish_task`` like every real handler (lock, candidate check, history).
- ``/bench`` blueprint (CSRF-exempt, bench-only):
  - ``POST /bench/start`` (logged in): start a ``bench_two_lane`` case for the user's unit and
    answer its open tasks — the app has no JSON endpoint that starts an instance;
  - ``GET /bench/ping`` (logged in): the request that does nothing but authenticate;
  - ``POST /bench/touch/<case_id>`` (no login): commit one row update — the machine's ceiling;
  - ``GET /bench/sql`` / ``POST /bench/sql/reset``: statements per request of this worker (and
    the text of the first few per key);
  - ``POST /bench/profile`` {"on": bool, "dump"?: path}: cProfile every task completion of this
    worker while on; turning it off answers the pstats report (and dumps the raw stats).
- A WSGI middleware that counts the statements (``before_cursor_execute``) and the server-side
  time of every request but the three above, keyed by method and path with ids as ``<id>``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from flask_login import current_user, login_required
from sqlalchemy import event, select, text

from app.database import read_only
from app.errors import DomainError
from app.extensions import csrf, db
from app.models import Case, HumanTask, User
from app.services import cases, steps
from app.services.steps import Checker, FieldSpec, Files, register

PROCESS_KEY = "bench_two_lane"
COMPLETE_KEY = "POST /api/v1/tasks/<id>/complete"

# --------------------------------------------------------------------------- step handlers


def _describe_submit(task: HumanTask) -> list[FieldSpec]:
    return [FieldSpec("note", "说明", "textarea")]


def _describe_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "审核意见", "choice", True, [("approve", "通过"), ("return", "退回")]),
        FieldSpec("reason", "理由", "textarea"),
    ]


def _register_handlers() -> None:
    steps._load_handlers()  # the app's own handlers first: the registry loads lazily only when empty

    @register("bench.submit", _describe_submit)
    def submit(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
        ctx = cases.begin_task(task_id, user)
        check = Checker(data)
        note = check.text("note", "说明", max_len=2000)
        check.raise_if_any()
        return cases.finish_task(ctx, {"note": note}, outcome="submit", comment=note or None)

    @register("bench.review", _describe_review)
    def review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
        ctx = cases.begin_task(task_id, user)
        check = Checker(data)
        decision = check.choice("decision", "审核意见", ["approve", "return"])
        reason = check.text("reason", "理由", max_len=2000)
        check.raise_if_any()
        return cases.finish_task(ctx, {"decision": decision}, outcome=decision, comment=reason or None)


# --------------------------------------------------------------------------- statement counter


class Recorder:
    """Per-request statements and server time of one worker process (sync worker: one at a time)."""

    def __init__(self) -> None:
        self.current: list[str] | None = None
        self.counts: dict[str, list[int]] = {}
        self.server_ms: dict[str, list[float]] = {}
        self.statements: dict[str, list[list[str]]] = {}  # the first few requests per key
        self.profile: cProfile.Profile | None = None

    def on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.current is not None:
            self.current.append(" ".join(statement.split())[:160])

    def reset(self) -> None:
        self.counts.clear()
        self.server_ms.clear()
        self.statements.clear()


RECORDER = Recorder()
_ID = re.compile(r"/\d+(?=/|$)")
_UNCOUNTED = {"/bench/sql", "/bench/sql/reset", "/bench/profile"}
KEEP_STATEMENTS = 4


class CountingMiddleware:
    def __init__(self, wsgi: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi = wsgi

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in _UNCOUNTED:
            return self.wsgi(environ, start_response)
        key = f"{environ.get('REQUEST_METHOD', 'GET')} {_ID.sub('/<id>', path)}"
        statements: list[str] = []
        RECORDER.current = statements
        profile = RECORDER.profile if key == COMPLETE_KEY else None
        t0 = time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            body = list(self.wsgi(environ, start_response))  # Flask's teardown runs inside
        finally:
            if profile is not None:
                profile.disable()
            RECORDER.current = None
        RECORDER.server_ms.setdefault(key, []).append((time.perf_counter() - t0) * 1000)
        RECORDER.counts.setdefault(key, []).append(len(statements))
        kept = RECORDER.statements.setdefault(key, [])
        if len(kept) < KEEP_STATEMENTS:
            kept.append(statements)
        return body


# --------------------------------------------------------------------------- endpoints

bp = Blueprint("bench", __name__, url_prefix="/bench")
csrf.exempt(bp)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    db.session.rollback()
    response = jsonify({"error": {"code": exc.status, "message": exc.message}})
    response.status_code = exc.status
    return response


@bp.post("/start")
@login_required
def start() -> Response:
    user: User = current_user._get_current_object()
    if user.unit_id is None:
        raise DomainError("用户没有所属单位")
    number = request.get_json(silent=True) or {}
    case = cases.start_case(
        PROCESS_KEY, unit_id=user.unit_id, title=f"基准测试 {number.get('n', '')}".strip(), started_by=user
    )
    case_id = case.id
    tasks = db.session.scalars(  # in the same transaction (a read after the commit would open another)
        select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.status == "open").order_by(HumanTask.id)
    ).all()
    db.session.commit()
    return jsonify({"case_id": case_id, "next_tasks": [{"id": t} for t in tasks]})


@bp.get("/ping")
@login_required
@read_only
def ping() -> Response:
    return Response("ok", mimetype="text/plain")


@bp.post("/touch/<int:case_id>")
def touch(case_id: int) -> Response:
    db.session.execute(text("UPDATE wf_case SET current_step = current_step WHERE id = :id"), {"id": case_id})
    db.session.commit()
    return Response("ok", mimetype="text/plain")


@bp.get("/sql")
def sql() -> Response:
    return jsonify(
        {
            "counts": RECORDER.counts,
            "server_ms": {k: [round(v, 3) for v in vs] for k, vs in RECORDER.server_ms.items()},
            "statements": RECORDER.statements,
        }
    )


@bp.post("/sql/reset")
def sql_reset() -> Response:
    RECORDER.reset()
    return jsonify({"ok": True})


@bp.post("/profile")
def profile() -> Response:
    body = request.get_json(silent=True) or {}
    if body.get("on"):
        RECORDER.profile = cProfile.Profile()
        return jsonify({"ok": True})
    prof, RECORDER.profile = RECORDER.profile, None
    if prof is None:
        return Response("profiling is off", status=409, mimetype="text/plain")
    if body.get("dump"):
        prof.dump_stats(str(body["dump"]))  # for pstats in the bench script (same machine)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(int(body.get("limit", 60)))
    stats.sort_stats("tottime").print_stats(int(body.get("limit", 60)))
    return Response(out.getvalue(), mimetype="text/plain")


def install(app: Flask) -> None:
    """Register the handlers, the blueprint and the counting middleware on ``app``."""
    _register_handlers()
    app.register_blueprint(bp)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", RECORDER.on_execute)
    app.wsgi_app = CountingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
