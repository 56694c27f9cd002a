"""三上三下 in headless Chromium through the real pages: start, six steps with one return at 一下, issue,
then the unit's issued targets and the diff between rounds."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Indicator, Letter, User
from tests.browser.conftest import login, logout
from tests.browser.test_letters_browser import sign_and_download
from tests.factories import PASSWORD, build_negotiation_county
from tests.negotiation_support import unlink_issued  # noqa: F401

pytestmark = pytest.mark.browser

TARGETS = [
    ("高考本科上线率", "85", "%", "20", "每低于目标1个百分点扣1分", "教务处"),
    ("学生体质健康达标率", "95", "%", "15", "每低于目标1个百分点扣0.5分", "德育处"),
]
THIRD = ("校园安全事故零发生", "0", "起", "15", "发生一起责任事故扣5分", "总务处")


def _open(page, base: str, step_name: str) -> None:
    page.goto(f"{base}/tasks")
    page.get_by_role("link", name=re.compile(step_name)).first.click()
    page.wait_for_selector("form")


def _submit(page, base: str) -> None:
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{base}/tasks")
    assert "已提交" in page.content()


def _fill_row(page, index: int, target: tuple[str, ...], year: int) -> None:
    name, value, measure, points, rule, department = target
    prefix = f"items-{index}-"
    page.fill(f"input[name='{prefix}name']", name)
    page.fill(f"input[name='{prefix}target_value']", value)
    page.fill(f"input[name='{prefix}measure_unit']", measure)
    page.fill(f"input[name='{prefix}points']", points)
    page.fill(f"textarea[name='{prefix}scoring_rule']", rule)
    page.fill(f"input[name='{prefix}lead_name']", "郑校长")
    page.select_option(f"select[name='{prefix}department_id']", label=department)
    page.fill(f"input[name='{prefix}responsible_name']", f"{department}负责人")
    page.fill(f"input[name='{prefix}deadline']", f"{year}-12-20")


def _decide(page, base: str, step: str, choice: str, text: str = "") -> None:
    _open(page, base, step)
    page.get_by_label(choice).check()
    if text:
        page.locator("textarea[name=opinion]").fill(text)
    _submit(page, base)


def test_unit_negotiates_six_steps_with_one_return(live_server, page, tmp_path):
    county = build_negotiation_county(staff_per_department=1)
    db.session.commit()
    year = county.cycle.year
    base = live_server

    # the office starts every unit's negotiation from the board
    login(page, base, "office", PASSWORD)
    page.get_by_role("link", name="考核方案").click()
    page.get_by_role("link", name="目标协商").first.click()
    page.locator("#start-all").click()
    assert "已为 2 个单位启动目标协商" in page.content()
    logout(page, base)

    # 一上: the officer fills two rows, adds a third with the script, submits
    login(page, base, "officer", PASSWORD)
    _open(page, base, "一上：拟定年度目标")
    for index, target in enumerate(TARGETS):
        _fill_row(page, index, target, year)
    rows_before = page.locator("fieldset.target-row").count()
    page.get_by_role("button", name="+ 增加一项").click()
    assert page.locator("fieldset.target-row").count() == rows_before + 1
    _fill_row(page, rows_before, THIRD, year)
    assert page.locator("#points-total").inner_text() == "50.00"
    _submit(page, base)
    logout(page, base)

    login(page, base, "head", PASSWORD)
    _decide(page, base, "一上：单位负责人审核上报", "审核通过，上报绩效办")
    logout(page, base)

    # 一下: the office returns without a reason (refused), then with one
    login(page, base, "office", PASSWORD)
    _open(page, base, "一下：绩效办反馈意见")
    assert "高考本科上线率" in page.locator("#latest-version").inner_text()
    page.get_by_label("退回单位重新申报（一上）").check()
    page.get_by_role("button", name="提交").click()
    assert "必须填写理由" in page.content()
    page.get_by_label("退回单位重新申报（一上）").check()
    page.locator("textarea[name=opinion]").fill("高考本科上线率目标偏低，请按近三年均值重新测算。")
    _submit(page, base)
    logout(page, base)

    # 一上 again: the reason is shown and the rows are pre-filled
    login(page, base, "officer", PASSWORD)
    _open(page, base, "一上：拟定年度目标")
    assert "请按近三年均值重新测算" in page.locator("#last-return").inner_text()
    assert page.input_value("input[name='items-0-name']") == "高考本科上线率"
    page.fill("input[name='items-0-target_value']", "88")
    page.locator("textarea[name=comment]").fill("已按近三年均值调整为 88%")
    _submit(page, base)
    logout(page, base)

    login(page, base, "head", PASSWORD)
    _decide(page, base, "一上：单位负责人审核上报", "审核通过，上报绩效办")
    logout(page, base)

    login(page, base, "office", PASSWORD)
    _decide(page, base, "一下：绩效办反馈意见", "提出反馈意见，转单位修改（二上）", "体质健康达标率的扣分细则请细化。")
    logout(page, base)

    # 二上: revise one rule
    login(page, base, "officer", PASSWORD)
    _open(page, base, "二上：单位修改完善")
    assert "体质健康达标率的扣分细则请细化" in page.content()
    page.fill("textarea[name='items-1-scoring_rule']", "每低于目标1个百分点扣0.5分，低于90%不得分")
    _submit(page, base)
    logout(page, base)

    # 二下: the supervisor's opinion, then the office finalises with tier Ⅱ
    login(page, base, "supervisor", PASSWORD)
    _open(page, base, "二下：主管部门审核意见")
    page.locator("textarea[name=opinion]").fill("目标科学合理，建议Ⅱ档。")
    page.get_by_label("Ⅱ档").check()
    _submit(page, base)
    logout(page, base)

    login(page, base, "office", PASSWORD)
    _open(page, base, "二下：绩效办审核定稿")
    assert "目标科学合理" in page.locator(".supervisor-opinion").inner_text()
    page.get_by_label("审核定稿，确定难度档次").check()
    page.get_by_label("Ⅱ档").check()
    _submit(page, base)
    logout(page, base)

    # 三上 / 三下
    login(page, base, "head", PASSWORD)
    _decide(page, base, "三上：单位负责人确认", "确认目标", "同意定稿目标。")
    logout(page, base)
    login(page, base, "committee", PASSWORD)
    _decide(page, base, "三下：考核委员会审定", "审定通过")
    logout(page, base)
    login(page, base, "office", PASSWORD)
    _open(page, base, "三下：绩效办下达目标")
    page.locator("textarea[name=comment]").fill("请按下达目标抓好落实。")
    _submit(page, base)
    page.goto(f"{base}/office/cycles/{county.cycle.id}/negotiations")
    assert "已下达" in page.locator(f"tr[data-unit='{county.school.code}']").inner_text()
    logout(page, base)

    # the unit sees its issued targets and every round, and the diff of the return
    login(page, base, "officer", PASSWORD)
    page.get_by_role("link", name="本单位考核").click()
    page.get_by_role("link", name=re.compile("下达")).first.click()
    issued = page.locator("#issued-targets").inner_text()
    for text in ("高考本科上线率", "88%", "低于90%不得分", "校园安全事故零发生", "总务处", "50.00"):
        assert text in issued
    assert "Ⅱ档" in page.content()
    page.get_by_role("link", name="协商过程（各轮目标）").click()
    assert page.locator("details.version").count() == 7
    page.goto(page.url + "/diff?a=1&b=2")
    diff = page.locator("#diff-table").inner_text()
    assert "目标值" in diff and "85" in diff and "88" in diff
    page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)
    logout(page, base)

    # the issued targets became letters: the unit head and one department head sign theirs,
    # and its PDF (text extracted with pdftotext) lists that department's targets in Chinese
    db.session.expire_all()
    letter = db.session.scalars(
        select(Letter).where(Letter.unit_id == county.school.id, Letter.kind == "responsibility").order_by(Letter.id)
    ).first()
    assert letter is not None
    dept_head = db.session.get(User, letter.party_b_id)
    head = db.session.get(User, letter.party_a_id)
    text = sign_and_download(page, base, letter, head.username, dept_head.username, tmp_path)
    names = list(db.session.scalars(
        select(Indicator.name).where(Indicator.version_id == letter.version_id,
                                     Indicator.department_id == letter.department_id)
    ))
    assert names, "the letter's department has issued targets"
    for name in [*names, head.display_name, dept_head.display_name]:
        assert name in text, name
    db.session.refresh(letter)
    assert letter.status == "signed"
