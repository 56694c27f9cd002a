"""Inbox at scale: one user with 500 open tasks among 100,000 tasks they completed.

Seeds a fresh database with set-based inserts (``executemany`` of Core INSERTs, not through the
workflow engine): the small county of ``tests/factories.py``, 20 more units, 20,950 cases of the
deployed ``assessment`` process, 100,000 completed tasks (completed by ``officer``, 5 per case),
500 open tasks for ``officer`` (role unit_officer at 县第一中学, part of them overdue), 4,500 open
tasks of other units (other users' work the candidate clause must skip) and 2,000 notifications,
then VACUUM ANALYZE (as autovacuum would have). Then, through the Flask test client (in-process,
a fresh app context per request, as in production), times N requests (default 50) of each page
and prints median / p95:

- ``GET /tasks`` (待办 HTML, 50 per page), filtered/sorted variants, the last page;
- ``GET /api/v1/tasks`` (50 and 100 per page) and a filtered variant;
- ``GET /tasks/done`` and ``GET /api/v1/tasks/done`` (the 100,000 completed tasks);
- statements per request, and EXPLAIN (ANALYZE, BUFFERS) of the 待办 and 已办 list statements.

    .venv/bin/python bench/inbox_scale.py [-n 50] [--sqlite] [--no-pg]

PostgreSQL: BENCH_DATABASE_URL or postgresql+psycopg://postgres@127.0.0.1:5432/jixiao_bench_inbox
(created if missing, wiped each run). Writes bench/out/inbox_scale.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PG_DEFAULT, Stats, bench_app, print_table, write_json  # noqa: E402

PG_URL = os.environ.get("BENCH_DATABASE_URL") or PG_DEFAULT + "_inbox"
OPEN_MINE, DONE_MINE, OPEN_OTHERS, PER_CASE = 500, 100_000, 4_500, 5
CHUNK = 5_000


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    from app.extensions import db

    for start in range(0, len(rows), CHUNK):
        db.session.execute(table.insert(), rows[start:start + CHUNK])


def seed() -> dict[str, Any]:
    """The county, then cases / tasks / notifications in bulk. Returns ids the timing needs."""
    from sqlalchemy import select

    from app import clock
    from app.extensions import db
    from app.models import Case, HumanTask, Notification, ProcessDefinition
    from app.services import org
    from tests.factories import build_county

    started = time.monotonic()
    county = build_county()
    units = [county.school.id] + [
        org.create_unit(f"U{i:02d}", f"第{i}号单位", kind="department", parent=county.region).id for i in range(20)
    ]
    db.session.commit()
    definition = db.session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.key == "assessment", ProcessDefinition.is_latest.is_(True))
    ).first()
    assert definition is not None
    officer, office = county.users["officer"], county.users["office"]
    now = clock.now()
    case_count = DONE_MINE // PER_CASE + OPEN_MINE + OPEN_OTHERS // 10
    cases = []
    for i in range(case_count):
        unit_id = county.school.id if i < DONE_MINE // PER_CASE + OPEN_MINE else units[1 + i % 20]
        cases.append({
            "definition_id": definition.id, "process_key": "assessment", "title": f"第{i}号案件 2025 年度考核",
            "unit_id": unit_id, "cycle_id": county.cycle.id, "status": "running", "current_step": "单位自评",
            "state": "{}", "serializer_version": "bench", "lock_version": 1, "has_pending_timers": False,
            "started_by_id": office.id, "started_at": now - dt.timedelta(days=400 - i % 365),
        })
    _insert(Case.__table__, cases)
    db.session.commit()
    case_ids = list(db.session.scalars(select(Case.id).order_by(Case.id)))
    steps = [("self_assessment", "单位自评"), ("supervisor_review", "主管部门审核"), ("audit", "审核组审核"),
             ("scoring", "考核组评分"), ("monitoring", "监督组监督")]

    def task(case_id: int, unit_id: int, step: int, age_h: float, **extra: Any) -> dict[str, Any]:
        created = now - dt.timedelta(hours=age_h)
        row = {"case_id": case_id, "spiff_task_id": str(uuid.uuid4()), "step": steps[step][0],
               "name": steps[step][1], "role": "unit_officer", "unit_id": unit_id, "form_key": None,
               "status": "open", "assignee_id": None, "created_at": created, "due_at": created + dt.timedelta(days=10),
               "completed_at": None, "completed_by_id": None, "outcome": None}
        row.update(extra)
        return row

    done_cases = DONE_MINE // PER_CASE
    rows = []
    for index in range(DONE_MINE):
        case_id = case_ids[index // PER_CASE]
        age = 24 * 400 - index * 0.08
        rows.append(task(case_id, county.school.id, index % PER_CASE, age, status="completed",
                         completed_at=now - dt.timedelta(hours=age - 1), completed_by_id=officer.id, outcome="submit"))
    _insert(HumanTask.__table__, rows)
    rows = [task(case_ids[done_cases + i], county.school.id, i % PER_CASE, (i % 15) * 24 + i % 24)
            for i in range(OPEN_MINE)]
    rows += [task(case_ids[done_cases + OPEN_MINE + i // 10], units[1 + (i // 10) % 20], i % PER_CASE, i % 300)
             for i in range(OPEN_OTHERS)]
    _insert(HumanTask.__table__, rows)
    notes = [{"user_id": officer.id, "kind": "info", "title": f"消息{i}", "created_at": now - dt.timedelta(minutes=i),
              "read_at": None if i < 40 else now} for i in range(2_000)]
    _insert(Notification.__table__, notes)
    db.session.commit()
    # What autovacuum does to tables grown over a year: statistics and the visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE")
    return {"seconds": round(time.monotonic() - started, 1), "school": county.school.id, "cycle": county.cycle.id,
            "officer": officer.id, "password": _password()}


def _password() -> str:
    from tests.factories import PASSWORD

    return PASSWORD


class Capture:
    """Statements of the requests made while ``on`` (for counts and EXPLAIN)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._hit)

    def _hit(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.statements.append((statement, parameters))


def _explain(app: Any, statement: str, parameters: Any) -> list[str]:
    from app.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return [" | ".join(str(c) for c in row) if len(row) > 1 else str(row[0]) for row in rows]


def measure(label: str, url: str | None, n: int) -> dict[str, Any]:
    with bench_app(url) as app:
        from app.extensions import db

        info = seed()
        print(f"  {label}: seeded in {info['seconds']} s", flush=True)
        client = app.test_client()
        with app.app_context():
            token = client.post("/api/v1/auth/token", json={"username": "officer", "password": info["password"]})
        bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
        with client.session_transaction() as sess:
            sess["_user_id"], sess["_fresh"] = str(info["officer"]), True
        capture = Capture(db.engine)
        last = -(-OPEN_MINE // 50)
        pages = [
            ("HTML 待办 /tasks (50/page)", "/tasks", {}),
            ("HTML 待办 sorted by received desc", "/tasks?sort=received&order=desc", {}),
            ("HTML 待办 search q=第2000 + overdue", "/tasks?q=第2000&overdue=1", {}),
            (f"HTML 待办 last page ({last})", f"/tasks?page={last}", {}),
            ("API GET /api/v1/tasks (50)", "/api/v1/tasks", bearer),
            ("API GET /api/v1/tasks?per_page=100", "/api/v1/tasks?per_page=100", bearer),
            ("API tasks filtered (step, sort=unit)", "/api/v1/tasks?step=audit&sort=unit&order=desc", bearer),
            ("HTML 已办 /tasks/done (100k)", "/tasks/done", {}),
            ("API GET /api/v1/tasks/done (100k)", "/api/v1/tasks/done", bearer),
        ]
        results: list[dict[str, Any]] = []
        plans: dict[str, list[str]] = {}
        for name, path, headers in pages:
            with app.app_context():
                check = client.get(path, headers=headers)
            if check.status_code != 200:
                raise SystemExit(f"{label}: {path} answered {check.status_code}")
            if path == "/api/v1/tasks" and check.get_json()["total"] != OPEN_MINE:
                raise SystemExit(f"{label}: expected {OPEN_MINE} open tasks, got {check.get_json()['total']}")
            stats = Stats()
            capture.statements.clear()
            for _ in range(n):
                capture.on = True
                t0 = time.perf_counter_ns()
                with app.app_context():
                    response = client.get(path, headers=headers)
                stats.add_ns(time.perf_counter_ns() - t0)
                capture.on = False
                assert response.status_code == 200
            per_request = len(capture.statements) / n
            results.append({"page": name, "path": path, **stats.as_dict(), "statements": per_request})
            if path in ("/api/v1/tasks", "/api/v1/tasks/done"):
                listing = max(capture.statements[: int(per_request)], key=lambda s: len(s[0]))
                plans[path] = _explain(app, *listing)
        return {"label": label, "seed": info, "results": results, "plans": plans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=50, help="requests per page")
    parser.add_argument("--sqlite", action="store_true", help="also run on a temporary SQLite file")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    runs = []
    if not args.no_pg:
        runs.append(measure("postgresql", PG_URL, args.n))
    if args.sqlite:
        runs.append(measure("sqlite", None, args.n))
    for run in runs:
        print(f"\n{run['label']}: officer has {OPEN_MINE} open tasks, {DONE_MINE:,} done; "
              f"{OPEN_OTHERS:,} open tasks of other units; {args.n} requests each")
        print_table(["page", "median ms", "p95 ms", "SQL/request"],
                    [[r["page"], f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['statements']:.0f}"]
                     for r in run["results"]])
        for path, plan in run["plans"].items():
            print(f"\n  plan of the list statement of {path}:")
            for line in plan:
                print("    " + line)
    path = write_json("inbox_scale.json", runs)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
