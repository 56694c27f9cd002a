"""Configuration from the environment, with safe development defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{instance / 'jixiao.sqlite3'}"


def load(instance_path: str) -> dict[str, Any]:
    instance = Path(instance_path)
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _dev_secret(instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800},
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR") or str(instance / "uploads"),
        "MAX_UPLOAD_MB": int(os.environ.get("MAX_UPLOAD_MB", "20")),
        # Public objections accepted per client address and hour (公示期异议, no login).
        "PUBLIC_OBJECTIONS_PER_HOUR": int(os.environ.get("PUBLIC_OBJECTIONS_PER_HOUR", "5")),
        "MAX_CONTENT_LENGTH": (int(os.environ.get("MAX_UPLOAD_MB", "20")) + 1) * 1024 * 1024,
        "SESSION_IDLE_MINUTES": int(os.environ.get("SESSION_IDLE_MINUTES", "30")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        "WTF_CSRF_TIME_LIMIT": None,
        "API_TOKEN_HOURS": int(os.environ.get("API_TOKEN_HOURS", "12")),
        "WORKFLOWS_DIR": os.environ.get("WORKFLOWS_DIR") or str(ROOT / "workflows"),
        "PASSWORD_HASH_TIME_COST": int(os.environ.get("PASSWORD_HASH_TIME_COST", "3")),
        "PASSWORD_HASH_MEMORY_KIB": int(os.environ.get("PASSWORD_HASH_MEMORY_KIB", "65536")),
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_MINUTES": 15,
        # Deadlines and e-mail notifications (e-mail is off while SMTP_HOST is empty).
        "REMINDER_WORKING_DAYS": int(os.environ.get("REMINDER_WORKING_DAYS", "1")),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "jixiao@localhost"),
        "SMTP_STARTTLS": os.environ.get("SMTP_STARTTLS", "0") == "1",
        "SMTP_TIMEOUT": float(os.environ.get("SMTP_TIMEOUT", "10")),
        "SMTP_MAX_AGE_HOURS": int(os.environ.get("SMTP_MAX_AGE_HOURS", "72")),
        "BASE_URL": os.environ.get("BASE_URL", ""),
    }


def _dev_secret(instance: Path) -> str:
    """A per-installation random key kept in instance/, so sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()
