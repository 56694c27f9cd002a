"""The BPMN engine: the only package importing SpiffWorkflow (scripts, specs, state, instance, taskscan).

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
- State queries of the task tree are answered by a flat scan of the task dictionary with the
  tree walk's exact result and order (``taskscan``), not by walking the whole history.
"""

from app.engine.instance import (
    MAX_TASKS_PER_INSTANCE,
    SERIALIZER_VERSION,
    Instance,
    PathStep,
    UserTaskView,
    WaitingTimer,
)
from app.engine.scripts import (
    SCRIPT_FUNCTIONS,
    EngineError,
    ProcessValidationError,
    RestrictedEnvironment,
    ScriptNotAllowed,
)
from app.engine.specs import ParsedProcess, StepInfo, _spec_cache, cached_process, parse_bpmn
from app.engine.taskscan import install as _install_taskscan

_install_taskscan()

__all__ = [
    "MAX_TASKS_PER_INSTANCE",
    "SCRIPT_FUNCTIONS",
    "SERIALIZER_VERSION",
    "EngineError",
    "Instance",
    "ParsedProcess",
    "PathStep",
    "ProcessValidationError",
    "RestrictedEnvironment",
    "ScriptNotAllowed",
    "StepInfo",
    "UserTaskView",
    "WaitingTimer",
    "_spec_cache",
    "cached_process",
    "parse_bpmn",
]
