"""The ``pe-result/1`` document of a finished scenario run."""

from __future__ import annotations

from typing import Any

from app.models import UnitResult
from app.services import results
from app.services.scenario.runner import Run


def result_document(state: Run) -> dict[str, Any]:
    rows: list[UnitResult] = results.current(state.cycle)
    by_unit = {row.unit_id: row for row in rows}
    units = []
    for spec in sorted(state.scenario.units, key=lambda u: u.code):
        row = by_unit[state.county.people[spec.code].unit.id]
        units.append({
            "code": spec.code,
            "group": spec.group,
            "total": f"{row.total:.2f}",
            "rank": row.rank,
            "grade": row.grade,
            "excellent_quota": row.excellent_quota,
            "flags": sorted(row.flags or []),
        })
    return {"format": "pe-result/1", "year": state.scenario.year, "units": units,
            "tasks_completed": state.tasks_completed}
