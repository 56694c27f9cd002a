"""Letters end to end in headless Chromium: from an issued unit, the unit head and one department head
sign their 目标责任书 in their inboxes, the board shows it, and the PDF downloads with the targets in
Chinese (checked with pdftotext). The lead joins this with the 三上三下 negotiation that issues the
targets; ``sign_and_download`` is the part to reuse after the negotiation's 下达."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Letter
from app.services import letters
from tests.browser.conftest import login, logout
from tests.factories import PASSWORD, build_issued_unit

pytestmark = pytest.mark.browser


def sign_in_inbox(page, base: str, username: str, title: str) -> None:
    """Log in, open the signing task of the letter titled ``title`` from 我的责任书, agree and submit."""
    login(page, base, username, PASSWORD)
    page.get_by_role("link", name="我的责任书").click()
    row = page.locator("#my-letters tr", has_text=title)
    row.get_by_role("link", name="签署").click()
    assert title in page.locator("#letter-text").inner_text()
    task_url = page.url
    page.get_by_role("button", name="提交").click()  # without agreeing: the browser refuses (required)
    assert page.url == task_url and page.locator("#agree:invalid").count() == 1
    page.get_by_label("我已阅读并同意签署").check()
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(f"{base}/tasks")
    assert "已提交" in page.content()
    logout(page, base)


def sign_and_download(page, base: str, letter: Letter, head: str, dept_head: str, tmp_path: Path) -> str:
    """Both parties sign ``letter``; the head downloads the PDF; returns its text (pdftotext)."""
    sign_in_inbox(page, base, dept_head, letter.title)
    sign_in_inbox(page, base, head, letter.title)
    login(page, base, head, PASSWORD)
    page.goto(f"{base}/letters/{letter.id}")
    assert "验证通过" in page.locator("#verify-result").inner_text()
    assert page.locator("#signatures").inner_text().count(letter.sha256) == 2
    with page.expect_download() as info:
        page.locator("#letter-pdf").click()
    target = tmp_path / "letter.pdf"
    info.value.save_as(str(target))
    return subprocess.run(["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_unit_head_and_department_head_sign_and_the_pdf_downloads(live_server, page, tmp_path):
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    out = letters.generate_for_unit(iu.cycle_unit, iu.version, iu.county.users["office"])
    db.session.commit()
    letter = next(x for x in out if x.kind == "responsibility" and x.party_b_id == iu.dept_heads[0].id)

    text = sign_and_download(page, live_server, letter, iu.head.username, iu.dept_heads[0].username, tmp_path)
    for expected in ("高考本科上线率", "学生体质健康达标率", iu.head.display_name, iu.dept_heads[0].display_name):
        assert expected in text, expected
    assert "校园安全事故零发生" not in text  # another department's target

    # the unit head's board: this letter signed, the rest still open
    page.get_by_role("link", name="签署进度").click()
    summary = page.locator("#board-summary").inner_text()
    assert re.search(rf"共 {len(out)} 份，已签署 1 份", summary), summary
    row = page.locator(f"tr[data-letter='{letter.id}']")
    assert "已生效" in row.inner_text()
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
