"""HTTP latency of the app under gunicorn (one sync worker), measured like the peer in issue 7.

For each database (a fresh SQLite file; a fresh PostgreSQL database ``jixiao_bench_http``):
deploy ``bench/two_lane.bpmn`` (submit in lane unit_officer → review in lane supervisor) with
``definitions.deploy_bpmn``, start gunicorn with ``bench/_bench_wsgi.py`` and, from a single
client loop (http.client, bearer tokens of the two users):

1. start N instances (default 200) to their first task — ``POST /bench/start`` (bench shim:
   the app has no JSON start endpoint);
2. complete both tasks of each — ``POST /api/v1/tasks/<id>/complete``, submit as ``officer``,
   review as ``supervisor``;
3. fill to 1,000 open instances (in this process, untimed) and list the officer's inbox 50
   times, 100 per page: ``GET /api/v1/tasks?per_page=100`` and the HTML page ``/tasks?per_page=100``;
4. the logged-in request that does almost nothing: ``GET /api/v1/me`` and ``GET /bench/ping``;
5. the request floor in the same run: the same gunicorn command and client on a bare WSGI
   callable and on a one-route Flask app (``bench/_floor_wsgi.py``), no app code, no database.

The server counts SQL statements per request (``before_cursor_execute`` in the worker, read
back from ``/bench/sql``). Prints operation × database with median / p95 ms, the server-side
median, statements per request, the peer's figures and the speed-up (peer median ÷ ours; the
lower end of the peer's range, so the ratio is conservative). Writes bench/out/http_latency.json;
``--profile N`` also writes a cProfile of N completions per database to
bench/out/http_latency_profile_<db>.txt.

    .venv/bin/python bench/http_latency.py [--quick] [-n 200] [--no-sqlite] [--no-pg] [--profile N]

PostgreSQL: BENCH_DATABASE_URL or postgresql+psycopg://postgres@127.0.0.1:5432/jixiao_bench_http
(created if missing, wiped each run; only databases named jixiao_bench* are ever wiped).
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: app, bench, tests

from bench._common import OUT, PG_DEFAULT, ROOT, Stats, percentile, print_table, write_json  # noqa: E402
from bench._http import (
    APPROVE,
    SUBMIT,
    Client,
    floor_ms,
    gunicorn,
    pg_unreachable,
    prepared,
    sql_report,
    sql_reset,
    start_cases,
    token,
)  # noqa: E402

PG_URL = PG_DEFAULT + "_http"
GOAL = 10.0
COMPLETE = "POST /api/v1/tasks/<id>/complete"
# peer figures from issue 7: (median low, median high), (p95 low, p95 high) in ms
PEER: dict[str, dict[str, tuple[tuple[float, float], tuple[float, float] | None]]] = {
    "start": {"postgresql": ((59, 65), (66, 70)), "sqlite": ((53, 53), (59, 59))},
    "complete": {"postgresql": ((60, 65), (66, 71)), "sqlite": ((49, 49), (53, 53))},
    "inbox": {"postgresql": ((31, 33), (35, 37)), "sqlite": ((22, 22), (26, 26))},
    "noop": {"postgresql": ((7, 7), None), "sqlite": ((5, 5), None)},
}
# (row label, peer row, server key)
ROWS = [
    ("start instance → first task", "start", "POST /bench/start"),
    ("complete task (both)", "complete", COMPLETE),
    ("  complete submit (unit_officer)", "complete", COMPLETE),
    ("  complete review (supervisor)", "complete", COMPLETE),
    ("inbox API, 100 per page", "inbox", "GET /api/v1/tasks"),
    ("inbox HTML, 100 per page", "inbox", "GET /tasks"),
    ("logged-in: GET /api/v1/me", "noop", "GET /api/v1/me"),
    ("logged-in: GET /bench/ping", "noop", "GET /bench/ping"),
]


def _timed(client: Client, stats: Stats | None, method: str, path: str, body: Any = None) -> Any:
    answer = client.json(method, path, body)
    if stats is not None:
        stats.add_ns(client.last_ns)
    return answer


def _lifecycle(officer: Client, supervisor: Client, n: int, record: dict[str, Stats] | None) -> None:
    """Start n instances, then complete submit and review of each."""
    get = (lambda name: record[name]) if record is not None else (lambda name: None)
    first: list[int] = []
    for index in range(n):
        started = _timed(officer, get("start"), "POST", "/bench/start", {"n": index})
        first.append(started["next_tasks"][0]["id"])
    for task_id in first:
        answer = _timed(officer, get("submit"), "POST", f"/api/v1/tasks/{task_id}/complete", SUBMIT)
        review_id = answer["next_tasks"][0]["id"]
        answer = _timed(supervisor, get("review"), "POST", f"/api/v1/tasks/{review_id}/complete", APPROVE)
        if answer["case_status"] != "completed":
            raise SystemExit(f"case {answer['case_id']} did not complete: {answer}")


def run_backend(label: str, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with prepared(url) as setup, gunicorn(setup, workers=1) as server:
        officer = Client(server.port, token(server.port, "officer", setup.password))
        supervisor = Client(server.port, token(server.port, "supervisor", setup.password))
        _lifecycle(officer, supervisor, args.warmup, None)  # specs parsed, caches and pool warm
        for path in ("/api/v1/tasks?per_page=100", "/tasks?per_page=100", "/api/v1/me", "/bench/ping"):
            officer.call("GET", path)
        sql_reset(server.port)

        stats = {name: Stats() for name in ("start", "submit", "review", "api_inbox", "html_inbox", "me", "ping")}
        t0 = time.monotonic()
        _lifecycle(officer, supervisor, args.instances, stats)
        elapsed = time.monotonic() - t0
        print(f"  {label}: {args.instances} instances started and completed in {elapsed:.1f} s", flush=True)

        start_cases(setup, args.fill)
        listing = officer.json("GET", "/api/v1/tasks?per_page=100")
        if listing["total"] != args.fill or len(listing["items"]) != min(100, args.fill):
            raise SystemExit(f"{label}: inbox shows {listing['total']} tasks, expected {args.fill}")
        for _ in range(args.lists):
            _timed(officer, stats["api_inbox"], "GET", "/api/v1/tasks?per_page=100")
        for _ in range(args.lists):
            status, body = officer.call("GET", "/tasks?per_page=100")
            if status != 200 or "提交".encode() not in body:
                raise SystemExit(f"{label}: HTML inbox answered {status}")
            stats["html_inbox"].add_ns(officer.last_ns)
        for _ in range(args.noop):
            _timed(officer, stats["me"], "GET", "/api/v1/me")
        for _ in range(args.noop):
            status, _ = officer.call("GET", "/bench/ping")
            if status != 200:
                raise SystemExit(f"{label}: /bench/ping answered {status}")
            stats["ping"].add_ns(officer.last_ns)
        report = sql_report(server.port)
        profile = _profile(label, setup, officer, supervisor, server.port, args.profile) if args.profile else None

    both = Stats(stats["submit"].samples_ms + stats["review"].samples_ms)
    counts, server_ms = report["counts"], report["server_ms"]
    completions = counts.get(COMPLETE, [])
    completion_ms = server_ms.get(COMPLETE, [])
    split = {
        "complete task (both)": (completions, completion_ms),
        "  complete submit (unit_officer)": (completions[0::2], completion_ms[0::2]),
        "  complete review (supervisor)": (completions[1::2], completion_ms[1::2]),
    }
    by_row = {
        "start instance → first task": stats["start"],
        "complete task (both)": both,
        "  complete submit (unit_officer)": stats["submit"],
        "  complete review (supervisor)": stats["review"],
        "inbox API, 100 per page": stats["api_inbox"],
        "inbox HTML, 100 per page": stats["html_inbox"],
        "logged-in: GET /api/v1/me": stats["me"],
        "logged-in: GET /bench/ping": stats["ping"],
    }
    rows = {}
    for row, peer, key in ROWS:
        sql, srv = split.get(row, (counts.get(key, []), server_ms.get(key, [])))
        rows[row] = {
            "peer_row": peer,
            "client": by_row[row].as_dict(),
            "server_median_ms": round(statistics.median(srv), 3) if srv else None,
            "sql_per_request": _sql_summary(sql),
        }
    return {
        "backend": label,
        "instances": args.instances,
        "open_instances_for_inbox": args.fill,
        "rows": rows,
        "sql_statements": {
            "complete submit": report["statements"].get(COMPLETE, [[]])[0],
            "complete review": (report["statements"].get(COMPLETE, [[], []]) + [[]])[1],
            "start": report["statements"].get("POST /bench/start", [[]])[0],
            "inbox API": report["statements"].get("GET /api/v1/tasks", [[]])[0],
            "inbox HTML": report["statements"].get("GET /tasks", [[]])[0],
            "me": report["statements"].get("GET /api/v1/me", [[]])[0],
        },
        "profile": profile,
    }


def _sql_summary(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    p95 = percentile([float(v) for v in values], 95)
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "p95": p95}


def _profile(label: str, setup: Any, officer: Client, supervisor: Client, port: int, n: int) -> dict[str, Any]:
    """cProfile of n submit + n review completions inside the worker; written to bench/out/."""
    first = [officer.json("POST", "/bench/start")["next_tasks"][0]["id"] for _ in range(n)]
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / f"http_latency_profile_{label}.prof"
    Client(port).json("POST", "/bench/profile", {"on": True})
    for task_id in first:
        review_id = officer.json("POST", f"/api/v1/tasks/{task_id}/complete", SUBMIT)["next_tasks"][0]["id"]
        supervisor.json("POST", f"/api/v1/tasks/{review_id}/complete", APPROVE)
    status, text = Client(port).call("POST", "/bench/profile", {"on": False, "limit": 60, "dump": str(raw)})
    if status != 200:
        raise SystemExit(f"profile: HTTP {status}")
    path = OUT / f"http_latency_profile_{label}.txt"
    header = f"# {2 * n} completions ({n} submit + {n} review) in one gunicorn worker, {label}\n"
    path.write_text(header + text.decode())
    return {"completions": 2 * n, "report": str(path.relative_to(ROOT)), **_breakdown(raw)}


_WEB = ("flask", "werkzeug", "jinja2", "flask_login", "flask_wtf", "wtforms", "markupsafe", "itsdangerous")
_LAYERS = [
    ("database driver + waiting for the server", ("psycopg", "sqlite3", "_sqlite3")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("SpiffWorkflow (engine)", ("SpiffWorkflow", "lxml")),
    ("Flask / Werkzeug / Jinja / Flask-Login / WTF", _WEB),
    ("app/ + bench/ code (own time)", ("app", "bench", "forms")),
    ("json (stdlib)", ("json",)),
]


def _layer(filename: str, name: str) -> str:
    if filename == "~":  # a built-in: name it by its module where the profiler says it
        key = "sqlite3" if "sqlite3" in name else ("json" if "json" in name else "")
    elif "site-packages/" in filename:
        key = filename.split("site-packages/", 1)[1].split("/", 1)[0]
    elif filename.startswith(str(ROOT)):
        key = Path(filename).relative_to(ROOT).parts[0]
    else:
        key = "json" if "/json/" in filename else ""
    for label, packages in _LAYERS:
        if key in packages:
            return label
    return "other (stdlib, builtins)"


def _breakdown(raw: Path) -> dict[str, Any]:
    """Own time per layer, and the app functions with the largest cumulative time (shares of the total)."""
    stats = pstats.Stats(str(raw))
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values()) or 1.0
    layers: dict[str, float] = {}
    hot = []
    for (filename, line, name), (_cc, calls, tt, ct, _callers) in entries.items():
        layer = _layer(filename, name)
        layers[layer] = layers.get(layer, 0.0) + tt
        if filename.startswith(str(ROOT / "app")):
            hot.append((ct, f"{Path(filename).relative_to(ROOT)}:{line}({name})", calls))
    hot.sort(reverse=True)
    return {
        "profiled_ms_per_completion": round(total * 1000 / max(1, _completions(entries)), 2),
        "own_time_share_by_layer": {k: round(v / total, 3) for k, v in sorted(layers.items(), key=lambda i: -i[1])},
        "app_functions_by_cumulative_share": [
            {"function": where, "calls": calls, "share": round(ct / total, 3)} for ct, where, calls in hot[:15]
        ],
    }


def _completions(entries: dict[Any, Any]) -> int:
    return max((nc for (f, _l, name), (_cc, nc, *_rest) in entries.items() if name == "complete_task"), default=1)


def _peer_text(peer: tuple[tuple[float, float], tuple[float, float] | None]) -> str:
    (m_lo, m_hi), p95 = peer
    median = f"{m_lo:g}" if m_lo == m_hi else f"{m_lo:g}–{m_hi:g}"
    if p95 is None:
        return median
    return f"{median} / " + (f"{p95[0]:g}" if p95[0] == p95[1] else f"{p95[0]:g}–{p95[1]:g}")


def print_results(results: list[dict[str, Any]]) -> None:
    table = []
    for result in results:
        backend = result["backend"]
        for row, peer_row, _ in ROWS:
            data = result["rows"][row]
            peer = PEER[peer_row][backend]
            median = data["client"]["median_ms"]
            speedup = peer[0][0] / median if median else float("nan")
            sql = data["sql_per_request"]
            table.append(
                [
                    row,
                    backend,
                    data["client"]["n"],
                    f"{median:.2f}",
                    f"{data['client']['p95_ms']:.2f}",
                    f"{data['server_median_ms']:.2f}" if data["server_median_ms"] is not None else "-",
                    f"{sql['median']:g}" if sql else "-",
                    _peer_text(peer),
                    f"{speedup:.1f}x",
                    "yes" if speedup >= GOAL else "no",
                ]
            )
    print()
    print_table(
        [
            "operation",
            "db",
            "n",
            "median ms",
            "p95 ms",
            "server med ms",
            "SQL/req",
            "peer med / p95 ms",
            "peer÷ours",
            f"≥{GOAL:g}x",
        ],
        table,
    )
    print()
    for result in results:
        print(f"{result['backend']}: inbox listed with {result['open_instances_for_inbox']} open instances")
        sql = result["rows"]["complete task (both)"]["sql_per_request"]
        if sql:
            print(
                f"{result['backend']}: SQL statements per task completion: median {sql['median']:g}"
                f" (min {sql['min']}, max {sql['max']}; peer ~100, goal ≤ 10)"
            )


def _floors(requests: int) -> dict[str, dict[str, float]]:
    """The request floor in this run: the same gunicorn and client on apps that do nothing."""
    floors = {}
    apps = (("bare WSGI callable", "bench._floor_wsgi:bare"), ("Flask, one route", "bench._floor_wsgi:flask_app"))
    for label, spec in apps:
        stats = Stats()
        stats.samples_ms = floor_ms(spec, requests)
        floors[label] = {"median_ms": round(stats.median, 3), "p95_ms": round(percentile(stats.samples_ms, 95), 3)}
    print()
    print("request floor (same gunicorn command and client, this run; no app code, no database):")
    for label, value in floors.items():
        print(f"  {label:<20} median {value['median_ms']:.2f} ms, p95 {value['p95_ms']:.2f} ms")
    noop = {db: PEER["noop"][db][0][0] / GOAL for db in ("sqlite", "postgresql")}
    print(f"  (10x the peer's logged-in no-op row means ≤ {noop['sqlite']:.2f} ms on SQLite, "
          f"≤ {noop['postgresql']:.2f} ms on PostgreSQL, including this floor)")
    return floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 instances, fill 300, 20 listings, 50 no-ops")
    parser.add_argument("-n", "--instances", type=int, help="instances started and completed (default 200)")
    parser.add_argument("--fill", type=int, help="open instances for the inbox listing (default 1000)")
    parser.add_argument("--lists", type=int, help="inbox listings per page kind (default 50)")
    parser.add_argument("--noop", type=int, help="no-op requests per endpoint (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="instances run first and not recorded")
    parser.add_argument("--profile", type=int, default=0, help="also cProfile N instances' completions")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    for name, full, quick in (("instances", 200, 40), ("fill", 1000, 300), ("lists", 50, 20), ("noop", 200, 50)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)

    backends: list[tuple[str, str | None]] = []
    if not args.no_sqlite:
        backends.append(("sqlite", None))
    if not args.no_pg:
        pg_url = os.environ.get("BENCH_DATABASE_URL") or PG_URL
        problem = pg_unreachable(pg_url)
        if problem:
            print(f"SKIPPING postgresql: {problem}", flush=True)
        else:
            backends.append(("postgresql", pg_url))
    load_before = os.getloadavg()
    results = []
    for label, url in backends:
        print(f"running {label} ...", flush=True)
        results.append(run_backend(label, url, args))
    print_results(results)
    floors = _floors(args.noop)
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average (1/5/15 min) before {load['before']}, after {load['after']} — other work on the box skews")
    path = write_json(
        "http_latency.json",
        {"goal_speedup": GOAL, "peer_ms": PEER, "args": vars(args), "load_average": load, "results": results,
         "floor_ms": floors},
    )
    print(f"wrote {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
