"""Shared helpers of the supervision services (inspections, reports, surveys, rectification, cadres).

Dates: a deadline given as a date means the end of that day in China time; ``end_of_day_utc``
turns it into the naive-UTC storage convention and ``iso`` into the form BPMN timers read.
Evidence of findings, monthly reports and rectification reports is stored like other uploads
(``uploads.check`` validates, the file goes below ``UPLOAD_DIR``) in ``supervision_file`` rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, CycleUnit, SupervisionFile, Unit, User
from app.services import access, uploads
from app.services.steps import Checker, Files

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CheckedFile = tuple[str, bytes, str]


def today() -> dt.date:
    local = clock.to_local(clock.now())
    assert local is not None
    return local.date()


def end_of_day_utc(day: dt.date) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=clock.CST)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()


def half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def parse_date(check: Checker, name: str, label: str) -> dt.date | None:
    raw = check.data.get(name)
    if isinstance(raw, dt.date):
        return raw
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        check.add(name, f"请填写{label}")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        check.add(name, f"{label}格式应为 YYYY-MM-DD")
        return None


def check_month(month: str, cycle: Cycle | None = None) -> str:
    match = MONTH.match(month or "")
    if not match:
        raise ValidationFailed("月份格式应为 YYYY-MM", {"month": ["月份格式应为 YYYY-MM"]})
    if cycle is not None and int(match.group(1)) != cycle.year:
        raise ValidationFailed(f"月份应在 {cycle.year} 年度内", {"month": [f"月份应在 {cycle.year} 年度内"]})
    return month


def months_of_quarter(year: int, quarter: int) -> list[str]:
    if quarter not in (1, 2, 3, 4):
        raise ValidationFailed("季度应为 1–4", {"quarter": ["季度应为 1–4"]})
    return [f"{year}-{m:02d}" for m in range(quarter * 3 - 2, quarter * 3 + 1)]


def quarter_of(month: str) -> int:
    return (int(month[5:7]) - 1) // 3 + 1


def reference(prefix: str) -> str:
    return prefix + secrets.token_hex(5).upper()


def get_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound("考核年度不存在")
    return cycle


def current_cycle() -> Cycle | None:
    """The cycle of the current year if there is one, else the latest."""
    year = today().year
    cycle = db.session.scalar(select(Cycle).where(Cycle.year == year))
    return cycle or db.session.scalar(select(Cycle).order_by(Cycle.year.desc()).limit(1))


def participants(cycle_id: int) -> list[Unit]:
    return list(
        db.session.scalars(
            select(Unit)
            .join(CycleUnit, CycleUnit.unit_id == Unit.id)
            .where(CycleUnit.cycle_id == cycle_id)
            .order_by(Unit.code)
        )
    )


def require_participant(cycle: Cycle, unit_id: int) -> Unit:
    unit = db.session.scalar(
        select(Unit)
        .join(CycleUnit, CycleUnit.unit_id == Unit.id)
        .where(CycleUnit.cycle_id == cycle.id, Unit.id == unit_id)
    )
    if unit is None:
        raise ValidationFailed("该单位未参加本年度考核", {"unit_id": ["该单位未参加本年度考核"]})
    return unit


def holds_any_for(user: User, roles: tuple[str, ...], unit_id: int) -> bool:
    return user.is_admin or any(access.holds_role_for(user, role, unit_id) for role in roles)


def require_any_for(user: User, roles: tuple[str, ...], unit_id: int, message: str = "您无权办理此事项") -> None:
    if not holds_any_for(user, roles, unit_id):
        raise Forbidden(message)


def require_office(user: User, cycle: Cycle | None = None) -> None:
    """The office (绩效办) of the region; checked as holding ``office`` anywhere."""
    if not (user.is_admin or access.holds_role(user, "office")):
        raise Forbidden("仅绩效办可以办理此事项")


# --------------------------------------------------------------------------- files


def check_files(check: Checker, files: Files, field: str, *, required: bool = False, label: str = "佐证材料"
                ) -> list[CheckedFile]:
    out: list[CheckedFile] = []
    for item in files.get(field, []):
        if not item or not item.filename:
            continue
        try:
            out.append(uploads.check(item, field))
        except ValidationFailed as exc:
            check.add(field, exc.message)
    if required and not out and field not in check.errors:
        check.add(field, f"请上传{label}")
    return out


def store_files(owner_type: str, owner_id: int, checked: list[CheckedFile], user: User) -> list[SupervisionFile]:
    now = clock.now()
    rows = []
    for name, content, content_type in checked:
        stored = f"{now:%Y%m}/{secrets.token_hex(16)}{os.path.splitext(name)[1]}"
        path = Path(current_app.config["UPLOAD_DIR"]) / stored
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        row = SupervisionFile(
            owner_type=owner_type,
            owner_id=owner_id,
            original_name=name,
            stored_name=stored,
            content_type=content_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_by_id=user.id,
            uploaded_at=now,
        )
        db.session.add(row)
        rows.append(row)
    return rows


def files_of(owner_type: str, owner_ids: list[int]) -> dict[int, list[SupervisionFile]]:
    if not owner_ids:
        return {}
    rows = db.session.scalars(
        select(SupervisionFile)
        .where(SupervisionFile.owner_type == owner_type, SupervisionFile.owner_id.in_(owner_ids))
        .order_by(SupervisionFile.id)
    )
    out: dict[int, list[SupervisionFile]] = {}
    for row in rows:
        out.setdefault(row.owner_id, []).append(row)
    return out


def path_of(row: SupervisionFile) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / row.stored_name


def names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()
    return {user_id: name for user_id, name in rows}
