"""Units' own schemes filed for record (备案) and the scope helpers of the unit pages."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import exists, select
from werkzeug.datastructures import FileStorage

from app import clock
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, CycleUnit, RoleAssignment, Unit, UnitClosure, UnitScheme, User
from app.services import uploads
from app.services.steps import Checker

# --------------------------------------------------------------------------- scope helpers


def covers_unit(user: User, unit_id: int, roles: Sequence[str] | None = None) -> bool:
    """Whether ``user`` holds a role (any, or one of ``roles``) whose scope covers ``unit_id``."""
    if user.is_admin:
        return True
    query = exists().where(
        RoleAssignment.user_id == user.id,
        UnitClosure.ancestor_id == RoleAssignment.unit_id,
        UnitClosure.descendant_id == unit_id,
    )
    if roles:
        query = query.where(RoleAssignment.role.in_(roles))
    return bool(db.session.scalar(select(query)))


def acting_units(user: User, roles: Sequence[str] = ("unit_officer", "unit_head")) -> list[Unit]:
    """The units at which ``user`` holds one of ``roles`` (the units they act for)."""
    return list(
        db.session.scalars(
            select(Unit)
            .join(RoleAssignment, RoleAssignment.unit_id == Unit.id)
            .where(RoleAssignment.user_id == user.id, RoleAssignment.role.in_(roles))
            .order_by(Unit.code)
            .distinct()
        )
    )


# --------------------------------------------------------------------------- schemes (备案)


def _store(name: str, content: bytes) -> str:
    stored = f"schemes/{clock.now():%Y%m}/{secrets.token_hex(16)}{os.path.splitext(name)[1]}"
    path = Path(current_app.config["UPLOAD_DIR"]) / stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return stored


def file_scheme(
    cycle: Cycle, unit: Unit, actor: User, *, title: str, summary: str, attachment: FileStorage | None = None
) -> UnitScheme:
    """File (or re-file) the unit's own scheme for record; ``late`` after the cycle's scheme_due_on."""
    if not covers_unit(actor, unit.id, ("unit_officer", "unit_head")):
        raise Forbidden("只有本单位的绩效员或主要负责人可以报送方案")
    if db.session.scalar(
        select(CycleUnit.id).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit.id)
    ) is None:
        raise NotFound("该单位未参加本年度考核")
    check = Checker({"title": title, "summary": summary})
    title = check.text("title", "方案名称", required=True, max_len=200)
    summary = check.text("summary", "方案要点", required=True, max_len=5000)
    checked = None
    if attachment is not None and attachment.filename:
        try:
            checked = uploads.check(attachment, "attachment")
        except ValidationFailed as exc:
            check.add("attachment", exc.message)
    check.raise_if_any()
    now = clock.now()
    local_today = (clock.to_local(now) or now).date()
    scheme = UnitScheme(
        cycle_id=cycle.id,
        unit_id=unit.id,
        title=title,
        summary=summary,
        late=cycle.scheme_due_on is not None and local_today > cycle.scheme_due_on,
        filed_by_id=actor.id,
        filed_at=now,
    )
    if checked is not None:
        name, content, _type = checked
        scheme.original_name = name
        scheme.stored_name = _store(name, content)
        scheme.sha256 = hashlib.sha256(content).hexdigest()
    db.session.add(scheme)
    db.session.flush()
    return scheme


def schemes_of(cycle: Cycle, unit_id: int) -> list[UnitScheme]:
    return list(
        db.session.scalars(
            select(UnitScheme)
            .where(UnitScheme.cycle_id == cycle.id, UnitScheme.unit_id == unit_id)
            .order_by(UnitScheme.filed_at.desc(), UnitScheme.id.desc())
        )
    )


@dataclass
class SchemeRow:
    participant: CycleUnit
    latest: UnitScheme | None
    filings: int


def scheme_overview(cycle: Cycle) -> list[SchemeRow]:
    """Every participant with its latest filing (None: not filed) — two queries."""
    from app.services.cycles import participants

    rows = participants(cycle)
    filed = db.session.scalars(
        select(UnitScheme).where(UnitScheme.cycle_id == cycle.id).order_by(UnitScheme.filed_at, UnitScheme.id)
    ).all()
    latest: dict[int, UnitScheme] = {}
    counts: dict[int, int] = {}
    for scheme in filed:
        latest[scheme.unit_id] = scheme
        counts[scheme.unit_id] = counts.get(scheme.unit_id, 0) + 1
    return [SchemeRow(cu, latest.get(cu.unit_id), counts.get(cu.unit_id, 0)) for cu in rows]


def scheme_path(scheme: UnitScheme) -> Path | None:
    if not scheme.stored_name:
        return None
    return Path(current_app.config["UPLOAD_DIR"]) / scheme.stored_name
