"""The stored state of an instance: the workflow's tasks and data as JSON, never its spec.

``_StateConverter`` is SpiffWorkflow's workflow converter without the spec (stored once per
deployed version); ``_FinishedTaskConverter`` keeps the converted form of finished tasks, so a
save converts and encodes only what can still change. ``Instance`` (``instance.py``) loads and
dumps through ``_state_converter`` with ``_registry`` in encoder mode.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter, WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from app.engine.specs import ParsedProcess


class _StateConverter(BpmnWorkflowConverter):
    """Serialises a workflow's tasks and data but not its spec (stored once per version)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def to_json(self, workflow: BpmnWorkflow) -> str:
        """``json.dumps(self.to_dict(workflow))`` (the same text), with each finished task's JSON
        kept beside its kept dict (see ``_FinishedTaskConverter``): a save encodes only the tasks
        that can still change, not the case's whole history."""
        before = {
            "data": self.registry.convert(self.registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
        }
        after = {
            "root": str(workflow.task_tree.id),
            "subprocesses": self.mapping_to_dict(workflow.subprocesses),
            "bpmn_events": self.registry.convert(workflow.bpmn_events),
        }
        convert, encode = self.registry.convert, _encoder.encode
        parts = []
        for task in workflow.tasks.values():
            dct = convert(task)
            saved = task.__dict__.get("_saved_json")
            if saved is not None and saved[0] is dct:
                parts.append(saved[1])
                continue
            text = f"{encode(dct['id'])}:{encode(dct)}"
            kept = task.__dict__.get("_saved_dict")
            if kept is not None and kept[1] is dct and _only_scalars(dct):
                # final, and holding no list or dict that later steps share and could still change
                # in place (SpiffWorkflow copies task data one level deep): its JSON is final too
                task.__dict__["_saved_json"] = (dct, text)
            parts.append(text)
        # the keys in to_dict's order: ...completed, tasks, root...
        return f'{encode(before)[:-1]},"tasks":{{{",".join(parts)}}},{encode(after)[1:]}'

    def restore_with(self, dct: dict[str, Any], parsed: ParsedProcess) -> BpmnWorkflow:
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _FinishedTaskConverter(TaskConverter):
    """SpiffWorkflow's task converter, reusing the serialised form of finished tasks.

    A task that is COMPLETED or CANCELLED, under a finished parent, no longer changes: its data,
    its delta against the parent's data and its internal data are final. Converting it again on
    every step (the data delta is a deep comparison) makes each save cost the whole history of
    the case; instead its dict is kept on the task and reused while its state, last state change
    and children are the ones it was converted with (a reset changes the state, so it is
    converted afresh). Only in encoder mode, the one ``Instance.dumps`` uses.
    """

    def to_dict(self, task: Task) -> dict[str, Any]:
        if not self.registry._encoder_mode:
            return cast(dict[str, Any], super().to_dict(task))
        key = (task.state, task.last_state_change, tuple(task._children))
        cached = task.__dict__.get("_saved_dict")
        if cached is not None and cached[0] == key:
            return cast(dict[str, Any], cached[1])
        dct = cast(dict[str, Any], super().to_dict(task))
        parent = task.parent
        if task.state & _FINAL and (parent is None or parent.state & _FINAL):
            task.__dict__["_saved_dict"] = (key, dct)
        return dct


_FINAL = TaskState.COMPLETED | TaskState.CANCELLED
_SCALARS = (str, int, float, bool, type(None), dt.datetime, dt.date, dt.timedelta, Decimal, UUID)


def _only_scalars(dct: dict[str, Any]) -> bool:
    """Whether the data a converted task carries (its data, internal data, delta) are all immutable values."""
    delta = dct.get("delta") or {}
    return all(
        isinstance(value, _SCALARS)
        for mapping in (dct.get("data") or {}, dct.get("internal_data") or {}, delta.get("updates") or {})
        for value in mapping.values()
    )


_CONFIG = {**SPIFF_CONFIG, Task: _FinishedTaskConverter}
_registry = BpmnWorkflowSerializer.configure(_CONFIG)
_state_converter = _StateConverter(BpmnWorkflow, _registry)
_serializer = BpmnWorkflowSerializer(_registry)
_encoder = _serializer._encoder_cls(separators=(",", ":"))
