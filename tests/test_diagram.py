"""Process diagrams: every workflows/*.bpmn has complete DI; the server-side SVG renderer draws
shapes, lanes and flows, escapes names from uploaded files, and marks a case's completed, current
and returned steps on the case page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import g
from lxml import etree

from app import engine
from app.extensions import db
from app.models import Case
from app.models.user import ROLES
from app.services import case_diagram, definitions, diagram
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, self_assessment_data

WORKFLOWS = sorted((Path(__file__).resolve().parent.parent / "workflows").glob("*.bpmn"))
ASSESSMENT = Path(__file__).resolve().parent.parent / "workflows" / "assessment.bpmn"
SVG = "{http://www.w3.org/2000/svg}"


def node_classes(svg: str) -> dict[str, str]:
    """element id → class attribute of its node group."""
    root = etree.fromstring(svg.encode("utf-8"))
    return {el.get("data-element-id"): el.get("class") for el in root.iter(f"{SVG}g") if el.get("data-element-id")}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_workflow_file_has_di_and_valid_lanes(path):
    xml = path.read_bytes()
    assert diagram.di_problems(xml) == [], f"{path.name} would not open completely in bpmn.io"
    processes = engine.parse_bpmn(xml, path.name)
    assert definitions.lane_problems(processes) == []
    svg = diagram.render_svg(xml, labels=ROLES)
    drawn = node_classes(svg)
    for parsed in processes:
        for step in parsed.steps:
            assert step in drawn, f"{path.name}: user task {step} not drawn"


def test_di_checker_reports_missing_shapes_and_edges():
    text = ASSESSMENT.read_text(encoding="utf-8")
    root = etree.fromstring(text.encode("utf-8"))
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}"
    for node in list(root.iter(f"{di}BPMNShape", f"{di}BPMNEdge")):
        if node.get("bpmnElement") in ("audit", "Flow_start_self_assessment"):
            node.getparent().remove(node)
    problems = diagram.di_problems(etree.tostring(root))
    assert "userTask audit 没有 BPMNShape" in problems
    assert "sequenceFlow Flow_start_self_assessment 没有 BPMNEdge" in problems
    no_di = re.sub(r"<bpmndi:BPMNDiagram.*</bpmndi:BPMNDiagram>", "", text, flags=re.S)
    assert diagram.di_problems(no_di) == ["没有 BPMNDiagram"]
    with pytest.raises(diagram.DiagramError):
        diagram.render_svg(no_di)


def test_shapes_lanes_flows_and_states():
    xml = ASSESSMENT.read_text(encoding="utf-8")
    svg = diagram.render_svg(
        xml, {"self_assessment": "completed", "supervisor_review": {"completed", "returned"}, "audit": "current"},
        labels=ROLES,
    )
    root = etree.fromstring(svg.encode("utf-8"))  # well-formed XML
    classes = node_classes(svg)
    assert classes["self_assessment"] == "bd-node bd-task bd-completed"
    assert classes["supervisor_review"] == "bd-node bd-task bd-returned bd-completed"
    assert classes["audit"] == "bd-node bd-task bd-current"
    assert classes["scoring"] == "bd-node bd-task"
    assert classes["start"].startswith("bd-node bd-event bd-start")
    assert classes["gw_review"] == "bd-node bd-gateway"
    assert classes["Lane_unit_officer"] == "bd-lane" and classes["Participant_assessment"] == "bd-pool"
    task = next(g for g in root.iter(f"{SVG}g") if g.get("data-element-id") == "audit")
    rect = task.find(f"{SVG}rect")
    assert rect is not None and rect.get("rx") == "10"
    assert task.findtext(f"{SVG}title") == "审核组核查佐证（当前环节）"
    assert "".join(t.text or "" for t in task.iter(f"{SVG}tspan")) == "审核组核查佐证"
    start = next(g for g in root.iter(f"{SVG}g") if g.get("data-element-id") == "start")
    assert start.find(f"{SVG}circle") is not None
    gateway = next(g for g in root.iter(f"{SVG}g") if g.get("data-element-id") == "gw_review")
    assert gateway.find(f"{SVG}path").get("d").count("L") == 3  # a diamond
    flows = [p for p in root.iter(f"{SVG}polyline") if p.get("marker-end") == "url(#bd-arrow)"]
    assert len(flows) == xml.count("<bpmn:sequenceFlow ")
    text = "".join(root.itertext())
    assert "绩效员" in text and "(unit_officer)" in text and "年终绩效考核" in text
    assert root.find(f"{SVG}defs/{SVG}marker").get("id") == "bd-arrow"


def test_names_from_uploaded_files_are_escaped():
    xml = ASSESSMENT.read_text(encoding="utf-8").replace(
        'name="单位自评"', 'name="&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"'
    ).replace('name="unit_officer"', 'name="&lt;img src=x onerror=alert(1)&gt;"')
    svg = diagram.render_svg(xml)
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = etree.fromstring(svg.encode("utf-8"))
    assert not [el for el in root.iter() if etree.QName(el).localname in ("script", "foreignObject", "img")]
    # hostile numbers and entities are ignored, not rendered
    hostile = xml.replace('<dc:Bounds x="', '<dc:Bounds x="NaN', 1)
    assert "NaN" not in diagram.render_svg(hostile)


def test_parsed_di_is_cached_per_definition():
    xml = ASSESSMENT.read_text(encoding="utf-8")
    first = diagram.diagram_for(xml, cache_key=-1)
    assert diagram.diagram_for("<not parsed again/>", cache_key=-1) is first


def test_wrap_breaks_chinese_and_latin_text():
    assert diagram_wrap("考核委员会审定年度考核结果", 60, 3) == ["考核委员会", "审定年度考", "核结果"]
    assert diagram_wrap("Clarifying Questions?", 90, 3) == ["Clarifying", "Questions?"]
    assert diagram_wrap("一二三四五六七八九十" * 3, 36, 2)[-1].endswith("…")


def diagram_wrap(text: str, width: float, lines: int) -> list[str]:
    from app.services.diagram_draw import wrap

    return wrap(text, width, lines)


def test_case_page_marks_completed_current_and_returned_steps(app, county, client):
    case_id = start_assessment(county)
    u = county.users
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "return", "reason": "佐证不足"})
    case = db.session.get(Case, case_id)
    states = case_diagram.step_states(case)
    assert states["self_assessment"] == {"completed", "current", "returned"}
    assert states["supervisor_review"] == {"completed", "returned"}
    assert "audit" not in states

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token is not None
    g.pop("csrf_token", None)
    client.post("/login", data={"csrf_token": token.group(1), "username": "officer", "password": PASSWORD})
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="case-diagram"' in page and "<svg" in page
    assert 'class="bd-node bd-task bd-current bd-returned bd-completed" data-element-id="self_assessment"' in page
    assert 'class="bd-node bd-task bd-returned bd-completed" data-element-id="supervisor_review"' in page
    assert 'class="bd-node bd-task" data-element-id="audit"' in page
    for label in ("当前环节", "退回", "已完成"):
        assert f"</span> {label}</span>" in page  # the legend


def test_explicit_return_targets_from_the_history(app, county):
    """A 退回 operation closes the task as ``returned`` and names its target step in the event."""
    from app import clock
    from app.models import CaseEvent, HumanTask
    from tests.helpers import open_task

    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    review.status, review.outcome, review.completed_at = "returned", "return_to", clock.now()
    db.session.add(CaseEvent(case_id=case_id, task_id=review.id, user_id=county.users["supervisor"].id,
                             action="return_to", step="主管部门审核 → 单位自评",
                             data={"target_step": "self_assessment", "from_step": "supervisor_review"},
                             created_at=clock.now()))
    db.session.flush()
    states = case_diagram.step_states(db.session.get(Case, case_id))
    assert states == {"self_assessment": {"completed", "returned"}, "supervisor_review": {"returned"}}
    assert db.session.get(HumanTask, review.id).status == "returned"
    db.session.rollback()
