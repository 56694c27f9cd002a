"""Helpers shared by bench scripts (files starting with "_" are skipped by ``make bench``).

- ``ROOT`` is put on ``sys.path`` so ``app`` and ``tests.factories`` import from a plain
  ``.venv/bin/python bench/<script>.py``.
- ``bench_app(url)`` builds an app on a fresh database, runs the real migrations and deploys
  ``workflows/``; PostgreSQL databases are created if missing and wiped only when their name
  starts with ``jixiao_bench`` (never anyone else's data).
- ``SqlCounter`` counts statements sent to the database; ``Stats`` summarises timings.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/jixiao_bench"


def _reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    target = sa.make_url(url)
    name = target.database or ""
    if not name.startswith("jixiao_bench"):
        raise SystemExit(f"refusing to wipe database {name!r}: bench databases must be named jixiao_bench*")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def bench_app(url: str | None) -> Iterator[Any]:
    """An app context on a fresh database (a temporary SQLite file when ``url`` is None)."""
    from flask_migrate import upgrade

    from app import clock, create_app
    from app.extensions import db
    from app.services import definitions

    with tempfile.TemporaryDirectory(prefix="jixiao-bench-") as tmp:
        if url is None:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        else:
            _reset_postgres(url)
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench-only-secret",
                "UPLOAD_DIR": str(Path(tmp) / "uploads"),
            }
        )
        clock.reset()
        with app.app_context():
            previous = logging.root.manager.disable
            logging.disable(logging.INFO)  # alembic's INFO lines
            try:
                upgrade(directory=str(ROOT / "migrations"), revision="heads")  # the lead merges heads later
            finally:
                logging.disable(previous)
            definitions.deploy_directory(app.config["WORKFLOWS_DIR"])
            db.session.commit()
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


class SqlCounter:
    """Counts statements executed on ``engine`` while ``active`` (BEGIN/COMMIT are not statements)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        self.active = False
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args: Any) -> None:
        if self.active:
            self.count += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Stats:
    samples_ms: list[float] = field(default_factory=list)

    def add_ns(self, nanoseconds: int) -> None:
        self.samples_ms.append(nanoseconds / 1e6)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    def as_dict(self) -> dict[str, float]:
        return {"n": len(self.samples_ms), "median_ms": round(self.median, 3), "p95_ms": round(self.p95, 3)}


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def write_json(name: str, payload: Any) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
    return path
