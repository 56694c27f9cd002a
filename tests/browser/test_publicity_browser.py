"""Publicity end to end in headless Chromium: the committee approves a group, the public page shows
it, a member of the public objects, the office reviews and the committee upholds with a correction,
and the public page shows the corrected ranking (round 2)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login, logout
from tests.factories import PASSWORD, build_results_county

pytestmark = pytest.mark.browser


def _ranking(page) -> list[str]:
    rows = page.locator("#public-R1 tbody tr")
    return [rows.nth(i).locator("td").nth(1).inner_text().strip() for i in range(rows.count())]


def test_publicity_objection_upheld_and_corrected_ranking(live_server, page, tmp_path):
    county = build_results_county()

    # the committee reviews the preview and approves group R1
    login(page, live_server, "committee", PASSWORD)
    page.get_by_role("link", name="考核结果").click()
    card = page.locator(f"#group-{county.groups['R1'].id}")
    assert "待审定" in card.inner_text() and card.locator("svg.chart-ranking").count() == 1
    card.get_by_role("button", name="审定并公示一类乡镇").click()
    assert "第 1 轮公示已开始" in page.content()
    logout(page, live_server)

    # the public page shows the ranking in publicity
    page.goto(f"{live_server}/public/")
    assert "公示中" in page.locator("#public-R1").inner_text()
    assert _ranking(page) == ["东城镇", "西河镇", "南山镇", "北岭镇"]
    assert page.locator("#public-R2").count() == 0

    # a member of the public objects to 北岭镇's result
    page.locator("#public-R1 tr[data-unit='R1-04']").get_by_role("link", name="提出异议").click()
    assert page.locator("input[name=contact_phone]").get_attribute("required") is not None
    page.fill("input[name=contact_name]", "王先生")
    page.fill("input[name=contact_phone]", "13812345678")
    page.fill("textarea[name=reason]", "北岭镇第三季度的扣分事项已整改到位，扣分有误。")
    page.get_by_role("button", name="提交异议").click()
    page.wait_for_url(re.compile(r".*/public/appeal\?ref=SS.*"))
    reference = re.search(r"ref=(SS[0-9A-F]+)", page.url).group(1)
    assert "申诉正在处理中" in page.content()

    # the office reviews (复核) the objection
    login(page, live_server, "office", PASSWORD)
    page.get_by_role("link", name=re.compile("绩效办复核")).first.click()
    assert "北岭镇第三季度的扣分事项已整改到位" in page.content() and reference in page.content()
    page.fill("textarea[name=finding]", "经核查，整改记录齐全，扣分依据不足。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")
    logout(page, live_server)

    # the committee upholds it with a structured correction
    login(page, live_server, "committee", PASSWORD)
    page.get_by_role("link", name=re.compile("考核委员会裁定")).first.click()
    assert "当前公示结果" in page.content()
    page.get_by_label("申诉成立").check()
    page.fill("input[name=common]", "30")
    page.fill("input[name=individual]", "50")
    page.fill("input[name=satisfaction]", "100")
    page.fill("input[name=deductions]", "无")
    page.fill("textarea[name=note]", "扣分依据不足，予以更正。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{live_server}/tasks")
    logout(page, live_server)

    # the public page shows the corrected ranking, round 2
    page.goto(f"{live_server}/public/")
    header = page.locator("#public-R1 .card-header").inner_text()
    assert "第 2 轮公示" in header and "更正后重新排名" in header
    assert _ranking(page) == ["北岭镇", "东城镇", "西河镇", "南山镇"]
    page.screenshot(path=str(tmp_path / "public.png"), full_page=True)
