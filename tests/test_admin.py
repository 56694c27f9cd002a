"""Admin pages: access control, units (closure-based scope), groups, departments, users, roles, CSV import."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Department, Group, RoleAssignment, Unit, User
from app.services import org, org_import
from tests.factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)






def token(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, url
    match = TOKEN.search(resp.get_data(as_text=True))
    assert match, url
    return match.group(1) or match.group(2)


def login(client, username: str) -> None:
    resp = client.post(
        "/login", data={"csrf_token": token(client, "/login"), "username": username, "password": PASSWORD}
    )
    assert resp.status_code == 302


@pytest.fixture
def admin(client, county):
    login(client, "admin")
    return client


def post(client, url: str, data: dict, page: str | None = None, **kwargs):
    return client.post(url, data={"csrf_token": token(client, page or url), **data}, **kwargs)


def unit(code: str) -> Unit:
    db.session.expire_all()
    return db.session.scalar(select(Unit).where(Unit.code == code))


def user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


ADMIN_PAGES = ["/admin/", "/admin/units", "/admin/groups", "/admin/users", "/admin/users/new", "/admin/users/import"]


def test_anonymous_redirected_to_login(client, county):
    for url in ADMIN_PAGES:
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


def test_non_admin_forbidden(client, county):
    login(client, "office")
    for url in ADMIN_PAGES + [f"/admin/units/{county.school.id}", f"/admin/users/{county.users['officer'].id}"]:
        assert client.get(url).status_code == 403, url
    tok = token(client, "/password")
    resp = client.post("/admin/groups", data={"csrf_token": tok, "code": "X", "name": "X"})
    assert resp.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Group).where(Group.code == "X")) == 0


def test_dashboard_and_pages_render(admin, county):
    html = admin.get("/admin/").get_data(as_text=True)
    assert re.search(r'id="count-units">\s*4\s*<', html) and re.search(r'id="count-users">\s*11\s*<', html)
    tree = admin.get("/admin/units").get_data(as_text=True)
    # depth-first order with indentation: 示范县 > 县教育局 > 县第一中学
    assert tree.index('data-unit="R" data-depth="0"') < tree.index('data-unit="EDU" data-depth="1"')
    assert tree.index('data-unit="EDU"') < tree.index('data-unit="SCH1" data-depth="2"')
    for url in ADMIN_PAGES + [f"/admin/units/{county.school.id}", f"/admin/users/{county.users['officer'].id}"]:
        assert admin.get(url).status_code == 200, url
    assert admin.get("/admin/units/99999").status_code == 404


def test_create_unit_under_parent_makes_parent_supervisor_candidate(admin, county):
    resp = post(
        admin,
        "/admin/units",
        {
            "code": "SCH2",
            "name": "县第二中学",
            "kind": "institution",
            "parent_id": county.bureau.id,
            "group_id": 0,
            "staff_count": "80",
        },
    )
    assert resp.status_code == 302
    new = unit("SCH2")
    assert new.parent_id == county.bureau.id and new.staff_count == 80 and new.group_id is None
    assert [u.username for u in org.holders("supervisor", new.id)] == ["supervisor"]
    assert [u.username for u in org.holders("office", new.id)] == ["office"]

    # move it under 县财政局: now the finance supervisor covers it, the education one does not
    resp = post(admin, f"/admin/units/{new.id}/move", {"parent_id": county.other.id}, page=f"/admin/units/{new.id}")
    assert resp.status_code == 302
    assert [u.username for u in org.holders("supervisor", new.id)] == ["other_supervisor"]

    # duplicate code refused with a message, nothing created
    resp = post(
        admin,
        "/admin/units",
        {"code": "SCH2", "name": "重复", "kind": "institution", "parent_id": 0, "group_id": 0, "staff_count": "1"},
    )
    assert resp.status_code == 200 and "已存在" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Unit).where(Unit.name == "重复")) == 0


def test_move_unit_into_own_subtree_refused(admin, county):
    resp = post(
        admin,
        f"/admin/units/{county.bureau.id}/move",
        {"parent_id": county.school.id},
        page=f"/admin/units/{county.bureau.id}",
    )
    assert resp.status_code == 200 and "下级单位" in resp.get_data(as_text=True)
    assert unit("EDU").parent_id == county.region.id


def test_edit_unit_departments_and_groups(admin, county):
    g1 = db.session.scalar(select(Group).where(Group.code == "D1"))
    url = f"/admin/units/{county.other.id}"
    resp = post(admin, url, {"name": "县财政局（改）", "kind": "department", "group_id": g1.id, "staff_count": "36"})
    assert resp.status_code == 302
    fin = unit("FIN")
    assert (fin.name, fin.group_id, fin.staff_count) == ("县财政局（改）", g1.id, 36)

    resp = post(admin, f"{url}/departments", {"code": "BGS", "name": "办公室"}, page=url)
    assert resp.status_code == 302
    assert "办公室" in admin.get(url).get_data(as_text=True)
    resp = post(admin, f"{url}/departments", {"code": "BGS", "name": "又一个"}, page=url)
    assert resp.status_code == 200 and "已有编码为 BGS 的科室" in resp.get_data(as_text=True)

    assert post(admin, "/admin/groups", {"code": "D3", "name": "乡镇类"}).status_code == 302
    g3 = db.session.scalar(select(Group).where(Group.code == "D3"))
    assert post(admin, f"/admin/groups/{g3.id}", {"name": "一类乡镇"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Group, g3.id).name == "一类乡镇"
    resp = post(admin, "/admin/groups", {"code": "D3", "name": "重复"})
    assert resp.status_code == 200 and "已存在" in resp.get_data(as_text=True)


def test_create_and_edit_user(admin, county):
    base = {
        "username": "newbie",
        "display_name": "新人",
        "unit_id": county.school.id,
        "department_id": 0,
        "email": "",
        "phone": "",
    }
    resp = post(admin, "/admin/users/new", {**base, "password": "short1A"})
    assert resp.status_code == 200 and "密码长度至少 10 位" in resp.get_data(as_text=True)
    resp = post(admin, "/admin/users/new", {**base, "password": "alllowercaseletters"})
    assert resp.status_code == 200 and "至少三类" in resp.get_data(as_text=True)
    assert user("newbie") is None

    dept = org.add_department(county.other, "KS1", "预算科")
    db.session.commit()
    resp = post(admin, "/admin/users/new", {**base, "department_id": dept.id, "password": "Good#Pass2025"})
    assert resp.status_code == 200 and "科室不属于所选单位" in resp.get_data(as_text=True)

    resp = post(admin, "/admin/users/new", {**base, "password": "Good#Pass2025", "email": "a@b.cn"})
    assert resp.status_code == 302
    new = user("newbie")
    assert new.unit_id == county.school.id and not new.is_admin and new.email == "a@b.cn"

    resp = post(admin, "/admin/users/new", {**base, "password": "Good#Pass2025"})
    assert resp.status_code == 200 and "已存在" in resp.get_data(as_text=True)

    url = f"/admin/users/{new.id}"
    resp = post(
        admin,
        url,
        {
            "display_name": "新人甲",
            "unit_id": county.other.id,
            "department_id": dept.id,
            "email": "",
            "phone": "13800000000",
        },
    )
    assert resp.status_code == 302
    new = user("newbie")
    assert (new.display_name, new.unit_id, new.department_id, new.email, new.phone) == (
        "新人甲",
        county.other.id,
        dept.id,
        None,
        "13800000000",
    )


def test_user_search_and_pagination(admin, county):
    html = admin.get("/admin/users?q=一中").get_data(as_text=True)
    assert "officer" in html and "head" in html and "other_officer" not in html
    assert "共 2 个用户" in html
    html = admin.get(f"/admin/users?unit={county.other.id}").get_data(as_text=True)
    assert "共 2 个用户" in html
    assert "共 0 个用户" in admin.get("/admin/users?q=%25").get_data(as_text=True)
    for i in range(35):
        db.session.add(User(username=f"bulk{i:02d}", display_name=f"批量{i}", password_hash="x"))
    db.session.commit()
    page1 = admin.get("/admin/users").get_data(as_text=True)
    assert 'class="pagination"' in page1
    page2 = admin.get("/admin/users?page=2").get_data(as_text=True)
    assert "共 46 个用户" in page2 and page2.count("<tr>") < page1.count("<tr>")


def test_deactivate_unlock_and_reset_password(admin, county, app):
    officer = county.users["officer"]
    url = f"/admin/users/{officer.id}"
    assert post(admin, f"{url}/active", {"active": "0"}, page=url).status_code == 302
    assert user("officer").active is False
    other = app.test_client()
    resp = other.post(
        "/login", data={"csrf_token": token(other, "/login"), "username": "officer", "password": PASSWORD}
    )
    assert "账号已停用" in resp.get_data(as_text=True)
    assert post(admin, f"{url}/active", {"active": "1"}, page=url).status_code == 302
    assert user("officer").active is True

    # an admin cannot deactivate themselves
    me = f"/admin/users/{county.users['admin'].id}"
    post(admin, f"{me}/active", {"active": "0"}, page=me)
    assert user("admin").active is True

    for _ in range(5):
        other.post("/login", data={"csrf_token": token(other, "/login"), "username": "officer", "password": "x"})
    assert user("officer").locked_until is not None
    assert post(admin, f"{url}/unlock", {}, page=url).status_code == 302
    u = user("officer")
    assert u.locked_until is None and u.failed_logins == 0

    resp = post(admin, f"{url}/password", {"password": "weak"}, page=url)
    assert resp.status_code == 200 and "密码长度至少 10 位" in resp.get_data(as_text=True)
    assert post(admin, f"{url}/password", {"password": "Reset#Pass2025"}, page=url).status_code == 302
    resp = other.post(
        "/login", data={"csrf_token": token(other, "/login"), "username": "officer", "password": "Reset#Pass2025"}
    )
    assert resp.status_code == 302


def test_role_add_and_remove(admin, county):
    officer = county.users["officer"]
    url = f"/admin/users/{officer.id}"
    page = admin.get(url).get_data(as_text=True)
    assert "主管部门（supervisor）" in page  # Chinese role labels in the select

    resp = post(admin, f"{url}/roles", {"role-role": "supervisor", "role-unit_id": county.bureau.id}, page=url)
    assert resp.status_code == 302
    assert "officer" in [u.username for u in org.holders("supervisor", county.school.id)]
    assert 'data-role="supervisor@EDU"' in admin.get(url).get_data(as_text=True)

    resp = post(admin, f"{url}/roles", {"role-role": "nonsense", "role-unit_id": county.bureau.id}, page=url)
    assert resp.status_code == 200
    assert (
        db.session.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.user_id == officer.id))
        == 2
    )

    assignment = db.session.scalar(
        select(RoleAssignment).where(RoleAssignment.user_id == officer.id, RoleAssignment.role == "supervisor")
    )
    # removing through another user's URL is refused
    other = county.users["head"]
    resp = post(admin, f"/admin/users/{other.id}/roles/{assignment.id}/delete", {}, page=url)
    assert resp.status_code == 404
    resp = post(admin, f"{url}/roles/{assignment.id}/delete", {}, page=url)
    assert resp.status_code == 302
    assert "officer" not in [u.username for u in org.holders("supervisor", county.school.id)]


CSV_HEADER = "username,display_name,unit_code,department_code,roles,password\n"


def upload(client, text: str, encoding: str = "utf-8"):
    data = {"file": (io.BytesIO(text.encode(encoding)), "users.csv")}
    return post(client, "/admin/users/import", data, content_type="multipart/form-data")


def test_csv_import_all_or_nothing(admin, county):
    org.add_department(county.school, "JWC", "教务处")
    db.session.commit()
    bad = (
        CSV_HEADER
        + "t1,教师一,SCH1,JWC,unit_officer@SCH1;supervisor@EDU,Good#Pass2025\n"
        + "t2,教师二,NOPE,,staff@SCH1,Good#Pass2025\n"
        + "t1,重复,SCH1,,,short\n"
        + "officer,已有,SCH1,,boss@SCH1,Good#Pass2025\n"
    )
    resp = upload(admin, bad)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "未导入任何用户" in html
    assert "第 3 行：单位编码 NOPE 不存在" in html
    assert "第 4 行" in html and "与第 2 行重复" in html and "密码长度至少 10 位" in html
    assert "第 5 行" in html and "用户名 officer 已存在" in html and "角色 boss 无效" in html
    assert "第 2 行" not in html.split("与第 2 行重复")[0].split('id="import-problems"')[1]
    assert user("t1") is None and user("t2") is None

    good = (
        CSV_HEADER
        + "t1,教师一,SCH1,JWC,unit_officer@SCH1;supervisor@EDU,Good#Pass2025\n"
        + "\n"
        + "t2,教师二,FIN,,staff,Good#Pass2025\n"
    )
    resp = upload(admin, good, encoding="gb18030")
    assert resp.status_code == 302
    assert "新增用户 2 个，角色分配 3 条" in admin.get("/admin/users").get_data(as_text=True)
    t1, t2 = user("t1"), user("t2")
    assert t1.display_name == "教师一" and t1.department.code == "JWC"
    assert sorted((r.role, r.unit.code) for r in t1.roles) == [("supervisor", "EDU"), ("unit_officer", "SCH1")]
    assert [(r.role, r.unit.code) for r in t2.roles] == [("staff", "FIN")]
    other = admin.application.test_client()
    resp = other.post(
        "/login", data={"csrf_token": token(other, "/login"), "username": "t1", "password": "Good#Pass2025"}
    )
    assert resp.status_code == 302


def test_csv_import_bad_header_and_service(admin, county):
    resp = upload(admin, "username,name\nx,y\n")
    assert resp.status_code == 200 and "缺少列" in resp.get_data(as_text=True)
    with pytest.raises(org_import.ImportFailed) as exc:
        org_import.import_users(CSV_HEADER + "u1,甲,,DEP,,Good#Pass2025\n")
    assert exc.value.problems == ["第 2 行：填写科室编码时必须填写单位编码"]
    with pytest.raises(org_import.ImportFailed):
        org_import.import_users(CSV_HEADER)
    result = org_import.import_users(CSV_HEADER + "u1,甲,R,,office@R,Good#Pass2025\n")
    assert (result.users, result.roles) == (1, 1)
    assert db.session.scalar(select(func.count()).select_from(Department)) == 0
