"""Drawing primitives of ``app.services.diagram``: geometry types, text wrapping, one function per
kind of BPMN shape. Every text is escaped here (names come from uploaded files)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from html import escape

STATES: dict[str, tuple[str, str, str]] = {  # state → (label, fill, stroke); order = priority
    "current": ("当前环节", "#e3f2fd", "#1565c0"),
    "returned": ("退回", "#fdecea", "#c62828"),
    "completed": ("已完成", "#e8f5e9", "#2e7d32"),
}
TASKS = {"task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity"}
SUBPROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
FLOW_NODES = TASKS | SUBPROCESSES | EVENTS | GATEWAYS
FONT = 12
LINE = 15


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Shape:
    element: str
    tag: str
    name: str
    box: Box
    label: Box | None = None
    horizontal: bool = True
    expanded: bool = False
    marker: str = ""  # event definition or gateway kind


@dataclass(frozen=True)
class Edge:
    element: str
    tag: str
    name: str
    points: tuple[tuple[float, float], ...]
    label: Box | None = None


@dataclass
class Diagram:
    shapes: list[Shape] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    bounds: Box = Box(0, 0, 0, 0)



# --------------------------------------------------------------------------- text


def _width(text: str) -> float:
    return sum(FONT if ord(ch) > 0x2E80 else FONT * 0.58 for ch in text)


def wrap(text: str, width: float, max_lines: int) -> list[str]:
    """Greedy wrap by estimated glyph width (CJK one em, Latin ~0.58 em); ellipsis past max_lines."""
    lines: list[str] = []
    current = ""
    for word in _tokens(text):
        candidate = current + word
        if current and _width(candidate.rstrip()) > width:
            lines.append(current.rstrip())
            current = word.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    if len(lines) > max_lines > 0:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, len(lines[-1]) - 1)] + "…"
    return lines


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for ch in " ".join(text.split()):
        if ord(ch) > 0x2E80:  # CJK: break anywhere
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        elif ch == " ":
            tokens.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    out: list[str] = []
    for token in tokens:  # split over-long Latin words
        while _width(token) > 400:
            out.append(token[:60])
            token = token[60:]
        out.append(token)
    return out


def fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text_block(lines: list[str], cx: float, cy: float, cls: str = "bd-text") -> str:
    if not lines:
        return ""
    top = cy - (len(lines) - 1) * LINE / 2
    spans = "".join(
        f'<tspan x="{fmt(cx)}" y="{fmt(top + i * LINE)}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    return f'<text class="{cls}" text-anchor="middle" dominant-baseline="central">{spans}</text>'


def _vertical(parts: list[str], box: Box, band: float = 30) -> str:
    """Names written bottom-up in the header band of a pool or lane (one line per part, wrapped)."""
    lines = [line for part in parts if part for line in wrap(part, max(box.h - 10, 20), 2)][:2]
    if not lines:
        return ""
    cx, cy = box.x + band / 2, box.y + box.h / 2
    return f'<g transform="rotate(-90 {fmt(cx)} {fmt(cy)})">{_text_block(lines, cx, cy, "bd-text bd-lane-name")}</g>'


# --------------------------------------------------------------------------- shapes


def states_of(value: str | Collection[str] | None) -> list[str]:
    if not value:
        return []
    items = value.split() if isinstance(value, str) else list(value)
    return [s for s in STATES if s in items]


def _classes(base: str, states: list[str]) -> str:
    return " ".join([base, *(f"bd-{s}" for s in states)])


def _title(name: str, states: list[str]) -> str:
    label = "、".join(STATES[s][0] for s in states)
    text = f"{name}（{label}）" if label and name else (name or label)
    return f"<title>{escape(text)}</title>" if text else ""


def draw_event(shape: Shape, states: list[str]) -> str:
    b = shape.box
    r = min(b.w, b.h) / 2
    cx, cy = b.x + b.w / 2, b.y + b.h / 2
    kind = "bd-end" if shape.tag == "endEvent" else ("bd-start" if shape.tag == "startEvent" else "bd-intermediate")
    parts = [f'<circle class="bd-shape" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(r)}"/>']
    if kind == "bd-intermediate":
        parts.append(f'<circle class="bd-inner" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(max(r - 3, 1))}"/>')
    parts.append(_event_marker(shape.marker, cx, cy, r))
    out = f'<g class="{_classes("bd-node bd-event " + kind, states)}" data-element-id="{escape(shape.element)}">'
    out += _title(shape.name, states) + "".join(parts) + "</g>"
    return out + _outer_label(shape)


def _event_marker(marker: str, cx: float, cy: float, r: float) -> str:
    s = r * 0.5
    if marker == "timer":
        return (f'<circle class="bd-glyph" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(s)}"/>'
                f'<path class="bd-glyph" d="M{fmt(cx)} {fmt(cy - s * 0.8)}V{fmt(cy)}L{fmt(cx + s * 0.6)} {fmt(cy)}"/>')
    if marker == "message":
        x, y, w, h = cx - s, cy - s * 0.7, 2 * s, 1.4 * s
        return (f'<rect class="bd-glyph" x="{fmt(x)}" y="{fmt(y)}" width="{fmt(w)}" height="{fmt(h)}"/>'
                f'<path class="bd-glyph" d="M{fmt(x)} {fmt(y)}L{fmt(cx)} {fmt(cy)}L{fmt(x + w)} {fmt(y)}"/>')
    if marker == "signal":
        return (f'<path class="bd-glyph" d="M{fmt(cx)} {fmt(cy - s)}L{fmt(cx + s)} {fmt(cy + s * 0.7)}'
                f'L{fmt(cx - s)} {fmt(cy + s * 0.7)}Z"/>')
    if marker == "terminate":
        return f'<circle class="bd-fill" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(s * 1.1)}"/>'
    if marker in ("error", "escalation", "compensate", "conditional", "cancel", "link"):
        return f'<circle class="bd-glyph" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(s * 0.5)}"/>'
    return ""


def _outer_label(shape: Shape) -> str:
    if not shape.name:
        return ""
    if shape.label is not None:
        lb = shape.label
        lines = wrap(shape.name, max(lb.w, 60), 3)
        return _text_block(lines, lb.x + lb.w / 2, lb.y + lb.h / 2, "bd-text bd-label")
    b = shape.box
    lines = wrap(shape.name, max(b.w * 2, 90), 2)
    return _text_block(lines, b.x + b.w / 2, b.y + b.h + 8 + (len(lines) - 1) * LINE / 2, "bd-text bd-label")


def draw_gateway(shape: Shape, states: list[str]) -> str:
    b = shape.box
    cx, cy = b.x + b.w / 2, b.y + b.h / 2
    d = f"M{fmt(cx)} {fmt(b.y)}L{fmt(b.x + b.w)} {fmt(cy)}L{fmt(cx)} {fmt(b.y + b.h)}L{fmt(b.x)} {fmt(cy)}Z"
    s = min(b.w, b.h) * 0.2
    glyph = ""
    if shape.marker == "exclusiveGateway":
        glyph = (f'<path class="bd-mark" d="M{fmt(cx - s)} {fmt(cy - s)}L{fmt(cx + s)} {fmt(cy + s)}'
                 f'M{fmt(cx + s)} {fmt(cy - s)}L{fmt(cx - s)} {fmt(cy + s)}"/>')
    elif shape.marker in ("parallelGateway", "complexGateway"):
        t = s * 1.3
        glyph = (f'<path class="bd-mark" d="M{fmt(cx)} {fmt(cy - t)}V{fmt(cy + t)}'
                 f'M{fmt(cx - t)} {fmt(cy)}H{fmt(cx + t)}"/>')
    elif shape.marker in ("inclusiveGateway", "eventBasedGateway"):
        glyph = f'<circle class="bd-glyph" cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(s * 1.2)}"/>'
    out = f'<g class="{_classes("bd-node bd-gateway", states)}" data-element-id="{escape(shape.element)}">'
    out += _title(shape.name, states) + f'<path class="bd-shape" d="{d}"/>' + glyph + "</g>"
    return out + _outer_label(shape)


def draw_task(shape: Shape, states: list[str]) -> str:
    b = shape.box
    expanded = shape.tag in SUBPROCESSES and shape.expanded
    base = "bd-node bd-subprocess" if expanded else "bd-node bd-task"
    out = f'<g class="{_classes(base, states)}" data-element-id="{escape(shape.element)}">' + _title(shape.name, states)
    out += (f'<rect class="bd-shape" x="{fmt(b.x)}" y="{fmt(b.y)}" width="{fmt(b.w)}" height="{fmt(b.h)}" '
            f'rx="10" ry="10"/>')
    if "returned" in states and states[0] != "returned":
        out += (f'<rect class="bd-returned-ring" x="{fmt(b.x - 4)}" y="{fmt(b.y - 4)}" width="{fmt(b.w + 8)}" '
                f'height="{fmt(b.h + 8)}" rx="13" ry="13"/>')
    if expanded:
        lines = wrap(shape.name, b.w - 16, 1)
        if lines:
            out += f'<text class="bd-text" x="{fmt(b.x + 8)}" y="{fmt(b.y + 16)}">{escape(lines[0])}</text>'
    else:
        icon = _task_icon(shape, b)
        top = 18 if icon else 6
        lines = wrap(shape.name, b.w - 10, max(1, int((b.h - top - 4) // LINE)))
        out += icon + _text_block(lines, b.x + b.w / 2, b.y + top / 2 + b.h / 2)
        if shape.tag in SUBPROCESSES or shape.tag == "callActivity":
            mx, my = b.x + b.w / 2, b.y + b.h - 8
            out += (f'<rect class="bd-glyph" x="{fmt(mx - 6)}" y="{fmt(my - 6)}" width="12" height="12"/>'
                    f'<path class="bd-glyph" d="M{fmt(mx - 3)} {fmt(my)}H{fmt(mx + 3)}'
                    f'M{fmt(mx)} {fmt(my - 3)}V{fmt(my + 3)}"/>')
    return out + "</g>"


def _task_icon(shape: Shape, b: Box) -> str:
    x, y = b.x + 8, b.y + 6
    if shape.tag == "userTask":
        return (f'<circle class="bd-glyph" cx="{fmt(x + 5)}" cy="{fmt(y + 3)}" r="3"/>'
                f'<path class="bd-glyph" d="M{fmt(x)} {fmt(y + 12)}'
                f'Q{fmt(x + 5)} {fmt(y + 3)} {fmt(x + 10)} {fmt(y + 12)}"/>')
    if shape.tag == "manualTask":
        return (f'<path class="bd-glyph" d="M{fmt(x)} {fmt(y + 10)}V{fmt(y + 3)}H{fmt(x + 10)}'
                f'M{fmt(x)} {fmt(y + 6)}H{fmt(x + 9)}"/>')
    if shape.tag == "scriptTask":
        return (f'<rect class="bd-glyph" x="{fmt(x)}" y="{fmt(y)}" width="9" height="12"/>'
                f'<path class="bd-glyph" d="M{fmt(x + 2)} {fmt(y + 4)}H{fmt(x + 7)}'
                f'M{fmt(x + 2)} {fmt(y + 8)}H{fmt(x + 7)}"/>')
    if shape.tag in ("serviceTask", "businessRuleTask", "sendTask", "receiveTask"):
        return (f'<circle class="bd-glyph" cx="{fmt(x + 5)}" cy="{fmt(y + 6)}" r="5"/>'
                f'<circle class="bd-glyph" cx="{fmt(x + 5)}" cy="{fmt(y + 6)}" r="2"/>')
    return ""


def container(shape: Shape, labels: Mapping[str, str]) -> str:
    b = shape.box
    cls = "bd-pool" if shape.tag == "participant" else "bd-lane"
    name = shape.name
    parts = [labels[name], f"({name})"] if shape.tag == "lane" and name in labels else [name]
    out = f'<g class="{cls}" data-element-id="{escape(shape.element)}">'
    out += f'<rect class="bd-frame" x="{fmt(b.x)}" y="{fmt(b.y)}" width="{fmt(b.w)}" height="{fmt(b.h)}"/>'
    if shape.horizontal:
        out += f'<path class="bd-frame" d="M{fmt(b.x + 30)} {fmt(b.y)}V{fmt(b.y + b.h)}"/>' if cls == "bd-pool" else ""
        out += _vertical(parts, b)
    elif name:
        out += _text_block(wrap(" ".join(parts), b.w - 10, 1), b.x + b.w / 2, b.y + 15, "bd-text bd-lane-name")
    return out + "</g>"


def draw_other(shape: Shape) -> str:
    b = shape.box
    if shape.tag == "textAnnotation":
        out = (f'<path class="bd-annotation" d="M{fmt(b.x + 10)} {fmt(b.y)}H{fmt(b.x)}'
               f'V{fmt(b.y + b.h)}H{fmt(b.x + 10)}"/>')
        lines = wrap(shape.name, b.w - 8, max(1, int(b.h // LINE)))
        return out + _text_block(lines, b.x + b.w / 2, b.y + b.h / 2, "bd-text bd-label")
    out = f'<rect class="bd-data" x="{fmt(b.x)}" y="{fmt(b.y)}" width="{fmt(b.w)}" height="{fmt(b.h)}"/>'
    return out + _outer_label(shape)


def draw_edge(edge: Edge) -> str:
    points = " ".join(f"{fmt(x)},{fmt(y)}" for x, y in edge.points)
    if edge.tag == "sequenceFlow":
        cls, marker = "bd-flow", ' marker-end="url(#bd-arrow)"'
    elif edge.tag == "messageFlow":
        cls, marker = "bd-flow bd-message-flow", ' marker-end="url(#bd-arrow-open)"'
    else:
        cls, marker = "bd-flow bd-association", ""
    out = f'<g class="bd-edge" data-element-id="{escape(edge.element)}">'
    out += f'<polyline class="{cls}" points="{points}"{marker}/>'
    if edge.name:
        if edge.label is not None:
            lb = edge.label
            cx, cy = lb.x + lb.w / 2, lb.y + lb.h / 2
        else:
            mid = len(edge.points) // 2
            (x1, y1), (x2, y2) = edge.points[mid - 1], edge.points[mid]
            cx, cy = (x1 + x2) / 2 + 4, (y1 + y2) / 2 - 8
        out += _text_block(wrap(edge.name, 120, 2), cx, cy, "bd-text bd-label")
    return out + "</g>"


STYLE = (
    ".bd-text{font:12px sans-serif;fill:#222}.bd-label{fill:#444}"
    ".bd-frame{fill:none;stroke:#666;stroke-width:1}.bd-lane-name{font-weight:bold}"
    ".bd-shape{fill:#fff;stroke:#333;stroke-width:1.5}.bd-inner{fill:none;stroke:#333;stroke-width:1}"
    ".bd-end .bd-shape{stroke-width:3.5}.bd-glyph{fill:none;stroke:#333;stroke-width:1.2}"
    ".bd-fill{fill:#333}.bd-mark{stroke:#333;stroke-width:3}"
    ".bd-subprocess>.bd-shape{fill:#fff;fill-opacity:.6}"
    ".bd-flow{fill:none;stroke:#333;stroke-width:1.5}.bd-message-flow{stroke-dasharray:6 4}"
    ".bd-association{stroke-dasharray:2 3}.bd-annotation{fill:none;stroke:#666}"
    ".bd-data{fill:#fff;stroke:#666}.bd-returned-ring{fill:none;stroke:#c62828;stroke-width:2;stroke-dasharray:5 3}"
    + "".join(
        f".bd-{state}>.bd-shape{{fill:{fill};stroke:{stroke};stroke-width:{3 if state == 'current' else 2.5}}}"
        for state, (_, fill, stroke) in reversed(list(STATES.items()))
    )
    + ".bd-returned>.bd-shape{stroke-dasharray:6 3}"
)
