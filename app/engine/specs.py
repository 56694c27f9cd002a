"""Parsing and validating BPMN files; the in-process cache of parsed specs (once per deployed version)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from app.engine.scripts import EngineError, ProcessValidationError

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
