"""Deploying BPMN files as versioned process definitions, and processes deployed without code.

``deploy_bpmn(filename, xml, schemas)`` parses and validates everything first and deploys nothing on
any error (``ValidationFailed`` whose message lists every problem):
- the file must parse and validate as BPMN (``engine.parse_bpmn``);
- every user/manual task must lie in a lane whose name is a role code (``app.models.user.ROLES``);
- every JSON schema a task names (``formJsonSchemaFilename`` / ``schema``) must be among ``schemas``
  (filename → bytes, uploaded alongside) and describe a form ``generic_steps`` can render;
  an embedded ``schema_json`` property must be such a schema too.
The content hash covers the BPMN and the schema files it uses, so a changed schema is a new version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update

from app import engine
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, FormSchema, ProcessDefinition, Unit, User
from app.models.user import ROLES
from app.services import cases, generic_steps

MAX_BPMN_BYTES = 2 * 1024 * 1024


def _fail(message: str, key: str, problems: list[str]) -> ValidationFailed:
    return ValidationFailed(message, {key: problems})


def lane_problems(processes: list[engine.ParsedProcess]) -> list[str]:
    """Every user task outside a lane, or in a lane that is not a role code."""
    problems = []
    for parsed in processes:
        for step in parsed.steps.values():
            if not step.lane:
                problems.append(f"步骤“{step.name}”({step.step}) 不在任何泳道中")
            elif step.lane not in ROLES:
                problems.append(f"步骤“{step.name}”({step.step}) 的泳道“{step.lane}”不是已知的角色代码")
    return problems


def _used_schemas(
    processes: list[engine.ParsedProcess], schemas: Mapping[str, bytes]
) -> tuple[dict[str, str], list[str]]:
    """The schema files the tasks name (filename → text), and every problem with them."""
    used: dict[str, str] = {}
    problems: list[str] = []
    for parsed in processes:
        for step in parsed.steps.values():
            embedded = step.properties.get(generic_steps.EMBEDDED_PROPERTY)
            if embedded:
                try:
                    generic_steps.load_schema(embedded, f"步骤“{step.name}”的 {generic_steps.EMBEDDED_PROPERTY}")
                except ValueError as exc:
                    problems.append(str(exc))
                continue
            filename = generic_steps.schema_reference(step.properties)
            if filename is None or filename in used:
                continue
            if filename not in schemas:
                problems.append(f"步骤“{step.name}”引用的表单定义 {filename} 未随流程一起上传")
                continue
            try:
                raw = schemas[filename]
                text = raw.decode("utf-8-sig")
                generic_steps.load_schema(text, filename)
            except UnicodeDecodeError:
                problems.append(f"{filename}：应为 UTF-8 编码的 JSON")
                continue
            except ValueError as exc:
                problems.append(str(exc))
                continue
            used[filename] = text
    return used, problems


def _digest(xml: bytes, used: dict[str, str]) -> str:
    sha = hashlib.sha256(xml)
    for name in sorted(used):  # the file alone when it names no schema (the hash of earlier deployments)
        sha.update(b"\0" + name.encode("utf-8") + b"\0" + used[name].encode("utf-8"))
    return sha.hexdigest()


def deploy_bpmn(
    filename: str, xml: bytes, schemas: Mapping[str, bytes] | None = None
) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every executable process of one BPMN file.

    A process whose content hash is already deployed is left alone (returned with False);
    otherwise a new version is added and becomes the latest. Running cases stay on theirs.
    Nothing is deployed if the file, its lanes or its form schemas do not validate.
    """
    if len(xml) > MAX_BPMN_BYTES:
        raise _fail(f"{filename} 超过 {MAX_BPMN_BYTES // 1024 // 1024} MB", "file", ["文件过大"])
    try:
        processes = engine.parse_bpmn(xml, filename)
        text = xml.decode("utf-8")
    except engine.ProcessValidationError as exc:
        raise _fail(str(exc), "file", [str(exc)]) from exc
    except UnicodeDecodeError as exc:
        raise _fail(f"{filename} 应为 UTF-8 编码", "file", ["应为 UTF-8 编码"]) from exc
    lanes = lane_problems(processes)
    if lanes:
        codes = "、".join(ROLES)
        raise _fail(
            f"{filename} 的泳道有误（泳道名称必须是角色代码：{codes}）：" + "；".join(lanes), "lanes", lanes
        )
    used, problems = _used_schemas(processes, schemas or {})
    if problems:
        raise _fail(f"{filename} 的表单定义有误：" + "；".join(problems), "schemas", problems)
    digest = _digest(xml, used)
    results = []
    for parsed in processes:
        existing = db.session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.key == parsed.key, ProcessDefinition.content_hash == digest
            )
        )
        if existing is not None:
            _store_schemas(existing, used)
            results.append((existing, False))
            continue
        last_version = db.session.scalar(
            select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == parsed.key)
        )
        db.session.execute(update(ProcessDefinition).where(ProcessDefinition.key == parsed.key).values(is_latest=False))
        definition = ProcessDefinition(
            key=parsed.key,
            name=parsed.name,
            version=(last_version or 0) + 1,
            content_hash=digest,
            filename=filename,
            bpmn_xml=text,
            is_latest=True,
        )
        db.session.add(definition)
        db.session.flush()
        _store_schemas(definition, used)
        results.append((definition, True))
    return results


def _store_schemas(definition: ProcessDefinition, used: dict[str, str]) -> None:
    if not used:
        return
    stored = set(
        db.session.scalars(select(FormSchema.filename).where(FormSchema.definition_id == definition.id))
    )
    for name, text in used.items():
        if name not in stored:
            db.session.add(FormSchema(definition_id=definition.id, filename=name, content=text))
    db.session.flush()


def sibling_schemas(path: Path) -> dict[str, bytes]:
    """The ``*.json`` files beside a BPMN file (SpiffArena keeps a model's schemas in its folder)."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob("*.json")) if p.is_file()}


def deploy_file(path: str | Path) -> list[tuple[ProcessDefinition, bool]]:
    path = Path(path)
    return deploy_bpmn(path.name, path.read_bytes(), sibling_schemas(path))


def deploy_directory(directory: str | Path) -> list[tuple[ProcessDefinition, bool]]:
    results = []
    for path in sorted(Path(directory).glob("*.bpmn")):
        results.extend(deploy_file(path))
    return results


# --------------------------------------------------------------------------- listing and starting


@dataclass(frozen=True)
class DeployedProcess:
    """One deployed version as the admin page lists it."""

    id: int
    key: str
    name: str
    version: int
    content_hash: str
    filename: str
    deployed_at: dt.datetime
    is_latest: bool
    running_cases: int
    generic: bool  # every user task uses a generic (JSON schema) form: an admin may start it


def is_generic(definition: ProcessDefinition) -> bool:
    """Whether the process runs without code: no user task names a ``form`` handler."""
    steps = cases.process_of(definition).steps.values()
    return all(not s.properties.get("form") for s in steps)


def list_deployed() -> list[DeployedProcess]:
    """Every deployed version, newest first per key, with its number of running cases."""
    running = dict(
        db.session.execute(
            select(Case.definition_id, func.count(Case.id)).where(Case.status == "running").group_by(Case.definition_id)
        ).all()
    )
    rows = db.session.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
    ).all()
    return [
        DeployedProcess(
            id=d.id, key=d.key, name=d.name, version=d.version, content_hash=d.content_hash, filename=d.filename,
            deployed_at=d.deployed_at, is_latest=d.is_latest, running_cases=int(running.get(d.id, 0)),
            generic=d.is_latest and is_generic(d),
        )
        for d in rows
    ]


def start_generic_case(process_key: str, unit_id: int, user: User, title: str | None = None) -> Case:
    """Start a case of a process deployed without code for ``unit_id`` (its lanes resolve there)."""
    definition = cases.latest_definition(process_key)
    if not is_generic(definition):
        raise Conflict(f"流程 {definition.name} 由系统功能发起，不能在此手工发起")
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("单位不存在")
    title = (title or "").strip() or f"{definition.name} · {unit.name}"
    if len(title) > 300:
        raise ValidationFailed("标题不能超过 300 字", {"title": ["标题不能超过 300 字"]})
    return cases.start_case(
        process_key, unit_id=unit.id, title=title, started_by=user, data={"unit_id": unit.id, "unit_name": unit.name}
    )
