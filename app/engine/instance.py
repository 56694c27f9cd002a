"""One running process: restore from stored state, act, mirror its user tasks and timers, dump."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

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
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessageEvent
from SpiffWorkflow.util.task import TaskState

from app import clock
from app.engine.scripts import _SCRIPT_ENGINE, EngineError, ScriptNotAllowed, _iso, _parse_iso
from app.engine.specs import ParsedProcess
from app.engine.state import _registry, _state_converter

SERIALIZER_VERSION = "spiff-3.2.0/1.5-nospec"
# A loop that went round this often is a modelling error or abuse; SpiffWorkflow's task tree
# never shrinks and its iterators stop at depth 1000 (a task count bounds the depth), so refuse
# well before that — about 300 rework rounds of the assessment.
MAX_TASKS_PER_INSTANCE = 900


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
