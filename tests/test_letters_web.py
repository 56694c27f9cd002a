"""Letters through HTTP: signing in the inbox, the letter page and its access, the board, the PDFs."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import HumanTask, Letter, LetterSignature
from app.services import letters, steps
from tests.factories import IssuedUnit, build_issued_unit
from tests.test_inbox_web import login


@pytest.fixture
def issued() -> tuple[IssuedUnit, list[Letter]]:
    iu = build_issued_unit(staff_per_department=2)
    iu.county.cycle.letters_due_on = (clock.now() + dt.timedelta(days=10)).date()
    db.session.commit()
    out = letters.generate_for_unit(iu.cycle_unit, iu.version, iu.county.users["office"])
    db.session.commit()
    return iu, out


def task_id(letter: Letter, user_id: int) -> int:
    return db.session.scalars(
        select(HumanTask.id).where(HumanTask.case_id == letter.case_id, HumanTask.assignee_id == user_id)
    ).one()


def pdf_text(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.pdf"
        path.write_bytes(data)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout


def test_sign_in_the_inbox_shows_the_text_and_records_the_signature(app, issued):
    iu, out = issued
    letter = out[0]
    browser = login(app, iu.head)
    url = f"/tasks/{task_id(letter, iu.head.id)}"
    page = browser.get(url).get_data(as_text=True)
    assert "我已阅读并同意签署" in page and "高考本科上线率" in page and letter.sha256 in page
    refused = browser.post(url, {"comment": "未勾选"})
    assert refused.status_code == 422 and db.session.scalar(select(LetterSignature.id)) is None
    response = browser.post(url, {"agree": "y", "comment": "同意"})
    assert response.status_code == 302
    signature = db.session.scalars(select(LetterSignature)).one()
    assert (signature.user_id, signature.party, signature.digest) == (iu.head.id, "a", letter.sha256)
    again = browser.post(url, {"agree": "y"})  # the task is done: no second signature
    assert again.status_code == 302 and len(db.session.scalars(select(LetterSignature)).all()) == 1


def test_signing_someone_elses_letter_over_the_web_is_403(app, issued):
    iu, out = issued
    letter = out[0]  # 教务处's 责任书
    intruder = login(app, iu.dept_heads[1])
    response = intruder.post(f"/tasks/{task_id(letter, iu.head.id)}", {"agree": "y"})
    assert response.status_code == 403
    assert db.session.scalar(select(LetterSignature.id)) is None


def test_letter_page_access_and_verification(app, issued):
    iu, out = issued
    letter = out[0]
    steps.submit(db.session.get(HumanTask, task_id(letter, iu.head.id)), iu.head, {"agree": True})
    db.session.commit()
    party = login(app, iu.dept_heads[0])
    page = party.get(f"/letters/{letter.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "验证通过" in html and iu.head.display_name in html and letter.sha256 in html and "尚未签署" in html
    for username in ("office", "officer", "head", "admin"):
        assert login(app, iu.county.users[username]).get(f"/letters/{letter.id}").status_code == 200, username
    history = party.get(f"/cases/{letter.case_id}").get_data(as_text=True)
    assert "签署" in history and iu.head.display_name in history
    staff_elsewhere = iu.staff[iu.departments[1].id][0]
    assert login(app, staff_elsewhere).get(f"/letters/{letter.id}").status_code == 404
    assert login(app, iu.county.users["other_officer"]).get(f"/letters/{letter.id}").status_code == 404


def test_a_tampered_unsigned_letter_shows_the_mismatch(app, issued):
    iu, out = issued
    letter = out[0]
    db.session.execute(update(Letter).where(Letter.id == letter.id).values(body=letter.body + "篡改\n"))
    db.session.commit()
    html = login(app, iu.head).get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "验证失败" in html and "不一致" in html


def test_my_letters_lists_what_i_am_party_to(app, issued):
    iu, out = issued
    member = iu.staff[iu.departments[0].id][0]
    html = login(app, member).get("/letters/").get_data(as_text=True)
    mine = [x for x in out if member.id in (x.party_a_id, x.party_b_id)]
    assert len(mine) == 1 and mine[0].title in html and "待我签署" in html
    others = [x for x in out if x.kind == "commitment" and member.id not in (x.party_a_id, x.party_b_id)]
    assert all(x.title not in html for x in others)
    head_html = login(app, iu.dept_heads[0]).get("/letters/").get_data(as_text=True)
    assert head_html.count("/letters/") >= 3  # 1 责任书 (party B) + 2 承诺书 (party A)


def test_board_for_office_unit_head_and_others(app, issued):
    iu, out = issued
    for who in (iu.head, iu.dept_heads[0]):
        steps.submit(db.session.get(HumanTask, task_id(out[0], who.id)), who, {"agree": True})
    db.session.commit()
    clock.advance(dt.timedelta(days=11))
    office = login(app, iu.county.users["office"])
    html = office.get("/letters/board").get_data(as_text=True)
    assert "县第一中学" in html and "县财政局" in html
    assert f"共 {len(out)} 份，已签署 1 份，逾期未签 {len(out) - 1} 份" in html
    head = login(app, iu.head)
    redirect = head.get("/letters/board")
    assert redirect.status_code == 302 and f"/letters/board/{iu.county.school.id}" in redirect.headers["Location"]
    unit_html = head.get(f"/letters/board/{iu.county.school.id}").get_data(as_text=True)
    assert f"已签署 1 份，未签署 {len(out) - 1} 份，逾期 {len(out) - 1} 份" in unit_html
    assert unit_html.count("tag-overdue") == len(out) - 1
    assert head.get(f"/letters/board/{iu.county.other.id}").status_code == 403
    assert login(app, iu.all_staff[0]).get(f"/letters/board/{iu.county.school.id}").status_code == 403


def test_letter_pdf_has_the_targets_and_both_parties_in_chinese(app, issued):
    iu, out = issued
    letter = out[0]
    steps.submit(db.session.get(HumanTask, task_id(letter, iu.head.id)), iu.head, {"agree": True})
    db.session.commit()
    response = login(app, iu.head).get(f"/letters/{letter.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    content = pdf_text(response.data)
    for expected in ("高考本科上线率", "学生体质健康达标率", iu.head.display_name, iu.dept_heads[0].display_name,
                     "目标责任书", letter.sha256[:32]):
        assert expected in content, expected


def test_issued_target_list_pdf(app, issued):
    iu, _ = issued
    response = login(app, iu.county.users["office"]).get(f"/letters/targets/{iu.county.school.id}/pdf")
    assert response.status_code == 200
    content = pdf_text(response.data)
    for name in ("高考本科上线率", "学生体质健康达标率", "校园安全事故零发生", "教务处", "德育处", "党风廉政建设"):
        assert name in content, name
    assert login(app, iu.county.users["other_officer"]).get(
        f"/letters/targets/{iu.county.school.id}/pdf").status_code == 404


def test_missing_wkhtmltopdf_shows_how_to_install_it(app, issued, monkeypatch):
    iu, out = issued
    monkeypatch.setitem(app.config, "WKHTMLTOPDF", "/nonexistent/wkhtmltopdf")
    browser = login(app, iu.head)
    response = browser.get(f"/letters/{out[0].id}/pdf")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/letters/{out[0].id}")
    page = browser.get(f"/letters/{out[0].id}").get_data(as_text=True)
    assert "apt-get install wkhtmltopdf fonts-noto-cjk" in page
