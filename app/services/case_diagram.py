"""Where a case stands, for its diagram: step states from its human tasks and history.

- ``current``: steps with an open task;
- ``completed``: steps with a completed task;
- ``returned``: steps whose task outcome was ``return`` / ``return_to`` or whose task row was closed
  as ``returned`` (the step that sent the case back), and the steps it was returned to — named in the
  return event's data (``target_step`` / ``to_step`` / ``target``, as ``operations.return_to`` records),
  or else the earlier-completed steps that got a new task right after the return.
A step may carry several states (e.g. a step returned to and now open again: current + returned).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CaseEvent, HumanTask
from app.models.user import ROLES
from app.services import diagram

RETURN_OUTCOMES = ("return", "return_to")
_TARGET_KEYS = ("target_step", "to_step", "target")


def step_states(case: Case) -> dict[str, set[str]]:
    tasks = list(
        db.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id).order_by(HumanTask.id))
    )
    states: dict[str, set[str]] = {}

    def mark(step: str, state: str) -> None:
        states.setdefault(step, set()).add(state)

    for task in tasks:
        if task.status == "open":
            mark(task.step, "current")
        elif task.status == "completed":
            mark(task.step, "completed")
    known_steps = {t.step for t in tasks}
    returns = [
        t for t in tasks
        if t.status == "returned" or (t.status == "completed" and (t.outcome or "") in RETURN_OUTCOMES)
    ]
    for task in returns:
        mark(task.step, "returned")
    targets: dict[int | None, str] = {}
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action.in_(RETURN_OUTCOMES))
    )
    for event in events:
        target = next((v for k in _TARGET_KEYS if isinstance(v := (event.data or {}).get(k), str)), None)
        if target in known_steps:
            targets[event.task_id] = target
            mark(target, "returned")
    for task in returns:
        if task.id not in targets:
            for step in _returned_to(task, tasks):
                mark(step, "returned")
    return states


def _returned_to(returned: HumanTask, tasks: list[HumanTask]) -> set[str]:
    """Steps completed before ``returned`` that got a new task in the batch created right after it."""
    if returned.completed_at is None:
        return set()
    later = [t for t in tasks if t.id > returned.id and t.created_at >= returned.completed_at]
    if not later:
        return set()
    first = min(t.created_at for t in later)
    done_before = {t.step for t in tasks if t.id < returned.id and t.status == "completed"}
    return {t.step for t in later if t.created_at == first and t.step in done_before}


@dataclass(frozen=True)
class LegendItem:
    state: str
    label: str
    fill: str
    stroke: str


@dataclass(frozen=True)
class CaseDiagram:
    svg: Markup | None
    error: str | None
    legend: list[LegendItem]


LEGEND = [LegendItem(state, label, fill, stroke) for state, (label, fill, stroke) in diagram.STATES.items()]


def for_case(case: Case) -> CaseDiagram:
    """The case's diagram (SVG markup, safe: every text in it is escaped) and its legend."""
    definition = case.definition
    try:
        svg = diagram.render_svg(
            definition.bpmn_xml,
            step_states(case),
            cache_key=definition.id,
            labels=ROLES,
            title=f"{definition.name} 流程图",
        )
    except diagram.DiagramError as exc:
        return CaseDiagram(None, str(exc), LEGEND)
    return CaseDiagram(Markup(svg), None, LEGEND)  # noqa: S704 - built from escaped parts only
