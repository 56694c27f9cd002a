"""Server-side SVG of a BPMN diagram from its DI (BPMNShape bounds, BPMNEdge waypoints).

Pure: ``render_svg(xml, states)`` takes the BPMN text and ``{element id: state(s)}`` (states
``completed``, ``current``, ``returned``) and returns SVG markup. Tasks are rounded rectangles
with their names, events circles, gateways diamonds, sequence flows polylines with arrowheads,
pools and lanes rectangles with their (vertical) names. Every text comes from the uploaded file
and is escaped. The parsed DI is cached per definition id (``cache_key``). Drawing of each kind
of shape is in ``app.services.diagram_draw``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping
from html import escape

from lxml import etree

from app.services.diagram_draw import (
    EVENTS,
    FLOW_NODES,
    GATEWAYS,
    STATES,
    STYLE,
    SUBPROCESSES,
    TASKS,
    Box,
    Diagram,
    Edge,
    Shape,
    container,
    draw_edge,
    draw_event,
    draw_gateway,
    draw_other,
    draw_task,
    fmt,
    states_of,
)

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
__all__ = ["STATES", "DiagramError", "di_problems", "diagram_for", "parse_diagram", "render_svg"]


class DiagramError(ValueError):
    """The file has no usable diagram interchange (DI)."""


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _num(value: str | None) -> float:
    number = float(value or "x")
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _box(node: etree._Element | None) -> Box | None:
    if node is None:
        return None
    try:
        return Box(_num(node.get("x")), _num(node.get("y")), _num(node.get("width")), _num(node.get("height")))
    except ValueError:
        return None


def _marker(element: etree._Element, tag: str) -> str:
    if tag in GATEWAYS:
        return tag
    for child in element:
        name = _local(child.tag)
        if name.endswith("EventDefinition"):
            return name[: -len("EventDefinition")]
    return ""


def parse_diagram(xml: str | bytes) -> Diagram:
    """The first BPMNDiagram's shapes and edges, joined to their semantic elements."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DiagramError(f"BPMN 无法解析: {exc}") from exc
    elements = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")
                and etree.QName(el.tag).namespace == MODEL}
    plane = root.find(f"{{{BPMNDI}}}BPMNDiagram/{{{BPMNDI}}}BPMNPlane")
    if plane is None:
        raise DiagramError("BPMN 文件没有流程图布局 (BPMNDiagram)")
    diagram = Diagram()
    for node in plane:
        kind = _local(node.tag)
        ref = node.get("bpmnElement") or ""
        element = elements.get(ref)
        if element is None:
            continue
        tag = _local(element.tag)
        name = (element.get("name") or element.findtext(f"{{{MODEL}}}text") or "").strip()
        label = _box(node.find(f"{{{BPMNDI}}}BPMNLabel/{{{DC}}}Bounds"))
        if kind == "BPMNShape":
            box = _box(node.find(f"{{{DC}}}Bounds"))
            if box is None:
                continue
            diagram.shapes.append(Shape(
                ref, tag, name, box, label, horizontal=node.get("isHorizontal", "true") != "false",
                expanded=node.get("isExpanded") == "true", marker=_marker(element, tag),
            ))
        elif kind == "BPMNEdge":
            try:
                points = tuple((_num(p.get("x")), _num(p.get("y"))) for p in node.findall(f"{{{DI}}}waypoint"))
            except ValueError:
                continue
            if len(points) >= 2:
                diagram.edges.append(Edge(ref, tag, name, points, label))
    xs: list[float] = []
    ys: list[float] = []
    for shape in diagram.shapes:
        for box in (shape.box, shape.label):
            if box is not None:
                xs += [box.x, box.x + box.w]
                ys += [box.y, box.y + box.h]
    for edge in diagram.edges:
        xs += [p[0] for p in edge.points]
        ys += [p[1] for p in edge.points]
    if not xs:
        raise DiagramError("流程图布局为空")
    diagram.bounds = Box(min(xs) - 10, min(ys) - 10, max(xs) - min(xs) + 20, max(ys) - min(ys) + 20)
    return diagram


_cache: dict[int, Diagram] = {}
_lock = threading.Lock()


def diagram_for(xml: str | bytes, cache_key: int | None = None) -> Diagram:
    if cache_key is None:
        return parse_diagram(xml)
    cached = _cache.get(cache_key)
    if cached is None:
        cached = parse_diagram(xml)
        with _lock:
            _cache[cache_key] = cached
    return cached


def render_svg(
    xml: str | bytes,
    states: Mapping[str, str | Collection[str]] | None = None,
    *,
    cache_key: int | None = None,
    labels: Mapping[str, str] | None = None,
    title: str = "流程图",
) -> str:
    """The diagram as an SVG document fragment. ``states`` maps element ids (BPMN step ids) to
    ``completed`` / ``current`` / ``returned`` (or several); ``labels`` maps lane names (role
    codes) to display names. Raises DiagramError when the file has no DI."""
    diagram = diagram_for(xml, cache_key)
    states = states or {}
    b = diagram.bounds
    containers: list[str] = []
    nodes: list[str] = []
    others: list[str] = []
    for shape in diagram.shapes:
        marks = states_of(states.get(shape.element))
        if shape.tag in ("participant", "lane"):
            containers.append(container(shape, labels or {}))
        elif shape.tag in EVENTS:
            nodes.append(draw_event(shape, marks))
        elif shape.tag in GATEWAYS:
            nodes.append(draw_gateway(shape, marks))
        elif shape.tag in TASKS or shape.tag in SUBPROCESSES:
            (others if shape.tag in SUBPROCESSES and shape.expanded else nodes).append(draw_task(shape, marks))
        else:
            others.append(draw_other(shape))
    containers.sort(key=lambda s: 0 if 'class="bd-pool"' in s else 1)
    edges = [draw_edge(e) for e in diagram.edges]
    defs = (
        '<defs><marker id="bd-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0 0L10 5L0 10Z" fill="#333"/></marker>'
        '<marker id="bd-arrow-open" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto"><path d="M0 0L10 5L0 10Z" fill="#fff" stroke="#333"/></marker></defs>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bpmn-diagram" role="img" aria-label="{escape(title)}" '
        f'viewBox="{fmt(b.x)} {fmt(b.y)} {fmt(b.w)} {fmt(b.h)}" width="{fmt(b.w)}" height="{fmt(b.h)}" '
        f'style="max-width:none;height:auto">'
        f"<style>{STYLE}</style>{defs}"
        + "".join(containers) + "".join(others) + "".join(edges) + "".join(nodes)
        + "</svg>"
    )


def di_problems(xml: str | bytes) -> list[str]:
    """What bpmn.io would miss: flow nodes, lanes and pools without a BPMNShape, sequence and message
    flows without a BPMNEdge of two or more waypoints, DI pointing at no element."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return [f"XML 无法解析: {exc}"]
    diagrams = root.findall(f"{{{BPMNDI}}}BPMNDiagram")
    if not diagrams:
        return ["没有 BPMNDiagram"]
    elements = {el.get("id"): _local(el.tag) for el in root.iter()
                if isinstance(el.tag, str) and el.get("id") and etree.QName(el.tag).namespace == MODEL}
    problems = []
    shapes: set[str] = set()
    edges: set[str] = set()
    for plane in root.iter(f"{{{BPMNDI}}}BPMNPlane"):
        if elements.get(plane.get("bpmnElement") or "") not in ("collaboration", "process", *SUBPROCESSES):
            problems.append(f"BPMNPlane {plane.get('id')} 未指向协作或流程")
        for node in plane:
            ref = node.get("bpmnElement") or ""
            kind = _local(node.tag)
            if kind in ("BPMNShape", "BPMNEdge") and ref not in elements:
                problems.append(f"{kind} {node.get('id')} 指向不存在的元素 {ref}")
            if kind == "BPMNShape":
                box = _box(node.find(f"{{{DC}}}Bounds"))
                if box is None or box.w <= 0 or box.h <= 0:
                    problems.append(f"BPMNShape {node.get('id')} 缺少有效的 Bounds")
                shapes.add(ref)
            elif kind == "BPMNEdge":
                if len(node.findall(f"{{{DI}}}waypoint")) < 2:
                    problems.append(f"BPMNEdge {node.get('id')} 少于两个 waypoint")
                edges.add(ref)
    for element_id, tag in elements.items():
        if (tag in FLOW_NODES or tag in ("lane", "participant")) and element_id not in shapes:
            problems.append(f"{tag} {element_id} 没有 BPMNShape")
        if tag in ("sequenceFlow", "messageFlow") and element_id not in edges:
            problems.append(f"{tag} {element_id} 没有 BPMNEdge")
    return problems
