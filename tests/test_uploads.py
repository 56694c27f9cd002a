"""Evidence uploads through the self-assessment form, and who may download them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CaseEvent, EvidenceFile, SelfAssessmentEntry
from tests.factories import start_assessment
from tests.helpers import indicator_ids, open_task
from tests.test_inbox_web import login, pdf, self_form


def _stored_files(app) -> set[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (lambda: pdf("大文件.pdf", size=1024 * 1024 + 10), "超过 1 MB 的大小限制"),
        (lambda: (io.BytesIO(b"MZ\x90\x00binary"), "setup.exe"), "不支持的文件类型 .exe"),
        (lambda: (io.BytesIO(b"<html>not a pdf</html>"), "伪装.pdf"), "内容与扩展名不符"),
        (lambda: (io.BytesIO(b""), "空.pdf"), "空文件"),
    ],
    ids=["oversized", "forbidden-extension", "content-mismatch", "empty"],
)
def test_a_bad_file_is_refused_clearly_and_nothing_is_saved(app, county, upload, message):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    first, second = indicator_ids(case_id)[:2]
    officer = login(app, county.users["officer"])
    files_before, events_before = _stored_files(app), _count(CaseEvent)
    data = self_form(case_id, **{f"evidence-{first}": [upload()], f"evidence-{second}": [pdf("合格.pdf")]})
    response = officer.post(f"/tasks/{task_id}", data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    assert 'class="form-row has-error"' in body  # the error sits on the evidence input
    db.session.expire_all()
    assert _count(SelfAssessmentEntry) == 0 and _count(EvidenceFile) == 0
    assert _count(CaseEvent) == events_before and _stored_files(app) == files_before
    assert open_task(case_id).id == task_id


def test_a_request_over_the_size_cap_is_refused(app, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    first = indicator_ids(case_id)[0]
    officer = login(app, county.users["officer"])
    response = officer.post(
        f"/tasks/{task_id}", self_form(case_id, **{f"evidence-{first}": [pdf(size=3 * 1024 * 1024)]})
    )
    assert response.status_code == 413
    assert _count(SelfAssessmentEntry) == 0 and open_task(case_id).id == task_id


def test_evidence_is_stored_and_downloadable_only_by_case_viewers(app, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    first, second = indicator_ids(case_id)[:2]
    officer = login(app, county.users["officer"])
    files = {
        f"evidence-{first}": [pdf("会议记录.pdf"), (io.BytesIO(b"\x89PNG\r\n\x1a\nimage"), "现场照片.PNG")],
        f"evidence-{second}": [(io.BytesIO("整改说明".encode()), "../../etc/说明.txt")],
    }
    assert officer.post(f"/tasks/{task_id}", self_form(case_id, **files)).status_code == 302
    rows = {r.original_name: r for r in db.session.scalars(select(EvidenceFile))}
    assert set(rows) == {"会议记录.pdf", "现场照片.png", "说明.txt"}
    assert all(r.entry_id is not None and r.case_id == case_id for r in rows.values())
    assert db.session.scalar(select(CaseEvent.data).where(CaseEvent.action == "submit"))["files"] == 3

    supervisor = login(app, county.users["supervisor"])
    assert "现场照片.png" in supervisor.get(f"/tasks/{open_task(case_id).id}").get_data(as_text=True)
    response = supervisor.get(f"/evidence/{rows['会议记录.pdf'].id}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()

    head = login(app, county.users["head"])
    txt = head.get(f"/evidence/{rows['说明.txt'].id}")
    assert txt.status_code == 200 and txt.data.decode() == "整改说明"
    txt.close()
    other = login(app, county.users["other_officer"])
    assert other.get(f"/evidence/{rows['会议记录.pdf'].id}").status_code == 404
    assert other.get("/evidence/999999").status_code == 404
