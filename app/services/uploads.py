"""Evidence uploads: allowed types, size limit, sanitised names, storage outside the web root."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from app import clock
from app.errors import ValidationFailed
from app.extensions import db
from app.models import EvidenceFile, User

ALLOWED = {
    ".pdf": ("application/pdf", [b"%PDF"]),
    ".png": ("image/png", [b"\x89PNG\r\n\x1a\n"]),
    ".jpg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".jpeg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", [b"PK\x03\x04"]),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", [b"PK\x03\x04"]),
    ".doc": ("application/msword", [b"\xd0\xcf\x11\xe0"]),
    ".xls": ("application/vnd.ms-excel", [b"\xd0\xcf\x11\xe0"]),
    ".ofd": ("application/ofd", [b"PK\x03\x04"]),
    ".txt": ("text/plain", []),
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def clean_name(name: str) -> str:
    """Keep a readable (Chinese-friendly) display name without paths or control characters."""
    base = _UNSAFE.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    stem, ext = os.path.splitext(base)
    return (stem[:120] or "file") + ext.lower()[:10]


def check(file: FileStorage, field: str) -> tuple[str, bytes, str]:
    """Validate one upload; returns (clean name, content, content type) or raises ValidationFailed."""
    name = clean_name(file.filename or "")
    ext = os.path.splitext(name)[1]
    limit = current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    if ext not in ALLOWED:
        allowed = "、".join(sorted(e.lstrip(".") for e in ALLOWED))
        raise ValidationFailed(f"不支持的文件类型 {ext or '(无扩展名)'}，允许：{allowed}", {field: ["文件类型不允许"]})
    content = file.stream.read(limit + 1)
    if len(content) > limit:
        raise ValidationFailed(
            f"文件 {name} 超过 {current_app.config['MAX_UPLOAD_MB']} MB 的大小限制", {field: ["文件过大"]}
        )
    if not content:
        raise ValidationFailed(f"文件 {name} 是空文件", {field: ["空文件"]})
    content_type, magics = ALLOWED[ext]
    if magics and not any(content.startswith(m) for m in magics):
        raise ValidationFailed(f"文件 {name} 的内容与扩展名不符", {field: ["文件内容与类型不符"]})
    if ext == ".txt":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(f"文本文件 {name} 不是 UTF-8 编码", {field: ["编码错误"]}) from exc
    return name, content, content_type


def store(
    name: str, content: bytes, content_type: str, *, case_id: int, user: User, entry_id: int | None = None
) -> EvidenceFile:
    now = clock.now()
    stored = f"{now:%Y%m}/{secrets.token_hex(16)}{os.path.splitext(name)[1]}"
    path = Path(current_app.config["UPLOAD_DIR"]) / stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    row = EvidenceFile(
        case_id=case_id,
        entry_id=entry_id,
        original_name=name,
        stored_name=stored,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by_id=user.id,
        uploaded_at=now,
    )
    db.session.add(row)
    return row


def path_of(evidence: EvidenceFile) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / evidence.stored_name
