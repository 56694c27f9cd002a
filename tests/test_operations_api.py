"""The approval operations through the JSON API (bearer tokens; error bodies like the rest of /api/v1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CaseEvent, HumanTask
from app.views import api_doc, api_ops
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.ops_support import add_people

APPROVE = {"decision": "approve"}


@pytest.fixture
def api(app, client):
    tokens: dict[str, str] = {}

    def call(method: str, url: str, user: str, body: Any = None):
        if user not in tokens:
            with app.app_context():
                issued = client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
            assert issued.status_code == 200, issued.get_json()
            tokens[user] = issued.get_json()["token"]
        with app.app_context():
            response = client.open(url, method=method, json=body, headers={"Authorization": f"Bearer {tokens[user]}"})
        db.session.expire_all()
        return response

    return call


def error(response, code: int) -> dict[str, Any]:
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()["error"]
    assert body["code"] == code and body["message"]
    return body


def at_review(county) -> int:
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    return case_id


def test_return_and_targets(api, county):
    case_id = at_review(county)
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    audit = open_task(case_id, "audit").id
    targets = api("GET", f"/api/v1/tasks/{audit}/return-targets", "auditor").get_json()
    assert [t["step"] for t in targets["items"]] == ["supervisor_review", "self_assessment"]
    error(api("POST", f"/api/v1/tasks/{audit}/return", "auditor", {"target_step": "self_assessment"}), 422)
    error(api("POST", f"/api/v1/tasks/{audit}/return", "auditor", {"reason": 5}), 400)
    error(api("POST", f"/api/v1/tasks/{audit}/return", "other_officer", {"reason": "x"}), 404)
    response = api("POST", f"/api/v1/tasks/{audit}/return", "auditor", {"target_step": "self_assessment",
                                                                        "reason": "佐证不全"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["case_id"] == case_id and [t["step"] for t in body["next_tasks"]] == ["self_assessment"]
    task = api("GET", f"/api/v1/tasks/{body['next_tasks'][0]['id']}", "officer")
    assert task.status_code == 200
    error(api("POST", f"/api/v1/tasks/{audit}/return", "auditor", {"reason": "again"}), 409)


def test_transfer_delegate_resolve(api, county):
    people = add_people(county)
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review").id
    error(api("POST", f"/api/v1/tasks/{review}/transfer", "other_supervisor",
              {"to_user_id": people["supervisor2"].id, "reason": "x"}), 404)  # cannot even see it
    error(api("POST", f"/api/v1/tasks/{review}/transfer", "supervisor", {"to_user_id": "abc", "reason": "x"}), 422)
    error(api("POST", f"/api/v1/tasks/{review}/transfer", "supervisor", {"to_user_id": 2**40, "reason": "x"}), 422)
    moved = api("POST", f"/api/v1/tasks/{review}/transfer", "supervisor",
                {"to_user_id": people["supervisor2"].id, "reason": "出差"}).get_json()
    assert moved == {"task_id": review, "status": "open", "assignee_id": people["supervisor2"].id,
                     "delegated_to_id": None}
    error(api("POST", f"/api/v1/tasks/{review}/complete", "supervisor", {"data": APPROVE}), 403)
    delegated = api("POST", f"/api/v1/tasks/{review}/delegate", "supervisor2",
                    {"to_user_id": people["clerk"].id, "reason": "核对"}).get_json()
    assert delegated["delegated_to_id"] == people["clerk"].id
    error(api("POST", f"/api/v1/tasks/{review}/complete", "supervisor2", {"data": APPROVE}), 409)
    assert api("POST", f"/api/v1/tasks/{review}/resolve", "clerk", {"comment": "已核对"}).status_code == 200
    assert api("POST", f"/api/v1/tasks/{review}/complete", "supervisor2", {"data": APPROVE}).status_code == 200


def test_cosign_cc_urge(api, county):
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review").id
    error(api("POST", f"/api/v1/tasks/{review}/cosign", "supervisor", {"user_ids": "x", "reason": "x"}), 422)
    added = api("POST", f"/api/v1/tasks/{review}/cosign", "supervisor",
                {"user_ids": [county.users["auditor"].id], "reason": "把关"}).get_json()
    [cosign] = added["cosign_task_ids"]
    detail = api("GET", f"/api/v1/tasks/{cosign}", "auditor").get_json()
    assert [f["name"] for f in detail["fields"]] == ["decision", "comment"]
    error(api("POST", f"/api/v1/tasks/{review}/complete", "supervisor", {"data": APPROVE}), 409)
    assert api("POST", f"/api/v1/tasks/{cosign}/complete", "auditor",
               {"data": {"decision": "approve"}}).status_code == 200
    copied = api("POST", f"/api/v1/tasks/{review}/cc", "supervisor",
                 {"user_ids": [county.users["other_officer"].id], "note": "知悉"})
    assert copied.get_json() == {"case_id": case_id, "copies": 1}
    listed = api("GET", "/api/v1/cc", "other_officer").get_json()
    assert listed["total"] == 1 and listed["items"][0]["case"]["id"] == case_id
    assert api("GET", f"/api/v1/cases/{case_id}", "other_officer").status_code == 200  # read-only access
    assert api("POST", f"/api/v1/tasks/{review}/urge", "office", {"note": "快"}).get_json()["notified"] == 1
    error(api("POST", f"/api/v1/tasks/{review}/urge", "office", {}), 429)


def test_withdraw_and_bulk(api, county):
    case_id = at_review(county)
    assert api("POST", f"/api/v1/cases/{case_id}/withdraw", "officer", {"reason": "重填"}).status_code == 200
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    error(api("POST", f"/api/v1/cases/{case_id}/withdraw", "officer", {"reason": "再改"}), 409)

    other = at_review(county)
    task = open_task(other, "supervisor_review").id
    error(api("POST", "/api/v1/tasks/bulk-approve", "supervisor", {"task_ids": list(range(1, 102))}), 422)
    error(api("POST", "/api/v1/tasks/bulk-approve", "officer",
              {"task_ids": [open_task(start_assessment(county), "self_assessment").id]}), 403)
    result = api("POST", "/api/v1/tasks/bulk-approve", "supervisor", {"task_ids": [task], "comment": "同意"})
    assert result.get_json() == {"results": [{"task_id": task, "ok": True, "status": 200, "message": "已通过",
                                              "case_id": other}], "approved": 1, "failed": 0}
    assert db.session.scalar(select(HumanTask.status).where(HumanTask.id == task)) == "completed"
    assert db.session.scalars(select(CaseEvent.data).where(CaseEvent.task_id == task)).one() == {"bulk": True}


def test_proxies_api(api, county):
    people = add_people(county)
    now = clock.now()
    body = {"proxy_user_id": people["clerk"].id, "starts_at": (now - dt.timedelta(hours=1)).isoformat() + "Z",
            "ends_at": (now + dt.timedelta(days=2)).isoformat() + "Z", "reason": "休假"}
    error(api("POST", "/api/v1/proxies", "supervisor", {**body, "ends_at": "not a time"}), 422)
    created = api("POST", "/api/v1/proxies", "supervisor", body).get_json()
    assert created["proxy"]["id"] == people["clerk"].id and created["ended_at"] is None
    error(api("POST", "/api/v1/proxies", "supervisor", body), 409)
    assert api("GET", "/api/v1/proxies", "clerk").get_json()["acting_for"][0]["id"] == created["id"]
    error(api("POST", f"/api/v1/proxies/{created['id']}/end", "clerk"), 403)
    ended = api("POST", f"/api/v1/proxies/{created['id']}/end", "supervisor").get_json()
    assert ended["ended_at"] is not None


def test_every_operation_route_is_documented(app):
    rules = [r for r in app.url_map.iter_rules() if app.view_functions[r.endpoint].__module__ == api_ops.__name__]
    assert len(rules) == 14
    for rule in rules:
        path, _ = api_doc._path(rule.rule[len(api_doc.PREFIX):])
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in api_ops.OPENAPI_PATHS.get(path, {}), f"{method} {path} undocumented"
    document = api_doc.build(app)
    for path, operations in api_ops.OPENAPI_PATHS.items():
        for method in operations:
            assert document["paths"][path][method]["operationId"].startswith("api_")
    for schema in ("ReturnRequest", "BulkApproveResult", "Proxy"):
        assert schema in document["components"]["schemas"]
