"""The BPMN engine: the only module that imports SpiffWorkflow.

Everything else sees plain data: ``ParsedProcess`` (a parsed, validated process),
``Instance`` (one running process with ``ready_user_tasks``, ``complete``, ``send_message``,
``waiting_timers``, ``fire_timer``, ``dumps``) and the dataclasses below.

Design points:
- Specs are parsed once per deployed version and cached in-process; a case's stored state
  holds only its task tree and data (never the spec), tagged with ``SERIALIZER_VERSION``.
- Scripts and conditions run in a restricted environment: a whitelisted set of builtins,
  no imports, no dunder/underscore names or attributes, compiled code cached.
- Timers are driven by the application clock (``app.clock``), not by wall time: the engine
  computes each waiting timer's due time with that clock and fires a timer only when asked.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
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
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessageEvent
from SpiffWorkflow.util.task import TaskState

from app import clock

SERIALIZER_VERSION = "spiff-3.2.0/1.5-nospec"
# A loop that went round this often is a modelling error or abuse; SpiffWorkflow's task tree
# never shrinks and its iterators stop at depth 1000 (a task count bounds the depth), so refuse
# well before that — about 300 rework rounds of the assessment.
MAX_TASKS_PER_INSTANCE = 900


class EngineError(Exception):
    """A process could not be parsed, run or restored."""


class ProcessValidationError(EngineError):
    pass


class ScriptNotAllowed(EngineError):
    pass


# --------------------------------------------------------------------------- scripts

_SAFE_BUILTINS: dict[str, Any] = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in (
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "int",
        "isinstance",
        "len",
        "list",
        "map",
        "max",
        "min",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "ValueError",
    )
}
# Scripts are small data manipulations: no definitions (functions, lambdas, generators, classes),
# no imports, and attribute access only to a whitelist of plain data methods — that closes the
# frame/code/format-string routes out of the sandbox (gi_frame, f_back, str.format, ...).
_FORBIDDEN_NODES = (
    ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
    ast.ClassDef, ast.Yield, ast.YieldFrom, ast.Await, ast.With, ast.AsyncWith, ast.Try,
    ast.Raise, ast.Delete, ast.AsyncFor, ast.NamedExpr,
)
_ALLOWED_ATTRIBUTES = frozenset({
    "get", "keys", "values", "items", "append", "extend", "insert", "pop", "copy", "update", "setdefault",
    "count", "index", "lower", "upper", "strip", "lstrip", "rstrip", "split", "join", "replace",
    "startswith", "endswith", "isdigit", "quantize",
})


def _iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()


def _parse_iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _script_now() -> str:
    return _iso(clock.now())


def _script_add_days(value: str, days: int) -> str:
    return _iso(_parse_iso(value) + dt.timedelta(days=int(days)))


def _script_add_working_days(value: str, days: int) -> str:
    return _iso(clock.add_working_days(_parse_iso(value), int(days)))


SCRIPT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "now": _script_now,
    "add_days": _script_add_days,
    "add_working_days": _script_add_working_days,
}


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> Any:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptNotAllowed(f"脚本语法错误: {exc.msg}") from exc
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN_NODES):
            raise ScriptNotAllowed(f"脚本中不允许使用 {type(node).__name__}")
        if isinstance(node, ast.Attribute) and node.attr not in _ALLOWED_ATTRIBUTES:
            raise ScriptNotAllowed(f"脚本中不允许访问属性 {node.attr}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ScriptNotAllowed(f"脚本中不允许使用名称 {node.id}")
    return compile(tree, "<bpmn-script>", mode)  # type: ignore[call-overload]


class RestrictedEnvironment(TaskDataEnvironment):
    """Task-data script environment with whitelisted builtins and no imports or dunders."""

    def __init__(self) -> None:
        super().__init__(dict(SCRIPT_FUNCTIONS))

    def _globals(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
        scope: dict[str, Any] = {"__builtins__": _SAFE_BUILTINS}
        scope.update(self.globals)
        scope.update(external or {})
        return scope

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = _compile(expression.strip(), "eval")
        scope = self._globals(context, external_context)
        scope.update({k: v for k, v in context.items() if k != "__builtins__"})
        return eval(code, scope)  # noqa: S307 - restricted by _compile and _SAFE_BUILTINS

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = _compile(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update(self._globals(context, external_context))
        try:
            exec(code, context)  # noqa: S102 - restricted by _compile and _SAFE_BUILTINS
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


_SCRIPT_ENGINE = PythonScriptEngine(environment=RestrictedEnvironment())


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class StepInfo:
    """A user task of a process, as the app needs it (form, lane, properties)."""

    step: str
    name: str
    lane: str | None
    properties: dict[str, str]


@dataclass
class ParsedProcess:
    key: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    steps: dict[str, StepInfo] = field(default_factory=dict)


def _collect_steps(spec: Any, subprocess_specs: dict[str, Any]) -> dict[str, StepInfo]:
    steps: dict[str, StepInfo] = {}
    for process_spec in [spec, *subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            if not getattr(task_spec, "manual", False):
                continue
            extensions = getattr(task_spec, "extensions", {}) or {}
            steps[task_spec.bpmn_id or task_spec.name] = StepInfo(
                step=task_spec.bpmn_id or task_spec.name,
                name=task_spec.bpmn_name or task_spec.name,
                lane=task_spec.lane,
                properties=dict(extensions.get("properties", {})),
            )
    return steps


def parse_bpmn(xml: bytes, filename: str = "process.bpmn") -> list[ParsedProcess]:
    """Parse and validate a BPMN file; return its executable processes.

    Raises ``ProcessValidationError`` with a readable message on any schema or model error.
    """
    if not isinstance(xml, bytes):
        raise TypeError("parse_bpmn wants bytes")
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_str(xml, filename)
        results = []
        for process_id in parser.get_process_ids():
            process_parser = parser.get_process_parser(process_id)
            if not process_parser.process_executable:
                continue
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
            results.append(
                ParsedProcess(
                    key=process_id,
                    name=process_parser.get_name() or process_id,
                    spec=spec,
                    subprocess_specs=subprocess_specs,
                    steps=_collect_steps(spec, subprocess_specs),
                )
            )
    except ValidationException as exc:
        raise ProcessValidationError(f"BPMN 校验失败 ({filename}): {exc}") from exc
    except SpiffWorkflowException as exc:
        raise ProcessValidationError(f"BPMN 解析失败 ({filename}): {exc}") from exc
    except Exception as exc:  # lxml syntax errors and the like
        raise ProcessValidationError(f"无法解析 BPMN 文件 ({filename}): {exc}") from exc
    if not results:
        raise ProcessValidationError(f'{filename} 中没有可执行的流程 (isExecutable="true")')
    return results


_spec_cache: dict[tuple[int, str], ParsedProcess] = {}
_spec_lock = threading.Lock()


def cached_process(definition_id: int, key: str, xml: str) -> ParsedProcess:
    """The parsed spec of a deployed definition, parsed at most once per process."""
    cache_key = (definition_id, key)
    parsed = _spec_cache.get(cache_key)
    if parsed is None:
        with _spec_lock:
            parsed = _spec_cache.get(cache_key)
            if parsed is None:
                matches = [p for p in parse_bpmn(xml.encode("utf-8")) if p.key == key]
                if not matches:
                    raise EngineError(f"definition {definition_id} has no process {key}")
                parsed = matches[0]
                _spec_cache[cache_key] = parsed
    return parsed


# --------------------------------------------------------------------------- state


class _StateConverter(BpmnWorkflowConverter):
    """Serialises a workflow's tasks and data but not its spec (stored once per version)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore_with(self, dct: dict[str, Any], parsed: ParsedProcess) -> BpmnWorkflow:
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
_state_converter = _StateConverter(BpmnWorkflow, _registry)
_serializer = BpmnWorkflowSerializer(_registry)


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
            return json.dumps(
                _state_converter.to_dict(self.workflow), separators=(",", ":"), cls=_serializer._encoder_cls
            )
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
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
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
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            for event in _definitions(task.task_spec):
                if isinstance(event, MessageEventDefinition):
                    names.add(event.name)
        return names

    def waiting_timers(self) -> list[WaitingTimer]:
        timers = []
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
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
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
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
