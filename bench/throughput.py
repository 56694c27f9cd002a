"""Throughput under load: gunicorn with N sync workers on PostgreSQL, 32 concurrent clients.

A fresh PostgreSQL database (``jixiao_bench_tp``) gets ``bench/two_lane.bpmn`` (deployed with
``definitions.deploy_bpmn``) and ``clients × per_client`` instances started in this process
(untimed). Each client thread owns a distinct slice of them and, over its own connection,
completes the submit task as ``officer`` and then the review task as ``supervisor`` through
``POST /api/v1/tasks/<id>/complete``: every request completes a distinct task, nothing waits
on another client's lock. A warm-up round (one instance per client) runs first so every
worker has parsed the spec and opened its connection.

In the same run, the same threads hit ``POST /bench/touch/<case_id>`` (bench shim, no login:
one ``UPDATE wf_case`` of the client's own row + commit) — the ceiling of this machine for a
request that commits. Prints completions/s, errors, the ceiling req/s and their ratio (goal
≥ 40 %), plus latency under load; writes bench/out/throughput.json.

    .venv/bin/python bench/throughput.py [--quick] [-w WORKERS] [-c 32] [-k PER_CLIENT]

PostgreSQL: BENCH_DATABASE_URL or postgresql+psycopg://postgres@127.0.0.1:5432/jixiao_bench_tp
(created if missing, wiped each run; only databases named jixiao_bench* are ever wiped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: app, bench, tests

from bench._common import PG_DEFAULT, Stats, print_table, write_json  # noqa: E402
from bench._http import APPROVE, SUBMIT, Client, gunicorn, pg_unreachable, prepared, start_cases, token  # noqa: E402

PG_URL = PG_DEFAULT + "_tp"
GOAL = 0.40


@dataclass
class Outcome:
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latency: Stats = field(default_factory=Stats)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


Work = Callable[[Client, Client, list[int], Outcome, threading.Lock], None]


def _first_tasks(case_ids: list[int]) -> dict[int, int]:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import HumanTask

    rows = db.session.execute(
        select(HumanTask.case_id, HumanTask.id).where(HumanTask.case_id.in_(case_ids), HumanTask.status == "open")
    ).all()
    db.session.remove()
    return {case_id: task_id for case_id, task_id in rows}


def _call(client: Client, method: str, path: str, body: Any, out: Outcome, lock: threading.Lock) -> Any:
    try:
        status, data = client.call(method, path, body)
    except OSError as exc:  # includes http.client's RemoteDisconnected (a ConnectionResetError)
        status, data = -1, repr(exc).encode()
    with lock:
        out.requests += 1
        if 200 <= status < 300:
            out.latency.add_ns(client.last_ns)
        else:
            out.errors += 1
            if len(out.error_samples) < 5:
                out.error_samples.append(f"{method} {path}: {status} {data[:200]!r}")
    if not 200 <= status < 300:
        return None
    return json.loads(data) if data[:1] == b"{" else data


def _complete(officer: Client, supervisor: Client, tasks: list[int], out: Outcome, lock: threading.Lock) -> None:
    for task_id in tasks:
        answer = _call(officer, "POST", f"/api/v1/tasks/{task_id}/complete", SUBMIT, out, lock)
        if not answer or not answer.get("next_tasks"):
            continue
        _call(supervisor, "POST", f"/api/v1/tasks/{answer['next_tasks'][0]['id']}/complete", APPROVE, out, lock)


def _touch(rounds: int) -> Work:
    def work(client: Client, _other: Client, cases: list[int], out: Outcome, lock: threading.Lock) -> None:
        client.token = None  # bare: no login
        for index in range(rounds):
            _call(client, "POST", f"/bench/touch/{cases[index % len(cases)]}", None, out, lock)

    return work


def _run(port: int, tokens: tuple[str, str], slices: list[list[int]], work: Work) -> Outcome:
    """One thread per slice, each with its own two connections; wall time from a common start."""
    out, lock = Outcome(), threading.Lock()
    barrier = threading.Barrier(len(slices) + 1)

    def client(items: list[int]) -> None:
        officer, supervisor = Client(port, tokens[0]), Client(port, tokens[1])
        barrier.wait()
        try:
            work(officer, supervisor, items, out, lock)
        finally:
            officer.close()
            supervisor.close()

    threads = [threading.Thread(target=client, args=(items,), daemon=True) for items in slices]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join(timeout=300)
    out.seconds = time.perf_counter() - t0
    if any(thread.is_alive() for thread in threads):
        raise SystemExit("clients still running after 300 s")
    return out


def _verify(case_ids: list[int]) -> dict[str, int]:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Case

    rows = db.session.execute(
        select(Case.status, func.count()).where(Case.id.in_(case_ids)).group_by(Case.status)
    ).all()
    db.session.remove()
    return {status: count for status, count in rows}


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    with prepared(url) as setup:
        warm = start_cases(setup, args.clients)
        measured = start_cases(setup, args.clients * args.per_client)
        tasks = _first_tasks(warm + measured)
        with gunicorn(setup, workers=args.workers) as server:
            tokens = (token(server.port, "officer", setup.password), token(server.port, "supervisor", setup.password))
            warm_out = _run(server.port, tokens, [[tasks[c]] for c in warm], _complete)
            slices = [[tasks[c] for c in measured[i :: args.clients]] for i in range(args.clients)]
            print(f"  {len(measured) * 2} completions by {args.clients} clients ...", flush=True)
            completions = _run(server.port, tokens, slices, _complete)
            case_slices = [measured[i :: args.clients] for i in range(args.clients)]
            _run(server.port, tokens, case_slices, _touch(3))  # warm-up of the bare endpoint
            print(f"  {args.clients * args.touches} bare commits by {args.clients} clients ...", flush=True)
            ceiling = _run(server.port, tokens, case_slices, _touch(args.touches))
        statuses = _verify(measured)
    if warm_out.errors:
        print(f"  warm-up errors: {warm_out.errors} {warm_out.error_samples}")
    ratio = completions.per_second / ceiling.per_second if ceiling.per_second else 0.0
    return {
        "database": "postgresql",
        "workers": args.workers,
        "clients": args.clients,
        "completions": _summary(completions),
        "ceiling_bare_commit": _summary(ceiling),
        "ratio": round(ratio, 3),
        "goal_ratio": GOAL,
        "case_status_after": statuses,
    }


def _summary(out: Outcome) -> dict[str, Any]:
    return {
        "requests": out.requests,
        "errors": out.errors,
        "error_samples": out.error_samples,
        "seconds": round(out.seconds, 3),
        "per_second": round(out.per_second, 1),
        "latency": out.latency.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--quick", action="store_true", help="5 instances per client, 30 bare commits per client")
    parser.add_argument("-w", "--workers", type=int, default=2 * cores + 1, help="gunicorn workers (2 × cores + 1)")
    parser.add_argument("-c", "--clients", type=int, default=32, help="concurrent client threads (32)")
    parser.add_argument("-k", "--per-client", type=int, help="instances per client, 2 completions each (default 20)")
    parser.add_argument("--touches", type=int, help="bare commits per client (default 100)")
    args = parser.parse_args()
    if args.per_client is None:
        args.per_client = 5 if args.quick else 20
    if args.touches is None:
        args.touches = 30 if args.quick else 100
    url = os.environ.get("BENCH_DATABASE_URL") or PG_URL
    problem = pg_unreachable(url)
    if problem:
        raise SystemExit(f"throughput needs PostgreSQL: {problem}")

    print(f"running postgresql: {args.workers} gunicorn workers, {args.clients} clients ...", flush=True)
    load_before = os.getloadavg()
    result = run(args, url)
    result["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    comp, ceil = result["completions"], result["ceiling_bare_commit"]
    print()
    print_table(
        ["measure", "requests", "errors", "seconds", "per second", "median ms", "p95 ms"],
        [
            [
                "task completions",
                comp["requests"],
                comp["errors"],
                f"{comp['seconds']:.2f}",
                f"{comp['per_second']:.1f}",
                f"{comp['latency']['median_ms']:.1f}",
                f"{comp['latency']['p95_ms']:.1f}",
            ],
            [
                "bare commit (ceiling)",
                ceil["requests"],
                ceil["errors"],
                f"{ceil['seconds']:.2f}",
                f"{ceil['per_second']:.1f}",
                f"{ceil['latency']['median_ms']:.1f}",
                f"{ceil['latency']['p95_ms']:.1f}",
            ],
        ],
    )
    verdict = "meets" if result["ratio"] >= GOAL else "BELOW"
    print()
    print(
        f"completions/s ÷ ceiling req/s = {result['ratio'] * 100:.1f} % ({verdict} the {GOAL * 100:.0f} % goal);"
        f" cases after the run: {result['case_status_after']}"
    )
    load = result["load_average"]
    print(f"load average (1/5/15 min) before {load['before']}, after {load['after']} — other work on the box skews")
    for sample in comp["error_samples"] + ceil["error_samples"]:
        print(f"  error: {sample}")
    path = write_json("throughput.json", {"args": vars(args), "result": result})
    print(f"wrote {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
