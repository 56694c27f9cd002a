"""Helpers of the supervision tests: the app clock set to a day of the cycle year, files, a web client."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app import clock
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, User
from app.services import steps
from tests.web import Browser, login  # noqa: F401  (re-exported for the supervision tests)


def today() -> dt.date:
    local = clock.to_local(clock.now())
    assert local is not None
    return local.date()


def set_today(day: dt.date, hour: int = 10) -> None:
    """Move the application clock forward to ``hour`` o'clock China time on ``day``.

    Only forward: SpiffWorkflow also checks timeDate timers against the wall clock, so the
    application clock must never run behind it (see the report on the engine)."""
    target = dt.datetime.combine(day, dt.time(hour), tzinfo=clock.CST).astimezone(dt.UTC).replace(tzinfo=None)
    assert target >= clock.now(), "the test clock only moves forward"
    clock.advance(target - clock.now())


def days(n: int) -> dt.date:
    return today() + dt.timedelta(days=n)


def build_current() -> Any:
    """``build_supervision_county`` with its cycle moved to the current year (dates relative to today)."""
    from tests.factories import build_supervision_county

    built = build_supervision_county()
    built.county.cycle.year = today().year
    db.session.commit()
    return built


def pdf(name: str = "整改佐证.pdf") -> FileStorage:
    return FileStorage(io.BytesIO(b"%PDF-1.4\n% evidence\n"), filename=name, content_type="application/pdf")


def tasks_of(case_id: int, status: str = "open") -> list[HumanTask]:
    return list(
        db.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == status).order_by(HumanTask.id)
        )
    )


def task(case_id: int, step: str) -> HumanTask:
    found = [t for t in tasks_of(case_id) if t.step == step]
    assert len(found) == 1, f"expected open {step}, got {[t.step for t in tasks_of(case_id)]}"
    return found[0]


def act(case_id: int, step: str, user: User, data: dict[str, Any], files: dict[str, list[FileStorage]] | None = None
        ) -> Case:
    case = steps.submit(task(case_id, step), user, data, files or {})
    db.session.commit()
    return case


def actions(case_id: int) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))

