"""The engine's errors and the restricted environment BPMN scripts and conditions run in."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from app import clock


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
