"""Generic step handler: user tasks of processes deployed without code, driven by a JSON schema.

A user or manual task without a ``form`` property names its form in ``spiffworkflow:properties``:
``formJsonSchemaFilename`` (as SpiffArena does) or ``schema`` — a JSON file uploaded with the BPMN
(stored in ``process_form_schema``) — or ``schema_json`` with the schema itself. A task with none
of them gets a confirmation form without fields (SpiffArena's manual tasks).

Supported schema: ``{"type": "object", "title", "required": [...], "properties": {name: prop}}``
where ``prop`` has ``type`` string | number | integer | boolean, optional ``title``, ``description``,
``enum`` (with optional ``enumNames``) or ``oneOf: [{"const", "title"}]``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``format: "textarea"``.

Data contract: ``{name: value}`` for the schema's properties (strings, numbers as numbers or
numeric strings, booleans); validated against the schema, then written to the task data (so the
process's gateways can test it) and recorded in the history (``event_data={"form": data}``). The
outcome is the value of a ``decision`` field when it is ``approve`` or ``return``, else ``complete``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.errors import NotFound
from app.extensions import db
from app.models import Case, FormSchema, HumanTask, User
from app.services import cases
from app.services.steps import Checker, FieldSpec, Files, StepHandler

SCHEMA_FILE_PROPERTIES = ("formJsonSchemaFilename", "schema")
EMBEDDED_PROPERTY = "schema_json"
GENERIC_FORM_KEY = "generic"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_RESERVED = {"csrf_token", "submit", "data", "meta"}
_TYPES = {"string", "number", "integer", "boolean"}
_TEXTAREA_OVER = 200  # strings allowed longer than this get a textarea
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


# --------------------------------------------------------------------------- schemas


def schema_reference(properties: dict[str, str]) -> str | None:
    """The schema file a task's properties name, if any."""
    for key in SCHEMA_FILE_PROPERTIES:
        if properties.get(key):
            return properties[key].strip()
    return None


def _choices(prop: dict[str, Any]) -> list[tuple[Any, str]] | None:
    if isinstance(prop.get("enum"), list):
        names = prop.get("enumNames")
        labels = names if isinstance(names, list) and len(names) == len(prop["enum"]) else prop["enum"]
        return [(value, str(label)) for value, label in zip(prop["enum"], labels, strict=True)]
    if isinstance(prop.get("oneOf"), list):
        options = []
        for option in prop["oneOf"]:
            if not isinstance(option, dict) or "const" not in option:
                return []
            options.append((option["const"], str(option.get("title", option["const"]))))
        return options
    return None


def schema_problems(schema: Any, source: str) -> list[str]:
    """Why ``schema`` cannot drive a generic form (empty when it can)."""
    if not isinstance(schema, dict):
        return [f"{source}：JSON schema 应为对象"]
    if schema.get("type", "object") != "object":
        return [f"{source}：JSON schema 的 type 应为 object"]
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return [f"{source}：properties 应为对象"]
    problems = []
    for name, prop in props.items():
        if not _NAME.match(name) or name in _RESERVED:
            problems.append(f"{source}：字段名“{name}”无效（应以字母开头，只含字母、数字和下划线）")
            continue
        if not isinstance(prop, dict) or prop.get("type") not in _TYPES:
            kind = prop.get("type") if isinstance(prop, dict) else prop
            problems.append(f"{source}：字段“{name}”的类型 {kind!r} 不受支持（支持 string/number/integer/boolean）")
            continue
        choices = _choices(prop)
        if choices is not None and not choices:
            problems.append(f"{source}：字段“{name}”的可选值为空或格式错误")
        for bound in ("minimum", "maximum", "minLength", "maxLength"):
            if bound in prop and (isinstance(prop[bound], bool) or not isinstance(prop[bound], int | float)):
                problems.append(f"{source}：字段“{name}”的 {bound} 应为数字")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        problems.append(f"{source}：required 应列出 properties 中的字段")
    return problems


def load_schema(text: str | bytes, source: str) -> dict[str, Any]:
    """Parse and check one schema; raises ValueError with every problem."""
    try:
        schema = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}：不是有效的 JSON（{exc}）") from exc
    problems = schema_problems(schema, source)
    if problems:
        raise ValueError("；".join(problems))
    return schema


_cache: dict[tuple[int, str], dict[str, Any]] = {}


def schema_for(task: HumanTask) -> dict[str, Any] | None:
    """The task's JSON schema: embedded, named or (no ``form`` key) the empty confirmation schema;
    None for a code-bound step (a ``form`` key and no schema)."""
    case = task.case
    key = (case.definition_id, task.step)
    if key in _cache:
        return _cache[key]
    step = cases.process_of(case.definition).steps.get(task.step)
    properties = step.properties if step else {}
    if properties.get(EMBEDDED_PROPERTY):
        schema = load_schema(properties[EMBEDDED_PROPERTY], task.name)
    elif (filename := schema_reference(properties)) is not None:
        content = db.session.scalar(
            select(FormSchema.content).where(
                FormSchema.definition_id == case.definition_id, FormSchema.filename == filename
            )
        )
        if content is None:
            raise NotFound(f"步骤 {task.name} 的表单定义 {filename} 未上传")
        schema = load_schema(content, filename)
    elif properties.get("form"):
        return None
    else:
        schema = EMPTY_SCHEMA
    _cache[key] = schema
    return schema


# --------------------------------------------------------------------------- describe / validate


def _label(name: str, prop: dict[str, Any]) -> str:
    return str(prop.get("title") or name)


def fields_of(schema: dict[str, Any]) -> list[FieldSpec]:
    required = set(schema.get("required", []))
    specs = []
    for name, prop in schema.get("properties", {}).items():
        label, help_text, kind = _label(name, prop), str(prop.get("description", "")), prop["type"]
        choices = _choices(prop)
        if choices:
            specs.append(FieldSpec(name, label, "choice", name in required, [(str(v), lab) for v, lab in choices],
                                   help_text))
        elif kind == "boolean":
            specs.append(FieldSpec(name, label, "bool", name in required, help=help_text))
        elif kind in ("number", "integer"):
            if kind == "integer":
                help_text = (help_text + "（整数）").strip()
            specs.append(FieldSpec(name, label, "decimal", name in required, help=help_text,
                                   minimum=prop.get("minimum"), maximum=prop.get("maximum")))
        else:
            long = prop.get("format") == "textarea" or prop.get("maxLength", _TEXTAREA_OVER + 1) > _TEXTAREA_OVER
            specs.append(FieldSpec(name, label, "textarea" if long else "text", name in required, help=help_text))
    return specs


def _number(check: Checker, name: str, label: str, prop: dict[str, Any], value: Any) -> int | float | None:
    low, high = prop.get("minimum"), prop.get("maximum")
    number = check.decimal(name, label, value, minimum=None if low is None else Decimal(str(low)),
                           maximum=None if high is None else Decimal(str(high)))
    if number is None:
        return None
    if prop["type"] == "integer":
        if number != number.to_integral_value():
            check.add(name, f"{label}应为整数")
            return None
        return int(number)
    return int(number) if number == number.to_integral_value() else float(number)


def validate(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The cleaned data; raises ValidationFailed with every field error."""
    check = Checker(data)
    required = set(schema.get("required", []))
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        label, kind, value = _label(name, prop), prop["type"], data.get(name)
        empty = value is None or (isinstance(value, str) and not value.strip())
        choices = _choices(prop)
        if kind == "boolean" and not choices:
            out[name] = check.boolean(name, label)
            continue
        if empty:
            if name in required:
                check.add(name, f"请{'选择' if choices else '填写'}{label}")
            out[name] = "" if kind == "string" and not choices else None
            continue
        if choices:
            match = [v for v, _ in choices if v == value or str(v) == str(value)]
            if not match:
                check.add(name, f"{label}的取值无效")
            else:
                out[name] = match[0]
        elif kind in ("number", "integer"):
            number = _number(check, name, label, prop, value)
            if number is not None:
                out[name] = number
        else:
            text = check.text(name, label, max_len=int(prop.get("maxLength", 5000)))
            if len(text) < int(prop.get("minLength", 0)):
                check.add(name, f"{label}至少 {prop['minLength']} 字")
            out[name] = text
    check.raise_if_any()
    return out


# --------------------------------------------------------------------------- the handler


def describe(task: HumanTask) -> list[FieldSpec]:
    schema = schema_for(task)
    return fields_of(schema) if schema is not None else []


def submit(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    schema = schema_for(ctx.task)
    if schema is None:
        raise NotFound(f"步骤 {ctx.task.name} 没有可用的表单 ({ctx.task.form_key})")
    clean = validate(schema, data)
    decision = clean.get("decision")
    outcome = decision if decision in ("approve", "return") else "complete"
    comment = next((clean[k] for k in ("comment", "reason") if isinstance(clean.get(k), str) and clean[k]), None)
    return cases.finish_task(ctx, clean, outcome=outcome, comment=comment, event_data={"form": clean})


HANDLER = StepHandler(GENERIC_FORM_KEY, describe, submit)


def handler_for(task: HumanTask) -> StepHandler | None:
    """The generic handler for a task whose form key is not registered: one without a form key, or
    one with a JSON schema; None for a code-bound step whose handler module is missing."""
    if task.form_key and schema_for(task) is None:
        return None
    return HANDLER
