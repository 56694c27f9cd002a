"""One running process: restore from stored state, act, mirror its user tasks and timers, dump."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessageEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from app import clock
from app.engine.scripts import _SCRIPT_ENGINE, EngineError, ScriptNotAllowed, _iso, _parse_iso
from app.engine.specs import ParsedProcess

SERIALIZER_VERSION = "spiff-3.2.0/1.5-nospec"
# A loop that went round this often is a modelling error or abuse; SpiffWorkflow's task tree
# never shrinks and its iterators stop at depth 1000 (a task count bounds the depth), so refuse
# well before that — about 300 rework rounds of the assessment.
MAX_TASKS_PER_INSTANCE = 900


# --------------------------------------------------------------------------- state


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


@dataclass(frozen=True)
class UserTaskView:
    id: str
    step: str
    name: str
    lane: str | None
    properties: dict[str, str]


@dataclass(frozen=True)
class PathStep:
    """A completed user task on the path that led to a task (see ``Instance.user_task_path``)."""

    id: str
    step: str
    name: str


@dataclass(frozen=True)
class WaitingTimer:
    id: str
    step: str
    due_at: dt.datetime


def _definitions(task_spec: Any) -> list[Any]:
    event = getattr(task_spec, "event_definition", None)
    if isinstance(event, MultipleEventDefinition):
        return list(event.event_definitions)
    return [event] if event is not None else []


def _timer_of(task_spec: Any) -> TimerEventDefinition | None:
    return next((e for e in _definitions(task_spec) if isinstance(e, TimerEventDefinition)), None)


class Instance:
    """One process instance in memory. Not thread-safe; load, act, dump within one request."""

    def __init__(self, parsed: ParsedProcess, workflow: BpmnWorkflow) -> None:
        self.parsed = parsed
        self.workflow = workflow
        self.workflow.script_engine = _SCRIPT_ENGINE

    # -- lifecycle
    @classmethod
    def start(cls, parsed: ParsedProcess, data: dict[str, Any] | None = None) -> Instance:
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=_SCRIPT_ENGINE)
        instance = cls(parsed, workflow)
        start_tasks = workflow.get_tasks(state=TaskState.READY)
        for task in start_tasks:
            task.data.update(data or {})
        instance._run(lambda: None)
        return instance

    @classmethod
    def load(cls, parsed: ParsedProcess, state: str, version: str) -> Instance:
        if version != SERIALIZER_VERSION:
            raise EngineError(f"unsupported serializer version {version!r}")
        try:
            workflow = _state_converter.restore_with(json.loads(state), parsed)
        except (KeyError, ValueError, TypeError) as exc:
            raise EngineError(f"corrupt case state: {exc}") from exc
        return cls(parsed, workflow)

    def dumps(self) -> str:
        _registry._encoder_mode = True  # mirrors BpmnWorkflowSerializer.serialize_json
        try:
            return _state_converter.to_json(self.workflow)
        finally:
            _registry._encoder_mode = False

    # -- queries
    @property
    def completed(self) -> bool:
        return bool(self.workflow.completed)

    @property
    def data(self) -> dict[str, Any]:
        if self.workflow.completed:
            return dict(self.workflow.data)
        last = self.workflow.last_task
        return dict(last.data) if last is not None else dict(self.workflow.data)

    def ready_user_tasks(self) -> list[UserTaskView]:
        views = []
        for task in self.workflow.get_tasks(state=TaskState.READY):
            spec = task.task_spec
            if not spec.manual:
                continue
            step = spec.bpmn_id or spec.name
            info = self.parsed.steps.get(step)
            views.append(
                UserTaskView(
                    id=str(task.id),
                    step=step,
                    name=info.name if info else (spec.bpmn_name or step),
                    lane=spec.lane,
                    properties=dict(info.properties) if info else {},
                )
            )
        return views

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._task(task_id).data)

    def completed_steps(self) -> list[str]:
        return [t.task_spec.bpmn_id for t in self.workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id]

    def waiting_messages(self) -> set[str]:
        names = set()
        for task in self._waiting():
            for event in _definitions(task.task_spec):
                if isinstance(event, MessageEventDefinition):
                    names.add(event.name)
        return names

    def waiting_timers(self) -> list[WaitingTimer]:
        timers = []
        for task in self._waiting():
            if _timer_of(task.task_spec) is None:
                continue
            value = task._get_internal_data("event_value")
            if isinstance(value, str):
                timers.append(
                    WaitingTimer(
                        id=str(task.id), step=task.task_spec.bpmn_id or task.task_spec.name, due_at=_parse_iso(value)
                    )
                )
        return timers

    # -- actions
    def complete(self, task_id: str, data: dict[str, Any]) -> None:
        task = self._task(task_id)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise EngineError("task is not ready")
        task.data.update(data)
        self._run(task.run)

    def send_message(self, name: str, payload: dict[str, Any] | None = None) -> None:
        if name not in self.waiting_messages():
            raise EngineError(f"process is not waiting for message {name}")
        event = BpmnEvent(SpiffMessageEvent(name), payload or {})
        self._run(lambda: self.workflow.send_event(event))

    def refresh_timers(self) -> None:
        """Fire any timer already due on the application clock (before acting on a message)."""
        self._run(lambda: None)

    def fire_timer(self, task_id: str) -> None:
        task = self._task(task_id)
        if task.state != TaskState.WAITING:
            raise EngineError("timer is not waiting")
        task._set_internal_data(event_fired=True)
        self._run(self.workflow.refresh_timers)

    # -- going back (退回 / 撤回)
    def user_task_path(self, task_id: str) -> list[PathStep]:
        """The completed user tasks on the path that led to ``task_id``, nearest first, one per step
        (its nearest occurrence), excluding ``task_id``'s own step. Crosses out of subprocesses."""
        task = self._task(task_id)
        seen = {task.task_spec.bpmn_id or task.task_spec.name}
        path: list[PathStep] = []
        node = self._parent_of(task)
        while node is not None:
            spec = node.task_spec
            if getattr(spec, "manual", False) and node.state == TaskState.COMPLETED:
                step = spec.bpmn_id or spec.name
                if step not in seen:
                    seen.add(step)
                    info = self.parsed.steps.get(step)
                    path.append(PathStep(str(node.id), step, info.name if info else (spec.bpmn_name or step)))
            node = self._parent_of(node)
        return path

    def reset_to(self, step: str, from_task: str | None = None) -> str:
        """Go back to the nearest earlier occurrence of user task ``step`` on the path of
        ``from_task`` (default: of any ready user task): everything after it is discarded from the
        task tree and it is READY again with the data it had before. Returns its task id."""
        sources = [from_task] if from_task else [view.id for view in self.ready_user_tasks()]
        for source in sources:
            for item in self.user_task_path(source):
                if item.step == step:
                    self.reset_task(item.id)
                    return item.id
        raise EngineError(f"no earlier user task {step} on the path")

    def reset_task(self, task_id: str) -> None:
        """Make the completed user task ``task_id`` READY again, discarding what followed it."""
        task = self._task(task_id)
        if task.state != TaskState.COMPLETED or not getattr(task.task_spec, "manual", False):
            raise EngineError("task is not a completed user task")
        self._run(lambda: self.workflow.reset_from_task_id(task.id))
        if task.state != TaskState.READY:
            raise EngineError("task could not be made ready again")

    def _parent_of(self, task: Any) -> Any:
        if task.parent is not None:
            return task.parent
        parent_id = getattr(task.workflow, "parent_task_id", None)
        return self.workflow.get_task_from_id(parent_id) if parent_id is not None else None

    # -- internals
    def _task(self, task_id: str) -> Any:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, SpiffWorkflowException) as exc:
            raise EngineError("no such task") from exc
        if task is None:
            raise EngineError("no such task")
        return task

    def _waiting(self) -> list[Any]:
        """WAITING tasks of the instance and its running subprocesses. A flat scan of the task
        dictionaries: several times cheaper than the tree iterator (which walks every completed
        task of the case's history), in creation order; callers do not depend on tree order."""
        waiting = TaskState.WAITING
        found = [t for t in self.workflow.tasks.values() if t.state == waiting]
        for subprocess in self.workflow.subprocesses.values():
            if not subprocess.completed:
                found.extend(t for t in subprocess.tasks.values() if t.state == waiting)
        return found

    def _run(self, action: Callable[[], Any]) -> None:
        try:
            action()
            self._advance()
        except ScriptNotAllowed:
            raise
        except SpiffWorkflowException as exc:
            raise EngineError(str(exc)) from exc
        except (ArithmeticError, LookupError, TypeError, ValueError, NameError) as exc:
            raise EngineError(f"脚本执行错误: {exc}") from exc
        if len(self.workflow.tasks) > MAX_TASKS_PER_INSTANCE:
            raise EngineError("流程循环次数过多，请联系绩效办重新发起")

    def _advance(self) -> None:
        self.workflow.do_engine_steps()
        self._clock_timers()

    def _clock_timers(self) -> None:
        """Re-base duration timers on the application clock; mark clock-due timers fired."""
        fired = False
        for task in self._waiting():
            event = _timer_of(task.task_spec)
            if event is None:
                continue
            if isinstance(event, DurationTimerEventDefinition) and not task._get_internal_data("clocked"):
                expression = self.workflow.script_engine.evaluate(task, event.expression)
                delta = TimerEventDefinition.get_timedelta_from_start(
                    TimerEventDefinition.parse_iso_duration(expression),
                    clock.now().replace(tzinfo=dt.UTC),
                )
                task._set_internal_data(event_value=_iso(clock.now() + delta), clocked=True)
            elif isinstance(event, TimeDateEventDefinition) and task._get_internal_data("event_value") is None:
                task._set_internal_data(event_value=self.workflow.script_engine.evaluate(task, event.expression))
            value = task._get_internal_data("event_value")
            if (
                isinstance(value, str)
                and _parse_iso(value) <= clock.now()
                and not task._get_internal_data("event_fired")
            ):
                task._set_internal_data(event_fired=True)
                fired = True
        if fired:
            self.workflow.refresh_timers()
            self.workflow.do_engine_steps()
            self._clock_timers()
