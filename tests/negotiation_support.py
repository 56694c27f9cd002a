"""Support for the negotiation tests: an autouse fixture and small helpers.

``unlink_issued``: the shared wipe in conftest deletes ``target_version`` before ``cycle_unit``
(their foreign keys form a cycle: cycle_unit.issued_version_id → target_version), which SQLite
refuses; this fixture clears those links after each test, before the wipe runs.
Import it into a test module with ``from tests.negotiation_support import unlink_issued  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Case, CycleUnit, HumanTask, Indicator
from app.services import steps
from tests.web import Browser, login  # noqa: F401  (re-exported for the web tests)


@pytest.fixture(autouse=True)
def unlink_issued(_clean: None) -> Iterator[None]:
    yield
    db.session.rollback()
    db.session.execute(update(CycleUnit).values(issued_version_id=None))
    db.session.execute(update(Indicator).values(version_id=None))
    db.session.commit()


def open_step(case_id: int, step: str | None = None) -> HumanTask:
    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    if step:
        query = query.where(HumanTask.step == step)
    tasks = db.session.scalars(query).all()
    assert len(tasks) == 1, f"expected one open task {step}, got {[t.step for t in tasks]}"
    return tasks[0]


def act(case_id: int, step: str, user: Any, data: dict[str, Any]) -> Case:
    case = steps.submit(open_step(case_id, step), user, data)
    db.session.commit()
    return case


def row_fields(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Web form fields ``items-<n>-<field>`` for a list of target dicts."""
    out: dict[str, Any] = {}
    for n, item in enumerate(items):
        for key, value in item.items():
            out[f"items-{n}-{key}"] = "" if value is None else str(value)
    return out
