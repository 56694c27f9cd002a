"""API v1 read endpoints (cases, cycles, targets, results, ledger, letters) with their scope, the OpenAPI
document, and the error body everywhere under /api/."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import Letter
from app.views import api_doc
from tests.api_records import Records, build_records
from tests.factories import PASSWORD
from tests.helpers import open_task


@pytest.fixture
def records() -> Records:
    return build_records()


@pytest.fixture
def get(app, client):
    tokens: dict[str, str] = {}

    def call(username: str, url: str, method: str = "GET", **kwargs: Any):
        if username not in tokens:
            response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            tokens[username] = response.get_json()["token"]
        with app.app_context():
            return client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[username]}"}, **kwargs)

    return call


def _error(response, code: int) -> dict[str, Any]:
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_cycles_list_and_participants_in_scope(get, records):
    county = records.county
    cycles = get("officer", "/api/v1/cycles").get_json()["items"]
    assert [c["year"] for c in cycles] == [2025] and cycles[0]["title"] == "示范县2025年度绩效考核"
    url = f"/api/v1/cycles/{county.cycle.id}"
    assert {p["unit"]["name"] for p in get("office", url).get_json()["participants"]} == {"县第一中学", "县财政局"}
    assert {p["unit"]["name"] for p in get("committee", url).get_json()["participants"]} == {"县第一中学", "县财政局"}
    mine = get("officer", url).get_json()
    assert [(p["unit"]["name"], p["tier"]) for p in mine["participants"]] == [("县第一中学", "II")]
    assert mine["participants"][0]["issued_version_id"] == records.iu.version.id
    assert mine["settings"] == {"publicity_days": 5}
    assert [p["unit"]["name"] for p in get("other_officer", url).get_json()["participants"]] == ["县财政局"]
    _error(get("office", "/api/v1/cycles/999"), 404)


def test_targets_versions_and_issued_indicators(get, records):
    county = records.county
    url = f"/api/v1/cycles/{county.cycle.id}/units/{county.school.id}/targets"
    body = get("head", url).get_json()
    assert body["participates"] is True and body["tier"] == "II"
    assert body["issued_version"]["id"] == records.iu.version.id and body["issued_version"]["stage"] == "down3"
    assert [i["code"] for i in body["issued_version"]["items"]] == ["T1", "T2", "T3"]
    individual = [i for i in body["indicators"] if i["unit_id"] == county.school.id and i["version_id"]]
    assert [i["code"] for i in individual] == ["T1", "T2", "T3"] and individual[0]["points"] == "20.00"
    assert all(i["issued_at"] for i in individual) and individual[0]["deadline"] == "2025-07-31"
    assert {i["code"] for i in body["indicators"] if i["unit_id"] is None} == {"C1", "C2"}
    assert get("supervisor", url).status_code == 200  # the bureau's scope covers the school
    _error(get("other_officer", url), 404)
    _error(get("head", f"/api/v1/cycles/{county.cycle.id}/units/99999/targets"), 404)


def test_results_and_ledger_are_scoped_to_units(get, records):
    county = records.county
    results = f"/api/v1/cycles/{county.cycle.id}/results"
    assert {r["unit"]["name"] for r in get("office", results).get_json()["items"]} == {"县第一中学", "县财政局"}
    mine = get("officer", results).get_json()["items"]
    assert [(r["unit"]["name"], r["total"], r["grade"]) for r in mine] == [("县第一中学", "93.40", "A")]
    assert get("officer", f"{results}?unit_id={county.other.id}").get_json()["items"] == []
    assert len(get("office", f"{results}?group_id={county.school.group_id}").get_json()["items"]) == 1

    ledger = f"/api/v1/cycles/{county.cycle.id}/ledger"
    everything = get("committee", ledger).get_json()
    assert everything["total"] == 3 and [i["month"] for i in everything["items"]] == ["2025-05", "2025-04", "2025-03"]
    school = get("head", ledger).get_json()
    assert school["total"] == 2 and {i["kind_label"] for i in school["items"]} == {"加分", "扣分"}
    assert get("head", f"{ledger}?kind=bonus").get_json()["items"][0]["points"] == "1.00"
    assert get("office", f"{ledger}?month=2025-04&per_page=1").get_json()["total"] == 1
    _error(get("office", f"{ledger}?kind=penalty"), 400)
    assert get("other_officer", ledger).get_json()["total"] == 1


def test_letters_for_parties_and_unit_leaders_only(get, records):
    county = records.county
    head_list = get("head", "/api/v1/letters").get_json()
    assert head_list["total"] == len(records.letters) >= 4
    dh1 = get("dh1", "/api/v1/letters?kind=responsibility").get_json()["items"]
    assert [(x["kind"], x["party_b"]["name"]) for x in dh1] == [("responsibility", county.users["dh1"].display_name)]
    assert get("other_officer", "/api/v1/letters").get_json()["total"] == 0
    letter: Letter = next(x for x in records.letters if x.id == dh1[0]["id"])
    detail = get("dh1", f"/api/v1/letters/{letter.id}").get_json()
    assert detail["body"] == letter.body and detail["sha256"] == letter.sha256 and detail["signatures"] == []
    assert detail["status"] == "pending" and detail["kind_label"] == "目标责任书"
    _error(get("other_officer", f"/api/v1/letters/{letter.id}"), 404)
    _error(get("st1_1", f"/api/v1/letters/{letter.id}"), 404)  # a staff member of another letter


def test_cases_list_is_scoped_like_the_case_page(get, records):
    county = records.county
    office = get("office", "/api/v1/cases?process=assessment").get_json()
    assert records.case_id in [c["id"] for c in office["items"]]
    officer = get("officer", f"/api/v1/cases?unit_id={county.school.id}&status=running").get_json()
    assert records.case_id in [c["id"] for c in officer["items"]]
    assert get("other_officer", "/api/v1/cases").get_json()["total"] == 0
    assert get("office", "/api/v1/cases?status=completed").get_json()["total"] == 0


def test_openapi_document_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")  # public
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.0") and doc["servers"] == [{"url": "/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "POST /auth/token 签发的访问令牌"}
    assert doc["security"] == [{"bearerAuth": []}]
    assert api_doc.undocumented(app) == []
    assert doc["paths"]["/auth/token"]["post"]["security"] == []
    tasks = doc["paths"]["/tasks"]["get"]
    assert {p["name"] for p in tasks["parameters"]} >= {"q", "cycle_id", "unit_id", "process", "step", "overdue",
                                                         "received_from", "received_to", "sort", "order", "page"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"]["200"], (method, path)
            errors = [r for code, r in operation["responses"].items() if code != "200"]
            assert errors and all(r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
                                  for r in errors), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            if method == "post" and path not in ("/notifications/read",):
                assert "requestBody" in operation or path.endswith("/end"), (method, path)
    refs = {value for value in _walk(doc["paths"]) if isinstance(value, str) and value.startswith("#/components/")}
    assert {ref.rsplit("/", 1)[1] for ref in refs} <= set(doc["components"]["schemas"])


def _walk(node: Any):
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


def test_one_error_body_everywhere_under_api(app, client, get, records):
    _error(client.get("/api/v1/cycles"), 401)
    _error(get("office", "/api/v1/no/such/route"), 404)
    _error(client.get("/api/other"), 404)
    _error(get("office", "/api/v1/cycles", method="DELETE"), 405)
    _error(get("office", "/api/v1/tasks/99999999999"), 404)  # beyond the id range: unknown route, not a DB error
    _error(get("office", "/api/v1/letters?cycle_id=abc"), 400)
    _error(get("office", "/api/v1/cases?process=" + "x" * 200), 400)
    _error(get("office", "/api/v1/notifications/read", method="POST", data="{oops", content_type="application/json"),
           400)
    task = open_task(records.case_id)
    _error(get("supervisor", f"/api/v1/tasks/{task.id}/complete", method="POST", json={"data": {}}), 403)
    error = _error(get("officer", f"/api/v1/tasks/{task.id}/complete", method="POST", json={"data": {}}), 422)
    assert error["fields"]
