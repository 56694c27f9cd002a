"""The choices of the 待办 filter (cycles, units, processes, steps of the user's own open tasks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Select, select

from app.extensions import db
from app.models import Case, Cycle, HumanTask, ProcessDefinition, Unit, User
from app.services.access import bound_candidate_clause, candidate_params


@dataclass
class Facets:
    """The choices of the 待办 filter, drawn from the user's own open tasks."""

    cycles: list[tuple[int, str]] = field(default_factory=list)
    units: list[tuple[int, str]] = field(default_factory=list)
    processes: list[tuple[str, str]] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)


def facets(user: User) -> Facets:
    """Distinct cycles, units, processes and steps of the user's open tasks (one query)."""
    rows = db.session.execute(_facets_statement(), candidate_params(user)).all()
    cycles: dict[int, str] = {}
    units: dict[int, str] = {}
    processes: dict[str, str] = {}
    steps: dict[str, str] = {}
    for cycle_id, cycle_title, unit_id, unit_name, process_key, process_name, step, step_name in rows:
        if cycle_id is not None:
            cycles[cycle_id] = cycle_title or str(cycle_id)
        units[unit_id] = unit_name
        processes[process_key] = process_name or process_key
        steps.setdefault(step, step_name)
    return Facets(
        cycles=sorted(cycles.items(), key=lambda item: item[1], reverse=True),
        units=sorted(units.items(), key=lambda item: item[1]),
        processes=sorted(processes.items(), key=lambda item: item[1]),
        steps=sorted(steps.items(), key=lambda item: item[1]),
    )


@lru_cache(maxsize=1)
def _facets_statement() -> Select:
    # The distinct keys of the user's open tasks first (task → case only), then the names of those
    # few keys: joining unit, process and cycle names before DISTINCT looked each up per task row.
    keys = (
        select(
            Case.cycle_id, HumanTask.unit_id, Case.process_key, Case.definition_id, HumanTask.step,
            HumanTask.name.label("step_name"),
        )
        .select_from(HumanTask)
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == "open", bound_candidate_clause())
        .distinct()
        .subquery("facet_keys")
    )
    return (
        select(
            keys.c.cycle_id, Cycle.title, keys.c.unit_id, Unit.name, keys.c.process_key, ProcessDefinition.name,
            keys.c.step, keys.c.step_name,
        )
        .select_from(keys)
        .join(Unit, Unit.id == keys.c.unit_id)
        .join(ProcessDefinition, ProcessDefinition.id == keys.c.definition_id)
        .outerjoin(Cycle, Cycle.id == keys.c.cycle_id)
    )
