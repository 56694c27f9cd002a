"""Letters at the scale of one unit of 60 staff: generating, opening, signing, one PDF.

Builds ``--units`` units (default 5), each with 5 departments × 12 staff (65 letters per unit:
5 目标责任书 + 60 承诺书), and measures per unit:

- generate: ``letters.generate_for_unit`` + commit (65 letters, 65 cases, 130 inbox tasks);
- open: GET of the unit's signing board (as the office), 我的责任书 of a department head (13
  letters), one letter page (text, signatures, verification) and one signing task page;
- sign: one signature through ``steps.submit`` + commit;
- pdf: one letter's PDF (GET, wkhtmltopdf included) and the issued target list PDF.

Prints median and p95 (ms) and SQL statements; writes bench/out/letters.json.

    .venv/bin/python bench/letters.py [--units 5] [--pg]

PostgreSQL runs when ``--pg`` is given or BENCH_DATABASE_URL is set (database jixiao_bench*, wiped).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: app, tests

from bench._common import PG_DEFAULT, SqlCounter, Stats, bench_app, print_table, write_json  # noqa: E402

DEPARTMENTS = 5
STAFF_PER_DEPARTMENT = 12


def timed(stats: Stats, counter: SqlCounter, sql: list[int], action: Callable[[], Any]) -> Any:
    counter.count = 0
    with counter.counting():
        start = time.perf_counter_ns()
        result = action()
        stats.add_ns(time.perf_counter_ns() - start)
    sql.append(counter.count)
    return result


def run_backend(label: str, url: str | None, units: int) -> dict[str, Any]:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import HumanTask, Unit
    from app.services import auth, letters, org, steps
    from tests.factories import build_county, build_issued_unit

    names = ["generate", "board", "my_letters", "letter_page", "sign_page", "sign", "letter_pdf", "targets_pdf"]
    stats = {name: Stats() for name in names}
    sql: dict[str, list[int]] = {name: [] for name in names}
    with bench_app(url) as app:
        auth.configure_hasher(1, 1024)  # user creation is not what we measure
        counter = SqlCounter(db.engine)
        county = build_county()
        db.session.commit()
        office_id = county.users["office"].id
        client = app.test_client()

        def as_user(user_id: int) -> None:
            with client.session_transaction() as session:
                session["_user_id"] = str(user_id)
                session["_fresh"] = True

        def get(path: str) -> Callable[[], Any]:
            def call() -> Any:
                with app.app_context():  # a fresh context (session, g) per request, as in production
                    response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                return response

            return call

        for number in range(units):
            unit = org.create_unit(f"B{number}", f"县第{number + 1}局", kind="department", parent=county.region,
                                   group=county.school.group, staff_count=60)
            built = build_issued_unit(STAFF_PER_DEPARTMENT, DEPARTMENTS, county=county, unit=unit)
            db.session.commit()
            cycle_unit_id, version_id, unit_id = built.cycle_unit.id, built.version.id, unit.id
            head_id, dept_head_id = built.head.id, built.dept_heads[0].id
            db.session.expire_all()

            def generate(cu: int = cycle_unit_id, v: int = version_id) -> list[Any]:
                from app.models import CycleUnit, TargetVersion, User

                out = letters.generate_for_unit(
                    db.session.get(CycleUnit, cu), db.session.get(TargetVersion, v), db.session.get(User, office_id)
                )
                db.session.commit()
                return out

            out = timed(stats["generate"], counter, sql["generate"], generate)
            assert len(out) == DEPARTMENTS * (STAFF_PER_DEPARTMENT + 1)
            letter_id = out[0].id
            task_id = db.session.scalar(
                select(HumanTask.id).where(HumanTask.case_id == out[0].case_id, HumanTask.assignee_id == head_id)
            )
            as_user(office_id)
            timed(stats["board"], counter, sql["board"], get(f"/letters/board/{unit_id}"))
            timed(stats["targets_pdf"], counter, sql["targets_pdf"], get(f"/letters/targets/{unit_id}/pdf"))
            as_user(dept_head_id)
            timed(stats["my_letters"], counter, sql["my_letters"], get("/letters/"))
            timed(stats["letter_page"], counter, sql["letter_page"], get(f"/letters/{letter_id}"))
            timed(stats["letter_pdf"], counter, sql["letter_pdf"], get(f"/letters/{letter_id}/pdf"))
            as_user(head_id)
            timed(stats["sign_page"], counter, sql["sign_page"], get(f"/tasks/{task_id}"))

            def sign(t: int = task_id, u: int = head_id) -> None:
                from app.models import User

                steps.submit(db.session.get(HumanTask, t), db.session.get(User, u), {"agree": True})
                db.session.commit()

            timed(stats["sign"], counter, sql["sign"], sign)
        assert db.session.scalar(select(Unit.id).where(Unit.code == "B0")) is not None

    rows = [[name, s.as_dict()["n"], f"{s.median:.1f}", f"{s.p95:.1f}", f"{sorted(sql[name])[len(sql[name]) // 2]}"]
            for name, s in stats.items()]
    print(f"\n{label}: {units} units × {DEPARTMENTS * STAFF_PER_DEPARTMENT} staff "
          f"({DEPARTMENTS * (STAFF_PER_DEPARTMENT + 1)} letters per unit)")
    print_table(["measure", "n", "median ms", "p95 ms", "SQL (median)"], rows)
    return {name: {**s.as_dict(), "sql_median": sorted(sql[name])[len(sql[name]) // 2]} for name, s in stats.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"letters_per_unit": DEPARTMENTS * (STAFF_PER_DEPARTMENT + 1)}
    if not args.no_sqlite:
        results["sqlite"] = run_backend("SQLite", None, args.units)
    pg_url = os.environ.get("BENCH_DATABASE_URL") or (PG_DEFAULT if args.pg else None)
    if pg_url:
        results["postgresql"] = run_backend("PostgreSQL", pg_url, args.units)
    print(f"\nwrote {write_json('letters.json', results)}")


if __name__ == "__main__":
    main()
