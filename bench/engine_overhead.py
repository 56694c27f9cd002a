"""What does completing one task cost through the service layer, compared with the bare engine?

For N assessment cases (default 200) every case is driven through assessment.bpmn; the
review-type steps, whose handlers do almost no domain work, are timed twice on the same state:

- service: what a request does — load the HumanTask and the user, ``steps.submit`` (lock the
  case, load the instance, complete, mirror inbox rows and timers, history, store the state)
  and ``db.session.commit()``; each completion starts with a fresh session, like a request;
- raw: ``Instance.load`` of the same stored JSON with the cached spec, ``complete`` of the same
  task with the same data (the engine runs its steps) and ``Instance.dumps``;
- durable-write floor: one UPDATE of the case row and a COMMIT on the bare driver connection (no
  SQLAlchemy), i.e. the least any service that durably records a completion pays on that database.
  ``(raw + floor) / raw`` is the lowest ratio reachable even if everything else cost nothing.

The steps self_assessment and scoring (real domain writes) are driven untimed. Prints median and
p95 per step and overall, the ratio of medians, SQL statements per completion and the stored
state size; writes bench/out/engine_overhead.json.

    .venv/bin/python bench/engine_overhead.py [-n 200] [--pg] [--no-sqlite]

PostgreSQL runs when ``--pg`` is given or BENCH_DATABASE_URL is set (default database
``jixiao_bench`` on 127.0.0.1, created if missing, wiped on each run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: app, tests

from bench._common import PG_DEFAULT, SqlCounter, Stats, bench_app, print_table, write_json  # noqa: E402

TARGET_RATIO = 1.5
APPROVE = {"decision": "approve"}
# (step, timed?, actor) in process order; the untimed steps do real domain work
PLAN: list[tuple[str, bool, str]] = [
    ("self_assessment", False, "officer"),
    ("supervisor_review", True, "supervisor"),
    ("audit", True, "auditor"),
    ("scoring", False, "assessor"),
    ("monitoring", True, "monitor"),
    ("committee_approval", True, "committee"),
]
# what each timed step's handler hands to the engine (see app/services/assessment.py)
ENGINE_DATA: dict[str, dict[str, Any]] = {
    "supervisor_review": {"decision": "approve", "reason": ""},
    "audit": {"decision": "approve", "reason": ""},
    "monitoring": {"flagged": False, "monitor_note": ""},
    "committee_approval": {"decision": "approve", "reason": ""},
}


def submit_data(step: str, case_id: int) -> dict[str, Any]:
    from tests.helpers import scoring_data, self_assessment_data

    if step == "self_assessment":
        return self_assessment_data(case_id)
    if step == "scoring":
        return scoring_data(case_id)
    if step == "monitoring":
        return {"flagged": False}
    return dict(APPROVE)


def run_backend(label: str, url: str | None, cases_n: int, warmup: int) -> dict[str, Any]:
    from sqlalchemy import select

    from app import engine
    from app.extensions import db
    from app.models import Case, HumanTask, User
    from app.services import cases, steps
    from tests.factories import build_county, start_assessment

    with bench_app(url):
        counter = SqlCounter(db.engine)
        county = build_county()
        db.session.commit()
        user_ids = {name: user.id for name, user in county.users.items()}
        case_ids = [start_assessment(county) for _ in range(warmup + cases_n)]
        timed_steps = [s for s, timed, _ in PLAN if timed]
        service = {s: Stats() for s in timed_steps}
        raw = {s: Stats() for s in timed_steps}
        floor = Stats()
        sql = {s: [] for s in timed_steps}
        state_bytes = {s: [] for s in timed_steps}

        for step, timed, actor in PLAN:
            for index, case_id in enumerate(case_ids):
                record = timed and index >= warmup
                db.session.remove()
                task_id = db.session.scalar(
                    select(HumanTask.id).where(
                        HumanTask.case_id == case_id, HumanTask.status == "open", HumanTask.step == step
                    )
                )
                if task_id is None:
                    raise SystemExit(f"case {case_id}: no open {step} task")
                data = submit_data(step, case_id)
                if timed:  # the raw engine on exactly the state the service is about to load
                    case = db.session.get(Case, case_id)
                    spiff_id = db.session.get(HumanTask, task_id).spiff_task_id
                    parsed = cases.process_of(case.definition)
                    state, version = case.state, case.serializer_version
                    t0 = time.perf_counter_ns()
                    instance = engine.Instance.load(parsed, state, version)
                    instance.complete(spiff_id, ENGINE_DATA[step])
                    dumped = instance.dumps()
                    elapsed = time.perf_counter_ns() - t0
                    if record:
                        raw[step].add_ns(elapsed)
                        state_bytes[step].append(len(dumped.encode()))
                db.session.remove()  # a request starts with an empty session
                if timed:
                    elapsed = _durable_write_ns(case_id)
                    if record:
                        floor.add_ns(elapsed)

                counter.count = 0
                with counter.counting():
                    t0 = time.perf_counter_ns()
                    task = db.session.get(HumanTask, task_id)
                    user = db.session.get(User, user_ids[actor])
                    steps.submit(task, user, data)
                    db.session.commit()
                    elapsed = time.perf_counter_ns() - t0
                if record:
                    service[step].add_ns(elapsed)
                    sql[step].append(counter.count)

        db.session.remove()
        check = db.session.scalars(select(Case.current_step).where(Case.id.in_(case_ids))).all()
        if any(c is not None for c in check):
            raise SystemExit(f"{label}: cases did not all reach publicity: {set(check)}")

    results: dict[str, Any] = {"backend": label, "cases": cases_n, "steps": {}}
    every_service, every_raw, every_sql, every_state = Stats(), Stats(), [], []
    for step in timed_steps:
        every_service.samples_ms += service[step].samples_ms
        every_raw.samples_ms += raw[step].samples_ms
        every_sql += sql[step]
        every_state += state_bytes[step]
        results["steps"][step] = _summary(service[step], raw[step], sql[step], state_bytes[step])
    results["all"] = _summary(every_service, every_raw, every_sql, every_state)
    results["durable_write_floor"] = floor.as_dict()
    results["lowest_reachable_ratio"] = round((every_raw.median + floor.median) / every_raw.median, 2)
    return results


def _durable_write_ns(case_id: int) -> int:
    """One UPDATE of the case row and a COMMIT on the driver's own connection, timed."""
    from app.extensions import db

    with db.engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        marker = "?" if db.engine.dialect.name == "sqlite" else "%s"
        cursor = driver.cursor()
        t0 = time.perf_counter_ns()
        cursor.execute(f"UPDATE wf_case SET lock_version = lock_version WHERE id = {marker}", (case_id,))
        driver.commit()
        elapsed = time.perf_counter_ns() - t0
        cursor.close()
    return elapsed


def _summary(service: Stats, raw: Stats, sql: list[int], state: list[int]) -> dict[str, Any]:
    ordered = sorted(state)
    return {
        "service": service.as_dict(),
        "raw": raw.as_dict(),
        "ratio_of_medians": round(service.median / raw.median, 2),
        "sql_per_completion": {"min": min(sql), "max": max(sql), "mean": round(sum(sql) / len(sql), 1)},
        "state_bytes": {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--cases", type=int, default=200, help="assessment cases per backend (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="extra cases run first and not recorded")
    parser.add_argument("--pg", action="store_true", help=f"also PostgreSQL (BENCH_DATABASE_URL or {PG_DEFAULT})")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    args = parser.parse_args()

    backends: list[tuple[str, str | None]] = []
    if not args.no_sqlite:
        backends.append(("sqlite", None))
    pg_url = os.environ.get("BENCH_DATABASE_URL") or (PG_DEFAULT if args.pg else None)
    if pg_url:
        backends.append(("postgresql", pg_url))

    results = []
    for label, url in backends:
        print(f"running {label}: {args.cases} cases x {len(ENGINE_DATA)} timed completions ...", flush=True)
        results.append(run_backend(label, url, args.cases, args.warmup))

    rows = []
    for result in results:
        for step, summary in [*result["steps"].items(), ("ALL", result["all"])]:
            rows.append(
                [
                    result["backend"],
                    step,
                    summary["service"]["n"],
                    f"{summary['service']['median_ms']:.2f}",
                    f"{summary['service']['p95_ms']:.2f}",
                    f"{summary['raw']['median_ms']:.2f}",
                    f"{summary['raw']['p95_ms']:.2f}",
                    f"{summary['ratio_of_medians']:.2f}",
                    f"{summary['sql_per_completion']['mean']:g}",
                    summary["state_bytes"]["median"],
                ]
            )
    print()
    print_table(
        [
            "backend",
            "step",
            "n",
            "service med ms",
            "service p95 ms",
            "raw med ms",
            "raw p95 ms",
            "ratio (med)",
            "SQL/completion",
            "state bytes (med)",
        ],
        rows,
    )
    print()
    for result in results:
        ratio = result["all"]["ratio_of_medians"]
        verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
        print(f"{result['backend']}: service/raw = {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
        floor, lowest = result["durable_write_floor"], result["lowest_reachable_ratio"]
        print(f"{result['backend']}: durable-write floor (1 UPDATE + COMMIT, bare driver) median "
              f"{floor['median_ms']:.2f} ms, p95 {floor['p95_ms']:.2f} ms -> lowest reachable ratio "
              f"(raw + floor) / raw = {lowest:.2f}")
    path = write_json("engine_overhead.json", {"target_ratio": TARGET_RATIO, "results": results})
    print(f"wrote {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
