"""Application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app import config
from app.extensions import csrf, db, login_manager, migrate
from app.json_provider import OrjsonProvider


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
    )
    app.config.update(config.load(app.instance_path))
    if overrides:
        app.config.update(overrides)
    # JSON answers in UTF-8 and in the order the code builds them (sorting keys and escaping every
    # Chinese character cost more than the rest of a 100-row page), encoded by orjson
    app.json = OrjsonProvider(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    from app import database, security, web
    from app.cli import register_cli
    from app.services import auth

    auth.configure_hasher(app.config["PASSWORD_HASH_TIME_COST"], app.config["PASSWORD_HASH_MEMORY_KIB"])
    database.init_app(app)
    security.init_app(app)
    web.init_app(app)
    register_cli(app)
    return app
