"""Approval operations in headless Chromium: a reviewer filters to overdue, opens the case, returns it to
the first step from the task page's 其他操作 panel; the submitter sees it at once with the reason."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from app import clock
from app.extensions import db
from tests.browser.conftest import login
from tests.factories import PASSWORD, build_county, start_assessment
from tests.helpers import do, self_assessment_data

pytestmark = pytest.mark.browser


def test_reviewer_returns_an_overdue_case_to_the_first_step(live_server, browser):
    county = build_county()
    db.session.commit()
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", county.users["supervisor"], {"decision": "approve"})
    clock.advance(dt.timedelta(days=6))  # audit is due in 5 days: now overdue
    reviewer = browser.new_context(locale="zh-CN").new_page()
    submitter = browser.new_context(locale="zh-CN").new_page()
    try:
        login(reviewer, live_server, "auditor", PASSWORD)
        reviewer.goto(f"{live_server}/tasks?overdue=1")
        assert "逾期" in reviewer.content()
        reviewer.get_by_role("link", name=re.compile("县第一中学 2025 年度考核")).first.click()
        reviewer.wait_for_url(re.compile(rf".*/cases/{case_id}$"))
        reviewer.get_by_role("link", name="审核组核查佐证").click()
        reviewer.locator("#op-return summary").click()
        reviewer.select_option("select[name=return-target_step]", "self_assessment")
        reviewer.fill("textarea[name=return-reason]", "第二项佐证与自评不一致，请核实后重报。")
        reviewer.locator("#op-return button[type=submit]").click()
        reviewer.wait_for_url(f"{live_server}/tasks")
        assert "已退回" in reviewer.content()

        login(submitter, live_server, "officer", PASSWORD)
        submitter.get_by_role("link", name=re.compile("单位自评")).first.click()
        note = submitter.locator("#task-note").inner_text()
        assert "第二项佐证与自评不一致，请核实后重报。" in note and "审核组赵组长" in note
        submitter.goto(f"{live_server}/cases/{case_id}")
        assert "审核组核查佐证 → 单位自评" in submitter.content()
    finally:
        reviewer.context.close()
        submitter.context.close()
        clock.reset()
