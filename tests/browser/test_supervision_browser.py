"""Step 4 in headless Chromium: an inspector records a deduction that appears on the public ledger;
the rectification it opens goes through one failed 三不放过 verification and is closed (销号)."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Rectification
from tests.browser.conftest import login, logout
from tests.factories import PASSWORD
from tests.supervision_support import build_current, days, today

pytestmark = pytest.mark.browser


def _open_task(page, base: str, name: str) -> None:
    page.goto(f"{base}/tasks")
    page.get_by_role("link", name=re.compile(name)).first.click()


def _submit(page, base: str) -> None:
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{base}/tasks")
    assert "已提交" in page.content()


def test_inspection_deduction_published_and_rectification_closed(live_server, page, tmp_path):
    build_current()
    db.session.commit()
    base = live_server
    evidence = tmp_path / "现场照片.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% photo\n")

    # the inspector records an unannounced finding with a deduction and opens a rectification
    login(page, base, "inspector", PASSWORD)
    page.get_by_role("link", name="督查整改").click()
    page.get_by_role("link", name="记录督查发现").first.click()
    page.select_option("select[name=unit_id]", label="县第一中学（SCH1）")
    page.get_by_label("暗访").check()
    page.select_option("select[name=category]", label="环境卫生")
    page.fill("input[name=found_on]", today().isoformat())
    page.fill("textarea[name=description]", "食堂后厨卫生不达标，垃圾未及时清运")
    page.fill("input[name=points]", "1.5")
    page.get_by_label("同时开启整改（由督查组核验销号）").check()
    page.fill("input[name=rectification_title]", "食堂卫生整改")
    page.set_input_files("input[name=evidence]", str(evidence))
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r".*/supervision/findings/\d+$"))
    assert "扣 1.50 分并上网公布" in page.content()
    assert "现场照片.pdf" in page.content()
    logout(page, base)

    # anyone sees it on the public ledger without logging in
    page.goto(f"{base}/public/ledger")
    ledger = page.locator("#ledger-items").inner_text()
    assert "食堂后厨卫生不达标" in ledger and "1.50" in ledger and "县第一中学" in ledger
    assert "1.50" in page.locator("#ledger-totals").inner_text()

    # the unit plans (四个具体); a plan missing items is refused naming what is missing
    login(page, base, "officer", PASSWORD)
    _open_task(page, base, "制定整改方案")
    assert "食堂后厨卫生不达标" in page.content()
    page.fill("textarea[name=target]", "后厨卫生达到 A 级")
    page.get_by_role("button", name="提交").click()
    assert "缺少：具体事项、具体时限、具体措施" in page.content()
    page.fill("textarea[name=items]", "1. 清运垃圾\n2. 更换防蝇设施")
    page.fill("input[name=deadline]", days(10).isoformat())
    page.fill("textarea[name=measures]", "后勤主任每日巡查并记录")
    _submit(page, base)
    logout(page, base)

    login(page, base, "supervisor", PASSWORD)
    _open_task(page, base, "审核整改方案")
    page.get_by_label("通过").check()
    _submit(page, base)
    logout(page, base)

    def report(summary: str) -> None:
        login(page, base, "officer", PASSWORD)
        _open_task(page, base, "落实整改并报告")
        page.fill("textarea[name=summary]", summary)
        page.set_input_files("input[name=evidence]", str(evidence))
        _submit(page, base)
        logout(page, base)

    report("垃圾已清运")

    # first verification fails: the root cause is not found
    login(page, base, "inspector", PASSWORD)
    _open_task(page, base, "三不放过核验")
    page.check("input[name=root_cause_found][value=no]")
    page.check("input[name=measures_done][value=yes]")
    page.check("input[name=up_to_standard][value=yes]")
    page.fill("textarea[name=reasons]", "垃圾清运不及时的原因未查明")
    _submit(page, base)
    logout(page, base)

    report("查明为外包清运合同未约定频次，已补签合同，每日清运两次")

    login(page, base, "inspector", PASSWORD)
    _open_task(page, base, "三不放过核验")
    assert "垃圾清运不及时的原因未查明" in page.content()  # the earlier round is shown
    for name in ("root_cause_found", "measures_done", "up_to_standard"):
        page.check(f"input[name={name}][value=yes]")
    _submit(page, base)

    rect = db.session.query(Rectification).one()
    page.goto(f"{base}/supervision/rectifications/{rect.id}")
    content = page.content()
    assert "已销号" in content and "通过，销号" in content and "未通过" in content
    assert content.count("整改报告 第") == 2
    page.screenshot(path=str(tmp_path / "rectification.png"), full_page=True)
