"""JSON API v1: tokens, scope, task completion, errors, CSRF for session clients."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import CaseEvent, HumanTask, User
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, open_task, self_assessment_data


@pytest.fixture
def api(app, client):
    """Call the API in a fresh app context per request, as in production (own session, own ``g``)."""

    def call(method: str, url: str, token: str | None = None, **kwargs: Any):
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with app.app_context():
            response = client.open(url, method=method, headers=headers, **kwargs)
        db.session.expire_all()
        return response

    return call


@pytest.fixture
def token(api):
    def issue(username: str) -> str:
        response = api("POST", "/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    return issue


def _error(response, code: int) -> dict[str, Any]:
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def _event_count(case_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)) or 0


# --------------------------------------------------------------------------- tokens


def test_token_success(api, county):
    response = api("POST", "/api/v1/auth/token", json={"username": "Officer", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["token"]) > 30
    assert body["expires_at"].endswith("Z")
    expires = dt.datetime.fromisoformat(body["expires_at"][:-1])
    assert dt.timedelta(hours=11) < expires - clock.now() <= dt.timedelta(hours=12)


def test_token_bad_credentials_are_401_and_counted(api, county):
    response = api("POST", "/api/v1/auth/token", json={"username": "officer", "password": "wrong"})
    assert "用户名或密码错误" in _error(response, 401)["message"]
    _error(api("POST", "/api/v1/auth/token", json={"username": "nobody", "password": "x"}), 401)
    assert db.session.scalar(select(User.failed_logins).where(User.username == "officer")) == 1


def test_token_lockout_persists(api, county):
    for _ in range(5):
        api("POST", "/api/v1/auth/token", json={"username": "officer", "password": "wrong"})
    response = api("POST", "/api/v1/auth/token", json={"username": "officer", "password": PASSWORD})
    assert "锁定" in _error(response, 401)["message"]


def test_token_malformed_requests(api, county):
    _error(api("POST", "/api/v1/auth/token", data="{not json", content_type="application/json"), 400)
    _error(api("POST", "/api/v1/auth/token", json=["officer", PASSWORD]), 400)
    _error(api("POST", "/api/v1/auth/token"), 400)
    err = _error(api("POST", "/api/v1/auth/token", json={"username": "officer"}), 422)
    assert set(err["fields"]) == {"password"}
    err = _error(api("POST", "/api/v1/auth/token", json={"username": 5, "password": PASSWORD}), 422)
    assert set(err["fields"]) == {"username"}


def test_unauthenticated_and_bad_tokens_are_401_json(api, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    for method, url in [
        ("GET", "/api/v1/tasks"),
        ("GET", f"/api/v1/tasks/{task_id}"),
        ("POST", f"/api/v1/tasks/{task_id}/complete"),
        ("GET", f"/api/v1/cases/{case_id}/history"),
    ]:
        response = api(method, url, json={"data": {}})
        _error(response, 401)
        assert "Location" not in response.headers
    _error(api("GET", "/api/v1/tasks", token="not-a-token"), 401)
    _error(api("GET", "/api/v1/tasks", headers={"Authorization": "Basic abc"}), 401)
    assert _event_count(case_id) == 1


def test_expired_token_is_401(api, token, county):
    start_assessment(county)
    officer = token("officer")
    assert api("GET", "/api/v1/tasks", token=officer).status_code == 200
    clock.advance(dt.timedelta(hours=13))
    _error(api("GET", "/api/v1/tasks", token=officer), 401)


def test_unknown_api_route_is_json_404(api, token, county):
    _error(api("GET", "/api/v1/nothing-here", token=token("officer")), 404)
    _error(api("DELETE", "/api/v1/tasks", token=token("officer")), 405)


# --------------------------------------------------------------------------- tasks


def test_task_list_is_scoped(api, token, county):
    case_id = start_assessment(county)
    start_assessment(county, county.other)
    body = api("GET", "/api/v1/tasks", token=token("officer")).get_json()
    assert body["total"] == 1 and body["page"] == 1 and body["per_page"] == 50
    item = body["items"][0]
    assert item["case_id"] == case_id and item["step"] == "self_assessment" and item["process"] == "assessment"
    assert item["unit"] == {"id": county.school.id, "code": "SCH1", "name": "县第一中学"}
    assert item["role"] == "unit_officer" and item["overdue"] is False
    assert item["created_at"].endswith("Z") and item["due_at"].endswith("Z")

    other = api("GET", "/api/v1/tasks", token=token("other_officer")).get_json()
    assert [i["unit"]["name"] for i in other["items"]] == ["县财政局"]
    assert api("GET", "/api/v1/tasks", token=token("supervisor")).get_json()["total"] == 0


def test_task_list_paging_and_overdue_filter(api, token, county):
    start_assessment(county)
    officer = token("officer")
    body = api("GET", "/api/v1/tasks?per_page=1000&page=0", token=officer).get_json()
    assert body["per_page"] == 100 and body["page"] == 1
    assert api("GET", "/api/v1/tasks?page=2", token=officer).get_json()["items"] == []
    _error(api("GET", "/api/v1/tasks?page=abc", token=officer), 400)
    assert api("GET", "/api/v1/tasks?overdue=1", token=officer).get_json()["total"] == 0
    clock.advance(dt.timedelta(days=400))
    officer = token("officer")
    body = api("GET", "/api/v1/tasks?overdue=1", token=officer).get_json()
    assert body["total"] == 1 and body["items"][0]["overdue"] is True


def test_get_task_with_fields(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    body = api("GET", f"/api/v1/tasks/{task_id}", token=token("officer")).get_json()
    assert body["status"] == "open" and body["form_key"] == "assessment.self_assessment"
    entries = next(f for f in body["fields"] if f["name"] == "entries")
    assert entries["type"] == "entries" and entries["required"] is True
    assert {f["name"] for f in entries["item_fields"]} == {"indicator_id", "completion", "narrative"}
    _error(api("GET", f"/api/v1/tasks/{task_id}", token=token("other_officer")), 404)
    _error(api("GET", "/api/v1/tasks/99999", token=token("officer")), 404)


def test_completed_task_visible_to_case_viewers(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    body = api("GET", f"/api/v1/tasks/{task_id}", token=token("supervisor")).get_json()
    assert body["status"] == "completed" and body["completed_by"]["name"] == "一中绩效员吴老师"
    _error(api("GET", f"/api/v1/tasks/{task_id}", token=token("other_officer")), 404)


def test_complete_then_supervisor_sees_next_task(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    response = api(
        "POST",
        f"/api/v1/tasks/{task_id}/complete",
        token=token("officer"),
        json={"data": self_assessment_data(case_id)},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["case_id"] == case_id and body["case_status"] == "running"
    assert [(t["name"], t["step"], t["role"]) for t in body["next_tasks"]] == [
        ("主管部门审核", "supervisor_review", "supervisor")
    ]
    supervisor = token("supervisor")
    items = api("GET", "/api/v1/tasks", token=supervisor).get_json()["items"]
    assert [i["id"] for i in items] == [body["next_tasks"][0]["id"]]
    response = api(
        "POST", f"/api/v1/tasks/{items[0]['id']}/complete", token=supervisor, json={"data": {"decision": "approve"}}
    )
    assert response.status_code == 200
    assert [t["role"] for t in response.get_json()["next_tasks"]] == ["auditor"]


def test_complete_by_non_candidates_changes_nothing(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    before = _event_count(case_id)
    payload = {"data": self_assessment_data(case_id)}
    _error(api("POST", f"/api/v1/tasks/{task_id}/complete", token=token("other_officer"), json=payload), 404)
    _error(api("POST", f"/api/v1/tasks/{task_id}/complete", token=token("supervisor"), json=payload), 403)
    _error(api("POST", "/api/v1/tasks/99999/complete", token=token("officer"), json=payload), 404)
    assert _event_count(case_id) == before
    assert db.session.get(HumanTask, task_id).status == "open"


def test_complete_twice_is_409(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    officer = token("officer")
    payload = {"data": self_assessment_data(case_id)}
    assert api("POST", f"/api/v1/tasks/{task_id}/complete", token=officer, json=payload).status_code == 200
    before = _event_count(case_id)
    _error(api("POST", f"/api/v1/tasks/{task_id}/complete", token=officer, json=payload), 409)
    assert _event_count(case_id) == before
    assert open_task(case_id).step == "supervisor_review"


def test_invalid_data_is_422_with_fields(api, token, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    officer = token("officer")
    data = self_assessment_data(case_id)
    data["entries"][0]["completion"] = 300
    err = _error(api("POST", f"/api/v1/tasks/{task_id}/complete", token=officer, json={"data": data}), 422)
    assert "entries-0-completion" in err["fields"]
    assert db.session.get(HumanTask, task_id).status == "open"

    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review_id = open_task(case_id).id
    before = _event_count(case_id)
    response = api(
        "POST", f"/api/v1/tasks/{review_id}/complete", token=token("supervisor"), json={"data": {"decision": "return"}}
    )
    err = _error(response, 422)
    assert err["fields"]["reason"] and "理由" in err["message"]
    assert _event_count(case_id) == before
    assert open_task(case_id).id == review_id


@pytest.mark.parametrize(
    "body",
    [
        "{broken",
        "[]",
        '"text"',
        "{}",
        '{"data": null}',
        '{"data": [1, 2]}',
        '{"data": "approve"}',
        '{"data": {"decision": NaN}}',
        "",
    ],
)
def test_malformed_complete_is_400(api, token, county, body):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    before = _event_count(case_id)
    response = api(
        "POST", f"/api/v1/tasks/{task_id}/complete", token=token("officer"), data=body, content_type="application/json"
    )
    _error(response, 400)
    assert _event_count(case_id) == before
    assert db.session.get(HumanTask, task_id).status == "open"


# --------------------------------------------------------------------------- cases


def test_case_summary_and_history(api, token, county):
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    supervisor = token("supervisor")
    summary = api("GET", f"/api/v1/cases/{case_id}", token=supervisor).get_json()
    assert summary["id"] == case_id and summary["status"] == "running"
    assert summary["unit"]["code"] == "SCH1" and summary["started_by"]["name"] == "绩效办王主任"
    assert [t["role"] for t in summary["open_tasks"]] == ["supervisor"]

    items = api("GET", f"/api/v1/cases/{case_id}/history", token=supervisor).get_json()["items"]
    assert [i["action"] for i in items] == ["start", "submit"]
    submit = items[1]
    assert submit["user"] == {"id": county.users["officer"].id, "name": "一中绩效员吴老师"}
    assert submit["step"] and submit["data"]["round"] == 1 and submit["created_at"].endswith("Z")

    other = token("other_officer")
    _error(api("GET", f"/api/v1/cases/{case_id}", token=other), 404)
    _error(api("GET", f"/api/v1/cases/{case_id}/history", token=other), 404)
    _error(api("GET", "/api/v1/cases/99999/history", token=supervisor), 404)


# --------------------------------------------------------------------------- session clients and CSRF


def _login_session(client, user_id: int) -> None:
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True


def test_session_post_requires_csrf_header(app, client, api, token, county, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    _login_session(client, county.users["officer"].id)
    assert api("GET", "/api/v1/tasks").get_json()["total"] == 1  # reads need no CSRF token
    url = f"/api/v1/tasks/{task_id}/complete"
    payload = {"data": self_assessment_data(case_id)}
    before = _event_count(case_id)
    assert "CSRF" in _error(api("POST", url, json=payload), 400)["message"]
    _error(api("POST", url, json=payload, headers={"X-CSRFToken": "forged"}), 400)
    assert _event_count(case_id) == before

    csrf_token = api("GET", "/api/v1/auth/csrf").get_json()["csrf_token"]
    response = api("POST", url, json=payload, headers={"X-CSRFToken": csrf_token})
    assert response.status_code == 200, response.get_json()


def test_bearer_requests_need_no_csrf(app, api, token, county, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    officer = token("officer")  # the token endpoint itself needs no CSRF token
    payload = {"data": self_assessment_data(case_id)}
    response = api("POST", f"/api/v1/tasks/{task_id}/complete", token=officer, json=payload)
    assert response.status_code == 200, response.get_json()


def test_idle_session_gets_401_not_a_redirect(app, client, api, county):
    _login_session(client, county.users["officer"].id)
    assert api("GET", "/api/v1/tasks").status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = 1  # long ago
    response = api("GET", "/api/v1/tasks")
    _error(response, 401)
    assert "Location" not in response.headers


def test_bad_bearer_header_cannot_ride_on_a_session(app, client, api, county, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    _login_session(client, county.users["officer"].id)
    body = json.dumps({"data": self_assessment_data(case_id)})
    response = api(
        "POST", f"/api/v1/tasks/{task_id}/complete", token="junk", data=body, content_type="application/json"
    )
    _error(response, 401)
    assert db.session.get(HumanTask, task_id).status == "open"
