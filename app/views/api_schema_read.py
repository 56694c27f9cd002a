"""JSON serializers of the read endpoints (cycles, targets, results, ledger, letters); shapes in
``api_components``. Decimals are strings, dates ``YYYY-MM-DD``, datetimes ISO-8601 UTC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from app.models import Cycle, CycleUnit, Indicator, LedgerItem, Letter, TargetVersion, UnitResult
from app.models.letter import LETTER_KINDS
from app.models.result import LEDGER_KINDS
from app.models.target import STAGES
from app.services import letter_board
from app.services.queries import Targets
from app.views.api_schema import iso, unit, user_ref


def day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def cycle(value: Cycle) -> dict[str, Any]:
    return {
        "id": value.id,
        "year": value.year,
        "title": value.title,
        "status": value.status,
        "starts_on": day(value.starts_on),
        "ends_on": day(value.ends_on),
        "scheme_due_on": day(value.scheme_due_on),
        "targets_due_on": day(value.targets_due_on),
        "letters_due_on": day(value.letters_due_on),
        "assessment_due_on": day(value.assessment_due_on),
        "created_at": iso(value.created_at),
    }


def participant(value: CycleUnit) -> dict[str, Any]:
    return {
        "unit": unit(value.unit),
        "group": {"id": value.group.id, "code": value.group.code, "name": value.group.name},
        "tier": value.tier,
        "issued_version_id": value.issued_version_id,
        "issued_at": iso(value.issued_at),
    }


def cycle_detail(value: Cycle, participants: list[CycleUnit]) -> dict[str, Any]:
    body = cycle(value)
    body.update({"settings": dict(value.settings or {}), "participants": [participant(p) for p in participants]})
    return body


def target_version(value: TargetVersion) -> dict[str, Any]:
    return {
        "id": value.id,
        "case_id": value.case_id,
        "number": value.number,
        "stage": value.stage,
        "stage_label": STAGES.get(value.stage, value.stage),
        "tier": value.tier,
        "note": value.note,
        "sha256": value.sha256,
        "created_by": user_ref(value.created_by),
        "created_at": iso(value.created_at),
        "items": [dict(item) for item in value.items or []],
    }


def indicator(value: Indicator) -> dict[str, Any]:
    return {
        "id": value.id,
        "part": value.part,
        "code": value.code,
        "name": value.name,
        "points": decimal(value.points),
        "unit_id": value.unit_id,
        "target_value": value.target_value,
        "measure_unit": value.measure_unit,
        "scoring_rule": value.scoring_rule,
        "lead_name": value.lead_name,
        "department_id": value.department_id,
        "responsible_name": value.responsible_name,
        "deadline": day(value.deadline),
        "version_id": value.version_id,
        "issued_at": iso(value.issued_at),
    }


def targets(value: Targets) -> dict[str, Any]:
    return {
        "cycle_id": value.cycle.id,
        "unit": unit(value.unit),
        "participates": value.participant is not None,
        "tier": value.participant.tier if value.participant else None,
        "issued_version": target_version(value.issued) if value.issued else None,
        "versions": [target_version(v) for v in value.versions],
        "indicators": [indicator(i) for i in value.indicators],
    }


def unit_result(value: UnitResult) -> dict[str, Any]:
    return {
        "id": value.id,
        "cycle_id": value.cycle_id,
        "unit": unit(value.unit),
        "group_id": value.group_id,
        "case_id": value.case_id,
        "publication_id": value.publication_id,
        "revision": value.revision,
        "common": decimal(value.common),
        "individual": decimal(value.individual),
        "tier": value.tier,
        "satisfaction": decimal(value.satisfaction),
        "social": decimal(value.social),
        "bonus": decimal(value.bonus),
        "deductions": decimal(value.deductions),
        "veto": bool(value.veto),
        "total": decimal(value.total),
        "rank": value.rank,
        "grade": value.grade,
        "excellent_quota": value.excellent_quota,
        "flags": [str(f) for f in value.flags or []],
        "reason": value.reason,
        "created_at": iso(value.created_at),
    }


def ledger_item(value: LedgerItem) -> dict[str, Any]:
    return {
        "id": value.id,
        "cycle_id": value.cycle_id,
        "unit": unit(value.unit),
        "kind": value.kind,
        "kind_label": LEDGER_KINDS.get(value.kind, value.kind),
        "points": decimal(value.points),
        "month": value.month,
        "reason": value.reason,
        "source": value.source,
        "source_id": value.source_id,
        "indicator_id": value.indicator_id,
        "status": value.status,
        "replaces_id": value.replaces_id,
        "recorded_by_id": value.recorded_by_id,
        "recorded_at": iso(value.recorded_at),
    }


def letter(value: Letter) -> dict[str, Any]:
    return {
        "id": value.id,
        "cycle_id": value.cycle_id,
        "unit": unit(value.unit),
        "kind": value.kind,
        "kind_label": LETTER_KINDS.get(value.kind, value.kind),
        "title": value.title,
        "status": value.status,
        "department": {"id": value.department.id, "name": value.department.name} if value.department else None,
        "party_a": user_ref(value.party_a),
        "party_b": user_ref(value.party_b),
        "version_id": value.version_id,
        "case_id": value.case_id,
        "parent_letter_id": value.parent_letter_id,
        "due_on": day(value.due_on),
        "overdue": letter_board.is_overdue(value),
        "created_at": iso(value.created_at),
        "signed_at": iso(value.signed_at),
    }


def letter_detail(value: Letter) -> dict[str, Any]:
    body = letter(value)
    body.update(
        {
            "body": value.body,
            "sha256": value.sha256,
            "signatures": [
                {"party": s.party, "user": user_ref(s.user), "digest": s.digest, "signed_at": iso(s.signed_at)}
                for s in value.signatures
            ],
        }
    )
    return body
