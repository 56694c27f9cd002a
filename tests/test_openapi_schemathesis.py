"""Schemathesis against the served OpenAPI document (WSGI, bearer token of a seeded user).

The schema is loaded from ``GET /api/v1/openapi.json`` of the app and run with schemathesis'
own engine (what ``schemathesis run`` does): the examples, coverage and fuzzing phases, with
positive and negative data, for every operation. Each response must not be a server error,
must use a documented status code and content type, and must match the documented response
schema. The seeded records (tests/api_records.py) start at id 1, the example of every path
id, so requests reach real objects as well as 404s. ``SCHEMATHESIS_MAX_EXAMPLES`` (default 15)
sets the fuzzing examples per operation.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from app.extensions import db
from tests.api_records import build_records
from tests.factories import PASSWORD

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")


def _isolated(app: Flask) -> Any:
    """The app as a WSGI callable giving every request its own app context (own session and ``g``)."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        with app.app_context():
            return list(app.wsgi_app(environ, start_response))

    return wsgi


def _token(app: Flask, username: str) -> str:
    response = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["token"]


def _describe(event: events.ScenarioFinished) -> list[str]:
    lines = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            interaction = event.recorder.interactions.get(case_id)
            response = interaction.response if interaction else None
            body = response.content[:300].decode(errors="replace") if response is not None else ""
            lines.append(
                f"{event.label} [{check.name}] {check.failure_info.failure.title}: "
                f"{check.failure_info.failure.message[:300]}\n    {check.failure_info.code_sample}\n"
                f"    -> {response.status_code if response is not None else '-'} {body}"
            )
    return lines


def test_every_operation_conforms_to_the_served_openapi_document(app: Flask):
    build_records()
    token = _token(app, "head")  # unit head: signing tasks, the school's records
    db.session.expire_all()
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "suppress-health-check": ["all"],
    })
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _isolated(app), config=config)
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert {"GET /tasks", "POST /tasks/{task_id}/complete", "GET /cycles/{cycle_id}/ledger",
            "GET /letters/{letter_id}", "POST /notifications/read"} <= operations

    failures: list[str] = []
    errors: list[str] = []
    tested: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.label and event.status != Status.SKIP:
                tested.add(event.label)
            if event.status == Status.FAILURE:
                failures.extend(_describe(event))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()[:500]}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(dict.fromkeys(failures))
    assert operations <= tested, sorted(operations - tested)
