"""Which ideograph a CJK radical code point stands for, read from the installed CJK font's cmap.

Qt (inside wkhtmltopdf) writes each glyph's lowest code point into the PDF's ToUnicode map. Noto
CJK maps radicals — Kangxi (U+2F00–U+2FDF) and the supplement (U+2E80–U+2EFF, e.g. ⻓ for 长) —
to the very glyphs of the ideographs, so the extracted text would show the radicals. This module
reads the font's own cmap (the face fontconfig picks for ``FAMILY``) and maps every radical to the
BMP ideograph sharing its glyph. Pure Python (struct), cached per process; empty if no font found.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from functools import lru_cache
from pathlib import Path

FAMILY = "Noto Sans CJK SC"
RADICALS = (0x2E80, 0x2FDF)
# preferred first: unified ideographs, extension A, compatibility ideographs
IDEOGRAPH_BLOCKS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))


def _font_face() -> tuple[Path, int] | None:
    tool = shutil.which("fc-match")
    if tool is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [tool, "-f", "%{file}\n%{index}\n", FAMILY], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split("\n")
        path, index = Path(out[0]), int(out[1] or 0)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return (path, index) if path.is_file() else None


def _tables(data: bytes, index: int) -> dict[bytes, tuple[int, int]]:
    base = 0
    if data[:4] == b"ttcf":
        (count,) = struct.unpack_from(">I", data, 8)
        base = struct.unpack_from(">I", data, 12 + 4 * min(index, count - 1))[0]
    (num_tables,) = struct.unpack_from(">H", data, base + 4)
    tables = {}
    for i in range(num_tables):
        tag, _checksum, offset, length = struct.unpack_from(">4sIII", data, base + 12 + 16 * i)
        tables[tag] = (offset, length)
    return tables


def _cmap(data: bytes, offset: int) -> dict[int, int]:
    """Code point → glyph from the best Unicode subtable (format 12, else format 4)."""
    _version, count = struct.unpack_from(">HH", data, offset)
    subtables = {}
    for i in range(count):
        platform, encoding, sub = struct.unpack_from(">HHI", data, offset + 4 + 8 * i)
        fmt = struct.unpack_from(">H", data, offset + sub)[0]
        subtables[(platform, encoding, fmt)] = offset + sub
    mapping: dict[int, int] = {}
    start = subtables.get((3, 10, 12)) or subtables.get((0, 4, 12))
    if start is not None:
        (groups,) = struct.unpack_from(">I", data, start + 12)
        for g in range(groups):
            first, last, glyph = struct.unpack_from(">III", data, start + 16 + 12 * g)
            for code in range(first, min(last, 0xFFFF) + 1):
                mapping[code] = glyph + code - first
        return mapping
    start = subtables.get((3, 1, 4)) or subtables.get((0, 3, 4))
    if start is None:
        return mapping
    segments = struct.unpack_from(">H", data, start + 6)[0] // 2
    ends = struct.unpack_from(f">{segments}H", data, start + 14)
    starts = struct.unpack_from(f">{segments}H", data, start + 16 + 2 * segments)
    deltas = struct.unpack_from(f">{segments}h", data, start + 16 + 4 * segments)
    range_at = start + 16 + 6 * segments
    offsets = struct.unpack_from(f">{segments}H", data, range_at)
    for s in range(segments):
        for code in range(starts[s], ends[s] + 1):
            if code == 0xFFFF:
                continue
            if offsets[s] == 0:
                glyph = (code + deltas[s]) & 0xFFFF
            else:
                at = range_at + 2 * s + offsets[s] + 2 * (code - starts[s])
                glyph = struct.unpack_from(">H", data, at)[0]
                glyph = (glyph + deltas[s]) & 0xFFFF if glyph else 0
            if glyph:
                mapping[code] = glyph
    return mapping


def _rank(code: int) -> int | None:
    for rank, (low, high) in enumerate(IDEOGRAPH_BLOCKS):
        if low <= code <= high:
            return rank
    return None


@lru_cache(maxsize=1)
def radical_map() -> dict[int, int]:
    """Radical code point → the ideograph drawn with the same glyph in the CJK font."""
    face = _font_face()
    if face is None:
        return {}
    try:
        data = face[0].read_bytes()
        offset, _length = _tables(data, face[1])[b"cmap"]
        cmap = _cmap(data, offset)
    except (OSError, KeyError, struct.error):
        return {}
    best: dict[int, tuple[int, int]] = {}  # glyph → (rank, code point)
    for code, glyph in cmap.items():
        rank = _rank(code)
        if rank is not None and (glyph not in best or (rank, code) < best[glyph]):
            best[glyph] = (rank, code)
    low, high = RADICALS
    return {code: best[glyph][1] for code, glyph in cmap.items() if low <= code <= high and glyph in best}
