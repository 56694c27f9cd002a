"""Deploying BPMN files as versioned process definitions."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select, update

from app import engine
from app.errors import ValidationFailed
from app.extensions import db
from app.models import ProcessDefinition


def deploy_bpmn(filename: str, xml: bytes) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every executable process of one BPMN file.

    A process whose content hash is already deployed is left alone (returned with False);
    otherwise a new version is added and becomes the latest. Running cases stay on theirs.
    Nothing is deployed if the file does not parse and validate.
    """
    try:
        processes = engine.parse_bpmn(xml, filename)
    except engine.ProcessValidationError as exc:
        raise ValidationFailed(str(exc), {"file": [str(exc)]}) from exc
    digest = hashlib.sha256(xml).hexdigest()
    text = xml.decode("utf-8")
    results = []
    for parsed in processes:
        existing = db.session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.key == parsed.key, ProcessDefinition.content_hash == digest
            )
        )
        if existing is not None:
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
        results.append((definition, True))
    return results


def deploy_directory(directory: str | Path) -> list[tuple[ProcessDefinition, bool]]:
    results = []
    for path in sorted(Path(directory).glob("*.bpmn")):
        results.extend(deploy_bpmn(path.name, path.read_bytes()))
    return results
