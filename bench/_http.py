"""Helpers of the HTTP benches: a fresh database with the two-lane process, gunicorn, a client.

- ``prepared(url)``: ``_common.bench_app`` (fresh SQLite file or ``jixiao_bench*`` PostgreSQL
  database, real migrations) + ``bench/two_lane.bpmn`` deployed with
  ``definitions.deploy_bpmn`` + ``tests.factories.build_county`` (users ``officer`` =
  unit_officer of 县一中, ``supervisor`` = supervisor of 县教育局 above it).
- ``gunicorn(setup, workers)``: the app of ``bench/_bench_wsgi.py`` under gunicorn (sync
  workers) on 127.0.0.1 and a free port, stopped on exit.
- ``floor_ms(spec, n)``: the same gunicorn and client on a bare WSGI app (``bench/_floor_wsgi.py``).
- ``Client``: one ``http.client.HTTPConnection`` (kept alive when the server allows it;
  gunicorn's sync worker closes after each response, so it reconnects transparently).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import ROOT, bench_app

BPMN = ROOT / "bench" / "two_lane.bpmn"
PROCESS_KEY = "bench_two_lane"
SUBMIT = {"data": {"note": "已提交"}}
APPROVE = {"data": {"decision": "approve", "reason": ""}}


@dataclass
class Setup:
    app: Any
    url: str
    upload_dir: str
    officer_id: int
    unit_id: int
    password: str


@contextmanager
def prepared(url: str | None) -> Iterator[Setup]:
    from app.extensions import db
    from app.services import definitions
    from tests.factories import PASSWORD, build_county

    with bench_app(url) as app:
        deployed = definitions.deploy_bpmn(BPMN.name, BPMN.read_bytes())
        assert [d.key for d, _ in deployed] == [PROCESS_KEY], deployed
        county = build_county()
        db.session.commit()
        setup = Setup(
            app=app,
            url=app.config["SQLALCHEMY_DATABASE_URI"],
            upload_dir=app.config["UPLOAD_DIR"],
            officer_id=county.users["officer"].id,
            unit_id=county.school.id,
            password=PASSWORD,
        )
        db.session.remove()
        yield setup


def pg_unreachable(url: str) -> str | None:
    """Why the PostgreSQL server of ``url`` cannot be used (None when it answers)."""
    import sqlalchemy as sa

    engine = sa.create_engine(sa.make_url(url).set(database="postgres"))
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        return f"PostgreSQL not reachable ({first}); start it with: bash scripts/bootstrap.sh --with-pg"
    finally:
        engine.dispose()


def start_cases(setup: Setup, count: int, batch: int = 100) -> list[int]:
    """Start ``count`` cases in this process (untimed filling), committing every ``batch``."""
    from app.extensions import db
    from app.models import User
    from app.services import cases

    officer = db.session.get_one(User, setup.officer_id)
    ids: list[int] = []
    for index in range(count):
        case = cases.start_case(PROCESS_KEY, unit_id=setup.unit_id, title=f"填充 {index}", started_by=officer)
        ids.append(case.id)
        if (index + 1) % batch == 0:
            db.session.commit()
    db.session.commit()
    db.session.remove()
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def gunicorn(setup: Setup, workers: int = 1) -> Iterator[Server]:
    env = {"DATABASE_URL": setup.url, "SECRET_KEY": "bench-only-secret", "UPLOAD_DIR": setup.upload_dir}
    log = Path(setup.upload_dir).parent / "gunicorn-{port}.log"
    with _served("bench._bench_wsgi:app", workers, env, log) as server:
        yield server


def floor_ms(spec: str, requests: int, warmup: int = 50) -> list[float]:
    """Client times (ms) of ``GET /bench/sql`` on the WSGI app ``spec`` (``bench/_floor_wsgi.py``)
    under the same gunicorn command and client as the app: the floor under every row."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "jixiao-floor-{port}.log"
    with _served(spec, 1, {}, log) as server:
        client = Client(server.port)
        times = []
        for index in range(warmup + requests):
            status, _ = client.call("GET", "/bench/sql")
            if status != 200:
                raise SystemExit(f"floor {spec}: HTTP {status}")
            if index >= warmup:
                times.append(client.last_ns / 1e6)
        client.close()
        return times


@contextmanager
def _served(spec: str, workers: int, env_extra: dict[str, str], log_pattern: Path) -> Iterator[Server]:
    """``spec`` under gunicorn (sync workers) on 127.0.0.1 and a free port; stopped on exit."""
    port = free_port()
    log = Path(str(log_pattern).format(port=port))
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "--workers", str(workers), "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning",
        "--error-logfile", str(log), "--no-control-socket", spec,
    ]
    process = subprocess.Popen(command, env=env, cwd=str(ROOT), stdin=subprocess.DEVNULL)
    server = Server(port, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.process.returncode}):\n{_tail(server.log)}")
        try:
            status, _ = Client(server.port).call("GET", "/bench/sql")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s:\n{_tail(server.log)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Client:
    """A single HTTP connection; ``call`` answers (status, body) and the time in ns."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.last_ns = 0

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        t0 = time.perf_counter_ns()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        self.last_ns = time.perf_counter_ns() - t0
        if response.will_close:
            self.conn.close()  # reconnects on the next request
        return response.status, data

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data = self.call(method, path, body)
        if status != expect:
            raise SystemExit(f"{method} {path}: HTTP {status}: {data[:500]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


def token(port: int, username: str, password: str) -> str:
    answer = Client(port).json("POST", "/api/v1/auth/token", {"username": username, "password": password})
    return str(answer["token"])


def sql_report(port: int) -> dict[str, Any]:
    return dict(Client(port).json("GET", "/bench/sql"))


def sql_reset(port: int) -> None:
    Client(port).json("POST", "/bench/sql/reset")
