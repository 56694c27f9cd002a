"""Charts rendered on the server as inline SVG (no JavaScript, no CDN; also printable to PDF).

- ``ranking_bars(bars, title=...) -> Markup``: one horizontal bar per unit (a group's ranking),
  coloured by grade; vetoed units are hatched and marked.
- ``histogram(values, bin_width=5, title=...) -> Markup``: the distribution of totals.
Colours are SVG attributes (not CSS) so the charts look the same in wkhtmltopdf.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

GRADE_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#c62828"}
FONT = 'font-family="Noto Sans CJK SC, Noto Sans SC, sans-serif"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    grade: str = "B"
    veto: bool = False
    rank: int | None = None


def _num(value: Decimal | float | int) -> str:
    return f"{float(value):.1f}".rstrip("0").rstrip(".")


def ranking_bars(bars: list[Bar], *, title: str = "", width: int = 680) -> Markup:
    if not bars:
        return Markup("")
    label_w, value_w, row_h, top = 170, 70, 24, 30 if title else 8
    plot_w = width - label_w - value_w
    top_value = max(max((b.value for b in bars), default=Decimal(0)), Decimal(1))
    height = top + row_h * len(bars) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-ranking" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "排名")}">',
        '<defs><pattern id="veto-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ef9a9a"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#c62828" stroke-width="3"/></pattern></defs>',
    ]
    if title:
        parts.append(f'<text x="0" y="18" font-size="14" font-weight="bold" {FONT}>{escape(title)}</text>')
    for index, bar in enumerate(bars):
        y = top + index * row_h
        w = max(1.0, float(bar.value) / float(top_value) * plot_w) if bar.value > 0 else 0.0
        fill = "url(#veto-hatch)" if bar.veto else GRADE_COLOURS.get(bar.grade, "#757575")
        prefix = f"{bar.rank}. " if bar.rank is not None else ""
        label = escape(prefix + bar.label)
        parts.append(
            f'<g class="bar grade-{escape(bar.grade)}"><title>{label}：{escape(str(bar.value))}</title>'
            f'<text x="{label_w - 6}" y="{y + 16}" font-size="12" text-anchor="end" {FONT}>{label}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 7}" fill="{fill}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 16}" font-size="12" {FONT}>{escape(f"{bar.value:.2f}")} '
            f'{escape(bar.grade)}{" 否决" if bar.veto else ""}</text></g>'
        )
    axis_y = top + row_h * len(bars) + 4
    parts.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#999"/>')
    for fraction in (0, 0.5, 1):
        x = label_w + fraction * plot_w
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" font-size="10" text-anchor="middle" fill="#666" {FONT}>'
                     f'{_num(float(top_value) * fraction)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bins(values: list[Decimal], bin_width: int = 5) -> list[tuple[int, int, int]]:
    """(low, high, count) of half-open bins [low, high) covering the values (the top bin is closed)."""
    if not values:
        return []
    low = int(min(values) // bin_width) * bin_width
    high = int(max(values) // bin_width) * bin_width + bin_width
    edges = list(range(low, high, bin_width))
    counts = [0] * len(edges)
    for value in values:
        index = min(int((value - low) // bin_width), len(edges) - 1)
        counts[index] += 1
    return [(edge, edge + bin_width, count) for edge, count in zip(edges, counts, strict=True)]


def histogram(values: list[Decimal], *, bin_width: int = 5, title: str = "", width: int = 680) -> Markup:
    data = bins(values, bin_width)
    if not data:
        return Markup("")
    top, bottom, left, height = 30 if title else 8, 36, 36, 220
    plot_h = height - top - bottom
    plot_w = width - left - 10
    most = max(c for _, _, c in data)
    slot = plot_w / len(data)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "得分分布")}">'
    ]
    if title:
        parts.append(f'<text x="0" y="18" font-size="14" font-weight="bold" {FONT}>{escape(title)}</text>')
    base = top + plot_h
    for index, (lo, hi, count) in enumerate(data):
        h = count / most * plot_h if most else 0
        x = left + index * slot
        parts.append(
            f'<g class="bin"><title>{lo}–{hi} 分：{count} 个单位</title>'
            f'<rect x="{x + 2:.1f}" y="{base - h:.1f}" width="{slot - 4:.1f}" height="{h:.1f}" fill="#5c6bc0"/>'
            f'<text x="{x + slot / 2:.1f}" y="{base - h - 3:.1f}" font-size="11" text-anchor="middle" {FONT}>'
            f'{count if count else ""}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{base + 14}" font-size="10" text-anchor="middle" fill="#444" {FONT}>'
            f'{lo}–{hi}</text></g>'
        )
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" '
                 f'fill="#444" {FONT}>总分区间（分）· 单位数</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
