"""Processes deployed without code: a foreign BPMN (SpiffWorkflow's own "lanes" test process, lanes
mapped to role codes, SpiffArena-style JSON schema forms) deployed and walked through the inbox;
parse errors, bad lanes and missing schemas deploy nothing."""

from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, CaseEvent, FormSchema, HumanTask, ProcessDefinition
from app.services import definitions
from tests.web import Browser, login

FOREIGN = Path(__file__).parent / "data" / "foreign" / "lanes.bpmn"
TASK_LINK = re.compile(r'href="/tasks/(\d+)"')


def variant(key: str, **replace: str) -> bytes:
    """The foreign file under another process id (process_definition rows outlive a test)."""
    text = FOREIGN.read_text(encoding="utf-8").replace('id="lanes"', f'id="{key}"')
    text = text.replace('processRef="lanes"', f'processRef="{key}"')
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text.encode("utf-8")


def schemas() -> dict[str, bytes]:
    return definitions.sibling_schemas(FOREIGN)


def definitions_count() -> int:
    return db.session.scalar(select(func.count(ProcessDefinition.id))) or 0


def todo_task(browser: Browser, name: str) -> int:
    """The id of the task called ``name`` in the user's 待办 (asserting it is listed)."""
    page = browser.get("/tasks").get_data(as_text=True)
    for match in re.finditer(r'href="/tasks/(\d+)"[^>]*>([^<]+)<', page):
        if name in match.group(2):
            return int(match.group(1))
    raise AssertionError(f"{name} not in 待办: {page[:3000]}")


def test_foreign_bpmn_walks_through_the_inbox(app, county):
    results = definitions.deploy_file(FOREIGN)
    db.session.commit()
    (definition, _created), = results
    assert definition.key == "lanes"
    stored = set(db.session.scalars(select(FormSchema.filename).where(FormSchema.definition_id == definition.id)))
    assert stored == {"feature-request-schema.json", "clarifying-questions-schema.json", "clarify-request-schema.json"}
    u = county.users

    admin = login(app, u["admin"])
    page = admin.get("/admin/workflows").get_data(as_text=True)
    assert "Add BPMN Feature" in page and 'name="start-lanes-unit_id"' in page
    response = admin.post("/admin/workflows/lanes/start", {"start-lanes-unit_id": county.school.id,
                                                             "start-lanes-title": "新功能申请"})
    assert response.status_code == 302, response.get_data(as_text=True)
    case = db.session.scalar(select(Case).where(Case.process_key == "lanes").order_by(Case.id.desc()))
    assert case is not None and case.unit_id == county.school.id and case.title == "新功能申请"
    running = admin.get("/admin/workflows").get_data(as_text=True)
    row = rf'data-key="lanes" data-version="{definition.version}">.*?<td class="running">1</td>'
    assert re.search(row, running, re.S)

    # lane unit_officer: the school's officer sees it; the other unit's officer does not
    officer = login(app, u["officer"])
    task_id = todo_task(officer, "Request Feature")
    assert "Request Feature" not in login(app, u["other_officer"]).get("/tasks").get_data(as_text=True)
    form = officer.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "希望增加的功能" in form and "优先级" in form and "流程图" not in form
    bad = officer.post(f"/tasks/{task_id}", {"NewBPMNFeautre": "", "priority": "9"})
    assert bad.status_code == 422
    assert "请填写希望增加的功能" in bad.get_data(as_text=True)
    bad = officer.post(f"/tasks/{task_id}", {"NewBPMNFeautre": "导出 PDF", "priority": "9"})
    assert bad.status_code == 422 and "优先级不能大于 5" in bad.get_data(as_text=True)
    assert officer.post(f"/tasks/{task_id}", {"NewBPMNFeautre": "导出 PDF", "priority": "2"}).status_code == 302

    # lane supervisor: 教育局 supervises the school (an ancestor scope)
    supervisor = login(app, u["supervisor"])
    task_id = todo_task(supervisor, "Clarifying Questions?")
    page = supervisor.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "需要说明" in page and "不需要" in page
    assert supervisor.post(f"/tasks/{task_id}", {"NeedClarification": "Maybe"}).status_code == 422
    assert supervisor.post(f"/tasks/{task_id}", {"NeedClarification": "Yes"}).status_code == 302

    # the gateway read the form's value: back to the officer for a clarification
    task_id = todo_task(officer, "Clarify Request")
    assert officer.post(f"/tasks/{task_id}", {"Clarification": "需要按单位导出", "urgent": "y"}).status_code == 302

    # manual tasks: a confirmation without fields; the embedded subprocess's task is in the office lane
    task_id = todo_task(supervisor, "Implement Feature")
    assert supervisor.post(f"/tasks/{task_id}", {}).status_code == 302
    office = login(app, u["office"])
    for name in ("Send to testing", "SubProcessTask"):
        task_id = todo_task(office, name)
        assert office.post(f"/tasks/{task_id}", {}).status_code == 302

    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "completed"
    steps_done = list(db.session.scalars(
        select(HumanTask.step).where(HumanTask.case_id == case.id, HumanTask.status == "completed")
        .order_by(HumanTask.id)
    ))
    assert steps_done == ["Activity_A1", "Activity_B1", "Activity_A2", "Implement_Feature", "Activity_1uksrqx",
                          "SubProcessTask"]
    events = {e.step: e for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))}
    assert events["Request Feature"].action == "complete"
    assert events["Request Feature"].data == {"form": {"NewBPMNFeautre": "导出 PDF", "priority": 2}}
    assert events["Clarify Request"].data == {"form": {"Clarification": "需要按单位导出", "urgent": True}}
    assert events["Request Feature"].user_id == u["officer"].id
    # the case page shows the diagram with every step completed
    page = office.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-element-id="SubProcessTask"' in page and not re.search(r'class="bd-node[^"]*bd-current', page)
    assert re.search(r'class="bd-node bd-task bd-completed" data-element-id="Activity_A2"', page)


def test_parse_error_upload_deploys_nothing(app, county):
    before = definitions_count()
    admin = login(app, county.users["admin"])
    admin.get("/admin/workflows")
    broken = FOREIGN.read_bytes()[:2000]  # cut off mid-element
    response = admin.post(
        "/admin/workflows", {"bpmn": (io.BytesIO(broken), "broken.bpmn")}, content_type="multipart/form-data"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "部署失败，未部署任何流程" in page and "broken.bpmn" in page and 'id="deploy-problems"' in page
    assert definitions_count() == before


def test_unknown_and_missing_lanes_are_all_reported(app, county):
    before = definitions_count()
    xml = variant(
        "lanes_bad_lanes",
        **{'name="unit_officer"': 'name="A"', 'name="office"': 'name="C"',
           "<bpmn:flowNodeRef>Activity_B1</bpmn:flowNodeRef>": ""},
    )
    admin = login(app, county.users["admin"])
    admin.get("/admin/workflows")
    response = admin.post(
        "/admin/workflows",
        {"bpmn": (io.BytesIO(xml), "lanes_bad.bpmn"),
         "schemas": [(io.BytesIO(v), k) for k, v in schemas().items()]},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("步骤“Request Feature”(Activity_A1) 的泳道“A”不是已知的角色代码",
                    "步骤“Clarify Request”(Activity_A2) 的泳道“A”不是已知的角色代码",
                    "步骤“Send to testing”(Activity_1uksrqx) 的泳道“C”不是已知的角色代码",
                    "步骤“SubProcessTask”(SubProcessTask) 的泳道“C”不是已知的角色代码",
                    "步骤“Clarifying Questions?”(Activity_B1) 不在任何泳道中"):
        assert message in page
    assert "unit_officer" in page  # the message names the known role codes
    assert definitions_count() == before


def test_missing_or_bad_schema_deploys_nothing(app):
    before = definitions_count()
    only_two = {k: v for k, v in schemas().items() if k != "clarify-request-schema.json"}
    array_field = b'{"type": "object", "properties": {"x": {"type": "array"}}}'
    bad = dict(only_two, **{"feature-request-schema.json": array_field})
    try:
        definitions.deploy_bpmn("lanes.bpmn", variant("lanes_no_schema"), bad)
    except definitions.ValidationFailed as exc:
        problems = exc.fields["schemas"]
    else:
        raise AssertionError("deployed without its schema")
    assert "步骤“Clarify Request”引用的表单定义 clarify-request-schema.json 未随流程一起上传" in problems
    assert any("字段“x”的类型 'array' 不受支持" in p for p in problems)
    db.session.rollback()
    assert definitions_count() == before


def test_embedded_schema_and_redeploy_versions(app, county):
    embedded = '{"type":"object","required":["ok"],"properties":{"ok":{"type":"boolean","title":"同意"},' \
               '"decision":{"type":"string","enum":["approve","return"],"enumNames":["通过","退回"]}}}'
    escaped = embedded.replace('"', "&quot;")
    xml = variant("lanes_embedded", **{
        'name="formJsonSchemaFilename" value="feature-request-schema.json"': f'name="schema_json" value="{escaped}"'
    })
    (first, created), = definitions.deploy_bpmn("embedded.bpmn", xml, schemas())
    assert created
    (again, created_again), = definitions.deploy_bpmn("embedded.bpmn", xml, schemas())
    assert again.id == first.id and not created_again
    changed = dict(schemas(), **{"clarify-request-schema.json": b'{"type":"object","properties":{}}'})
    (second, created), = definitions.deploy_bpmn("embedded.bpmn", xml, changed)
    assert created and second.version == first.version + 1  # a changed schema is a new version
    db.session.commit()

    case = definitions.start_generic_case("lanes_embedded", county.school.id, county.users["admin"])
    db.session.commit()
    from app.services import steps

    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
    specs = {s.name: s for s in steps.handler_for(task).describe(task)}
    assert specs["ok"].type == "bool" and specs["decision"].choices == [("approve", "通过"), ("return", "退回")]
    steps.submit(task, county.users["officer"], {"ok": True, "decision": "return"})
    db.session.commit()
    assert db.session.get(HumanTask, task.id).outcome == "return"


def test_cli_deploy_reports_every_problem_and_deploys_nothing(app, tmp_path):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad_lanes.bpmn"
    bad.write_bytes(variant("lanes_cli_bad", **{'name="unit_officer"': 'name="A"', 'name="office"': 'name="C"'}))
    before = definitions_count()
    result = runner.invoke(args=["workflows", "deploy", str(bad)])
    assert result.exit_code == 1
    assert "部署失败，未部署任何流程" in result.output and "bad_lanes.bpmn" in result.output
    assert result.output.count("  - 步骤") == 4  # Request Feature, Clarify Request, Send to testing, SubProcessTask
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<bpmn:definitions", encoding="utf-8")
    result = runner.invoke(args=["workflows", "deploy", str(broken)])
    assert result.exit_code == 1 and "无法解析 BPMN 文件 (broken.bpmn)" in result.output
    assert definitions_count() == before

    good = tmp_path / "lanes_cli.bpmn"
    good.write_bytes(variant("lanes_cli"))
    result = runner.invoke(args=["workflows", "deploy", str(good)])  # no schemas beside it
    assert result.exit_code == 1 and "feature-request-schema.json 未随流程一起上传" in result.output
    options = [a for name in schemas() for a in ("--schema", str(FOREIGN.parent / name))]
    result = runner.invoke(args=["workflows", "deploy", str(good), *options])
    assert result.exit_code == 0, result.output
    assert re.search(r"lanes_cli v\d+ \([0-9a-f]{12}\) (deployed|unchanged)", result.output)


def test_schema_validation_rules():
    from app.errors import ValidationFailed
    from app.services import generic_steps

    schema = generic_steps.load_schema(
        '{"type":"object","required":["title","count","kind"],"properties":{'
        '"title":{"type":"string","title":"标题","maxLength":5,"minLength":2},'
        '"note":{"type":"string","title":"说明","format":"textarea"},'
        '"count":{"type":"integer","title":"数量","minimum":1,"maximum":10},'
        '"ratio":{"type":"number","title":"比例","maximum":1.5},'
        '"kind":{"type":"string","title":"类别","enum":["a","b"]},'
        '"level":{"type":"integer","title":"等级","oneOf":[{"const":1,"title":"一级"},{"const":2,"title":"二级"}]},'
        '"agree":{"type":"boolean","title":"同意"}}}',
        "t.json",
    )
    specs = {s.name: s for s in generic_steps.fields_of(schema)}
    assert [specs[n].type for n in ("title", "note", "count", "ratio", "kind", "level", "agree")] == [
        "text", "textarea", "decimal", "decimal", "choice", "choice", "bool"]
    assert specs["count"].required and specs["count"].minimum == 1 and specs["count"].maximum == 10
    assert not specs["note"].required and specs["level"].choices == [("1", "一级"), ("2", "二级")]
    try:
        generic_steps.validate(schema, {"title": "太长的标题文字", "count": "2.5", "ratio": "2", "kind": "c",
                                        "level": "3", "agree": "maybe"})
    except ValidationFailed as exc:
        errors = exc.fields
    else:
        raise AssertionError("accepted invalid data")
    assert errors == {
        "title": ["标题不能超过 5 字"], "count": ["数量应为整数"], "ratio": ["比例不能大于 1.5"],
        "kind": ["类别的取值无效"], "level": ["等级的取值无效"], "agree": ["同意应为是/否"],
    }
    try:
        generic_steps.validate(schema, {"title": "x", "count": "0"})
    except ValidationFailed as exc:
        assert exc.fields == {"title": ["标题至少 2 字"], "count": ["数量不能小于 1"], "kind": ["请选择类别"]}
    clean = generic_steps.validate(schema, {"title": " 标题 ", "count": "3", "ratio": 0.25, "kind": "b", "level": 2,
                                            "agree": "y"})
    assert clean == {"title": "标题", "note": "", "count": 3, "ratio": 0.25, "kind": "b", "level": 2, "agree": True}
    bad_schemas = (
        ('{"type":"array"}', "type 应为 object"),
        ('{"properties":{"1x":{"type":"string"}}}', "字段名"),
        ('{"properties":{"a":{"type":"string"}},"required":["b"]}', "required"),
        ("{", "不是有效的 JSON"),
    )
    for bad, message in bad_schemas:
        try:
            generic_steps.load_schema(bad, "s.json")
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(bad)


def test_only_admins_reach_the_process_page(app, county):
    assert login(app, county.users["office"]).get("/admin/workflows").status_code == 403
    admin = login(app, county.users["admin"])
    admin.get("/admin/workflows")
    response = admin.post("/admin/workflows/assessment/start", {"start-assessment-unit_id": county.school.id})
    assert response.status_code == 302  # refused with a message: assessment is started by the system
    assert "不能在此手工发起" in admin.get("/admin/workflows").get_data(as_text=True)
    assert db.session.scalar(select(func.count(Case.id)).where(Case.process_key == "assessment")) == 0
