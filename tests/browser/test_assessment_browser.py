"""Step 1 end to end in headless Chromium: submit with evidence, return with a reason, resubmit, approve."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from tests.browser.conftest import login, logout
from tests.factories import PASSWORD, build_county, start_assessment

pytestmark = pytest.mark.browser


def _fill_self_assessment(page, completion: str) -> None:
    for box in page.locator("input[name^=completion-]").all():
        box.fill(completion)
    for area in page.locator("textarea[name^=narrative-]").all():
        area.fill("全年目标已完成，详见佐证材料。")


def test_officer_supervisor_return_and_resubmit(live_server, page, tmp_path):
    county = build_county()
    db.session.commit()
    case_id = start_assessment(county)
    evidence = tmp_path / "佐证材料.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% test evidence\n")

    # officer: the task is in 待办, submit with a file
    login(page, live_server, "officer", PASSWORD)
    assert page.locator("#todo-count").inner_text() == "1"
    page.get_by_role("link", name=re.compile("单位自评")).first.click()
    _fill_self_assessment(page, "95")
    page.locator("input[type=file]").first.set_input_files(str(evidence))
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")
    assert "已提交" in page.content()
    logout(page, live_server)

    # supervisor: return without a reason is refused, then with a reason
    login(page, live_server, "supervisor", PASSWORD)
    page.get_by_role("link", name=re.compile("主管部门审核")).first.click()
    assert "佐证材料.pdf" in page.content()
    page.get_by_label("退回").check()
    page.get_by_role("button", name="提交").click()
    assert "退回时必须填写理由" in page.content()
    page.get_by_label("退回").check()
    page.locator("textarea[name=reason]").fill("第二项指标缺少佐证，请补充。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")
    logout(page, live_server)

    # officer sees the reason, resubmits
    login(page, live_server, "officer", PASSWORD)
    page.get_by_role("link", name=re.compile("单位自评")).first.click()
    assert "第二项指标缺少佐证，请补充。" in page.content()
    _fill_self_assessment(page, "98")
    page.locator("input[type=file]").first.set_input_files(str(evidence))
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")
    logout(page, live_server)

    # supervisor approves
    login(page, live_server, "supervisor", PASSWORD)
    page.get_by_role("link", name=re.compile("主管部门审核")).first.click()
    page.get_by_label("通过").check()
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")

    # the case history shows every act, in order
    page.goto(f"{live_server}/cases/{case_id}")
    history = page.locator(".timeline").inner_text()
    for text in ("第二项指标缺少佐证，请补充。", county.users["officer"].display_name,
                 county.users["supervisor"].display_name):
        assert text in history
    positions = [history.find(word) for word in ("提交", "退回", "通过")]
    assert all(p >= 0 for p in positions), history
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
