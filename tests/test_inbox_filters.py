"""待办 search, filters, sorting and pagination — on the web page and in ``GET /api/v1/tasks``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import Cycle, HumanTask
from app.services import cases, inbox, org
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.test_inbox_web import count_queries, login

TASK_LINK = re.compile(r'href="/tasks/(\d+)"')


@pytest.fixture
def desk(app, county):
    """A reviewer holding unit_officer and supervisor for the whole county, with five open tasks:

    day 0: 县第一中学 (cycle 2025) → supervisor_review (its self-assessment done);
    day 2: 县财政局 (2025) self_assessment; day 4: 县第一中学 (2025) self_assessment;
    day 6: 县财政局 (cycle 2026) self_assessment; day 8: 县第一中学 (2025) self_assessment.
    Due (from day 8): urgent +3 h, finance +2 d, school +4 d, reviewed +5 d, next_year +6 d.
    """
    reviewer = org.create_user("desk", "综合审核员", PASSWORD, unit=county.region)
    org.assign_role(reviewer, "unit_officer", county.region)
    org.assign_role(reviewer, "supervisor", county.region)
    second = Cycle(year=2026, title="示范县2026年度绩效考核", settings={"publicity_days": 5})
    db.session.add(second)
    db.session.commit()
    ids: dict[str, int] = {}
    ids["reviewed"] = start_assessment(county)
    do(ids["reviewed"], "self_assessment", county.users["officer"], self_assessment_data(ids["reviewed"]))
    clock.advance(dt.timedelta(days=2))
    ids["finance"] = start_assessment(county, county.other)
    clock.advance(dt.timedelta(days=2))
    ids["school"] = start_assessment(county)
    clock.advance(dt.timedelta(days=2))
    case = cases.start_case(
        "assessment", unit_id=county.other.id, title="县财政局 2026 年度考核", started_by=county.users["office"],
        cycle_id=second.id, data={"publicity_days": 5},
    )
    db.session.commit()
    ids["next_year"] = case.id
    clock.advance(dt.timedelta(days=2))
    ids["urgent"] = start_assessment(county)
    tasks = {key: open_task(case_id).id for key, case_id in ids.items()}
    due = {"urgent": dt.timedelta(hours=3), "finance": dt.timedelta(days=2), "school": dt.timedelta(days=4),
           "reviewed": dt.timedelta(days=5), "next_year": dt.timedelta(days=6)}
    for key, delta in due.items():
        db.session.execute(update(HumanTask).where(HumanTask.id == tasks[key]).values(due_at=clock.now() + delta))
    db.session.commit()
    return {"user": reviewer, "cases": ids, "tasks": tasks, "second": second}


def _ids(page: inbox.Page) -> list[int]:
    return [t.id for t in page.items]


def _f(**kwargs: Any) -> inbox.TaskFilter:
    return inbox.TaskFilter.from_args(kwargs)


def test_search_and_filters_through_the_service(desk, county):
    user, t = desk["user"], desk["tasks"]
    everything = inbox.todo(user)
    assert everything.total == 5
    assert _ids(everything)[0] == t["urgent"]  # default: earliest deadline first
    assert set(_ids(inbox.todo(user, flt=_f(q="财政")))) == {t["finance"], t["next_year"]}  # unit name
    assert _ids(inbox.todo(user, flt=_f(q="2026"))) == [t["next_year"]]  # case title
    assert _ids(inbox.todo(user, flt=_f(q="主管部门"))) == [t["reviewed"]]  # step name
    assert inbox.todo(user, flt=_f(q="100%_")).total == 0  # LIKE wildcards are literal
    assert _ids(inbox.todo(user, flt=_f(cycle_id=str(desk["second"].id)))) == [t["next_year"]]
    assert set(_ids(inbox.todo(user, flt=_f(unit_id=str(county.other.id))))) == {t["finance"], t["next_year"]}
    assert _ids(inbox.todo(user, flt=_f(step="supervisor_review"))) == [t["reviewed"]]
    assert inbox.todo(user, flt=_f(process="assessment")).total == 5
    assert inbox.todo(user, flt=_f(process="rectification")).total == 0
    combined = _f(unit_id=str(county.school.id), step="self_assessment", q="一中")
    assert set(_ids(inbox.todo(user, flt=combined))) == {t["school"], t["urgent"]}


def test_received_date_range_uses_china_calendar_days(desk):
    user, t = desk["user"], desk["tasks"]
    created = {key: db.session.get(HumanTask, task_id).created_at for key, task_id in t.items()}
    day = clock.to_local(created["school"]).date()  # type: ignore[union-attr]
    same_day = inbox.todo(user, flt=_f(received_from=day.isoformat(), received_to=day.isoformat()))
    assert _ids(same_day) == [t["school"]]
    since = inbox.todo(user, flt=_f(received_from=day.isoformat()))
    assert set(_ids(since)) == {t["school"], t["next_year"], t["urgent"]}
    until = inbox.todo(user, flt=_f(received_to=(day - dt.timedelta(days=1)).isoformat()))
    assert set(_ids(until)) == {t["reviewed"], t["finance"]}


def test_sorting_by_each_key_both_ways(desk):
    user, t = desk["user"], desk["tasks"]
    assert _ids(inbox.todo(user)) == [t["urgent"], t["finance"], t["school"], t["reviewed"], t["next_year"]]
    assert _ids(inbox.todo(user, flt=_f(sort="received", order="asc"))) == [
        t["reviewed"], t["finance"], t["school"], t["next_year"], t["urgent"]]
    for key in inbox.SORTS:
        ascending = _ids(inbox.todo(user, flt=_f(sort=key, order="asc")))
        assert _ids(inbox.todo(user, flt=_f(sort=key, order="desc"))) == ascending[::-1], key
    # names sort in the database's collation: check grouping, not a particular order
    by_unit = [task.unit_name for task in inbox.todo(user, flt=_f(sort="unit")).items]
    assert len(set(by_unit)) == 2 and sum(a != b for a, b in zip(by_unit, by_unit[1:], strict=False)) == 1
    by_step = [task.step for task in inbox.todo(user, flt=_f(sort="step")).items]
    assert "supervisor_review" in (by_step[0], by_step[-1])
    # received defaults to newest first, the others to ascending
    assert inbox.TaskFilter.from_args({"sort": "received"}).order == "desc"
    assert inbox.TaskFilter.from_args({"sort": "unit"}).order == "asc"


def test_malformed_filters_name_every_field():
    with pytest.raises(inbox.BadFilter) as caught:
        inbox.TaskFilter.from_args({"cycle_id": "abc", "received_from": "2025-13-01", "sort": "name", "order": "up",
                                    "overdue": "maybe", "q": "x" * 101, "unit_id": "99999999999"})
    assert caught.value.status == 400
    assert set(caught.value.fields) == {"cycle_id", "received_from", "sort", "order", "overdue", "q", "unit_id"}
    with pytest.raises(inbox.BadFilter) as reversed_range:
        inbox.TaskFilter.from_args({"received_from": "2025-05-02", "received_to": "2025-05-01"})
    assert set(reversed_range.value.fields) == {"received_to"}
    assert inbox.TaskFilter.from_args({"q": " 一中\x00 "}).q == "一中"


def test_the_web_page_filters_sorts_and_pages_keeping_the_filter(app, desk, county):
    browser = login(app, desk["user"])
    t = desk["tasks"]
    page = browser.get(f"/tasks?unit_id={county.other.id}").get_data(as_text=True)
    assert set(map(int, TASK_LINK.findall(page))) == {t["finance"], t["next_year"]}
    assert f'<option value="{county.other.id}" selected>县财政局</option>' in page
    assert "示范县2026年度绩效考核" in page and "主管部门审核" in page  # facets from the user's own tasks

    page = browser.get("/tasks?q=2026").get_data(as_text=True)
    assert set(map(int, TASK_LINK.findall(page))) == {t["next_year"]}
    assert "没有符合条件的待办事项" in browser.get("/tasks?q=不存在的单位").get_data(as_text=True)

    first = browser.get("/tasks?step=self_assessment&sort=received&order=asc&per_page=2").get_data(as_text=True)
    assert [int(i) for i in dict.fromkeys(TASK_LINK.findall(first))] == [t["finance"], t["school"]]
    assert "共 4 条" in first
    next_link = re.search(r'href="([^"]*[?&]page=2[^"]*)"', first)
    assert next_link is not None
    target = next_link.group(1).replace("&amp;", "&")
    assert "step=self_assessment" in target and "sort=received" in target and "per_page=2" in target
    second = browser.get(target).get_data(as_text=True)
    assert [int(i) for i in dict.fromkeys(TASK_LINK.findall(second))] == [t["next_year"], t["urgent"]]

    # a header link toggles the direction of the current sort and keeps the filter
    header = re.search(r'href="([^"]*)"[^>]*data-sort="received"', first)
    assert header is not None and "order=desc" in header.group(1) and "step=self_assessment" in header.group(1)

    bad = browser.get("/tasks?cycle_id=abc&received_from=yesterday").get_data(as_text=True)
    assert "已忽略" in bad and len(set(TASK_LINK.findall(bad))) == 5


def test_the_overdue_checkbox_and_tab_agree(app, desk):
    browser = login(app, desk["user"])
    clock.advance(dt.timedelta(hours=4))  # only the urgent task is past due
    t = desk["tasks"]
    for url in ("/tasks?overdue=1", "/tasks?overdue=1&q=一中"):
        page = browser.get(url).get_data(as_text=True)
        assert set(map(int, TASK_LINK.findall(page))) == {t["urgent"]}, url
        assert "tag-overdue" in page


def test_list_statements_do_not_grow_with_rows_or_filters(app, desk, county):
    browser = login(app, desk["user"])
    with count_queries() as plain:
        browser.get("/tasks?per_page=2")  # logging in showed 待办: its filter choices are cached
    filtered_url = f"/tasks?q=一中&unit_id={county.school.id}&sort=unit&order=desc"
    with count_queries() as filtered:
        browser.get(filtered_url)  # the same open tasks: the same cached choices
    for _ in range(3):
        start_assessment(county)
    with count_queries() as more:
        browser.get("/tasks?per_page=50")  # three more tasks: the choices are read again
    assert plain[0] == filtered[0] == more[0] - 1, (plain, filtered, more)
    user = desk["user"]
    assert user.id  # loaded before counting
    with count_queries() as one:
        page = inbox.todo(user, flt=_f(q="一中"))
    assert one[0] == 1 and page.total == 6  # rows and total in one statement
    with count_queries() as beyond:
        empty = inbox.todo(user, page=50)
    assert empty.items == [] and empty.total == 8 and beyond[0] == 2  # past the end: one more COUNT


def test_api_filters_sorting_paging_and_errors(app, client, desk, county):
    token = client.post("/api/v1/auth/token", json={"username": "desk", "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def get(url: str):
        with app.app_context():
            return client.get(url, headers=headers)

    t = desk["tasks"]
    body = get(f"/api/v1/tasks?unit_id={county.other.id}&sort=received&order=desc").get_json()
    assert [i["id"] for i in body["items"]] == [t["next_year"], t["finance"]] and body["total"] == 2
    body = get("/api/v1/tasks?q=一中&per_page=1&page=2&sort=due").get_json()
    assert body["total"] == 3 and body["page"] == 2 and len(body["items"]) == 1
    body = get(f"/api/v1/tasks?cycle_id={desk['second'].id}").get_json()
    assert [i["case_title"] for i in body["items"]] == ["县财政局 2026 年度考核"]
    response = get("/api/v1/tasks?sort=colour&received_to=31/12/2025")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == 400 and set(error["fields"]) == {"sort", "received_to"}
    facets = get("/api/v1/tasks/facets").get_json()
    assert {s["key"] for s in facets["steps"]} == {"self_assessment", "supervisor_review"}
    assert {u["name"] for u in facets["units"]} == {"县第一中学", "县财政局"}
    counts = get("/api/v1/inbox/counts").get_json()
    assert counts == {"todo": 5, "overdue": 0, "unread": 0}


def test_done_and_started_lists_in_the_api(app, client, county):
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    token = client.post("/api/v1/auth/token", json={"username": "officer", "password": PASSWORD}).get_json()["token"]
    with app.app_context():
        done = client.get("/api/v1/tasks/done", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert done["total"] == 1 and done["items"][0]["status"] == "completed" and done["items"][0]["outcome"]
    assert done["items"][0]["case_status"] == "running" and done["items"][0]["step"] == "self_assessment"
    office = client.post("/api/v1/auth/token", json={"username": "office", "password": PASSWORD}).get_json()["token"]
    with app.app_context():
        started = client.get("/api/v1/cases/started", headers={"Authorization": f"Bearer {office}"}).get_json()
    assert [c["id"] for c in started["items"]] == [case_id]
    assert db.session.scalar(select(HumanTask.status).where(HumanTask.case_id == case_id, HumanTask.step ==
                                                             "self_assessment")) == "completed"


def test_filter_choices_follow_the_open_tasks(app, desk, county):
    """The choices are cached on the fingerprint of the user's open tasks: a new task, a completed
    one or an old entry (past CACHE_SECONDS) is read again; an unchanged set is not."""
    from app.services import inbox_facets

    user = desk["user"]
    _, fingerprint = inbox.counts_and_fingerprint(user)
    first = inbox.facets(user, fingerprint)
    with count_queries() as cached:
        again = inbox.facets(user, inbox.counts_and_fingerprint(user)[1])
    assert again is first and cached[0] == 1  # only the counts statement
    assert {name for _, name in first.units} == {"县第一中学", "县财政局"}

    start_assessment(county)  # one more open task (县第一中学)
    _, grown = inbox.counts_and_fingerprint(user)
    assert grown != fingerprint and grown[0] == fingerprint[0] + 1
    assert inbox.facets(user, grown) == inbox.facets(user)  # same answer as a fresh read

    task_id = desk["tasks"]["finance"]
    db.session.execute(update(HumanTask).where(HumanTask.id == task_id).values(status="completed"))
    db.session.execute(update(HumanTask).where(HumanTask.id == desk["tasks"]["next_year"]).values(status="completed"))
    db.session.commit()
    _, shrunk = inbox.counts_and_fingerprint(user)
    fresh = inbox.facets(user, shrunk)
    assert {name for _, name in fresh.units} == {"县第一中学"}  # 县财政局's tasks are done
    assert fresh == inbox.facets(user)

    inbox_facets.clear_cache()
    with count_queries() as cleared:
        inbox.facets(user, shrunk)
    assert cleared[0] == 1  # read again after the cache was emptied
    stale = inbox.facets(user, shrunk)
    key = (user.id, *shrunk)
    cache = app.extensions["inbox_facets_cache"]
    cache.items[key] = (cache.items[key][0] - inbox_facets.CACHE_SECONDS - 1, stale)
    with count_queries() as expired:
        inbox.facets(user, shrunk)
    assert expired[0] == 1  # an entry older than CACHE_SECONDS is read again
