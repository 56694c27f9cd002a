"""HTML → PDF with wkhtmltopdf through pdfkit: offline, no JavaScript, CJK fonts from the system.

``render_pdf(html)`` is reusable by any page. The HTML must be self-contained (inline CSS; fonts by
``font-family: "Noto Sans CJK SC"`` from the fonts-noto-cjk package). wkhtmltopdf runs with
JavaScript disabled, local file access allowed only below ``static/`` (``--allow``), and every
http(s) request sent to a dead local proxy, so a page can never reach the network.

Qt's PDF writer builds each font's ToUnicode map by taking, for every glyph, the lowest code point
the font maps to it. Noto CJK maps radicals (U+2E80–U+2FDF) to the same glyphs as the ideographs,
so "目" would extract as "⽬" (U+2F6C) and "长" as "⻓". ``_fix_to_unicode`` rewrites those entries
in place (same length, so the xref table stays valid) using the font's own cmap (``pdf_fonts``):
copy/paste and pdftotext give the real text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pdfkit
from flask import current_app

from app.errors import DomainError
from app.services import pdf_fonts

INSTALL_HINT = "apt-get install wkhtmltopdf fonts-noto-cjk"
FONT_FAMILY = '"Noto Sans CJK SC", "Noto Sans SC", "Noto Serif CJK SC", sans-serif'
TIMEOUT_SECONDS = 60
STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"


class PdfUnavailable(DomainError):
    """wkhtmltopdf is missing or failed; the message says how to install it."""

    status = 503


def binary() -> str | None:
    """The wkhtmltopdf executable: config ``WKHTMLTOPDF`` if set, else the one on PATH."""
    configured = current_app.config.get("WKHTMLTOPDF")
    if configured:
        return str(configured) if Path(configured).is_file() else None
    return shutil.which("wkhtmltopdf")


def options() -> dict[str, str | None]:
    return {
        "encoding": "utf-8",
        "quiet": None,
        "disable-javascript": None,
        "enable-local-file-access": None,
        "allow": str(STATIC_DIR),
        "proxy": "http://127.0.0.1:9",  # nothing listens there: no network fetches
        "disable-external-links": None,
        "page-size": "A4",
        "margin-top": "18mm",
        "margin-bottom": "18mm",
        "margin-left": "16mm",
        "margin-right": "16mm",
    }


def render_pdf(html: str) -> bytes:
    """The PDF of ``html``. Raises PdfUnavailable (with install instructions) if wkhtmltopdf is missing."""
    path = binary()
    if path is None:
        raise PdfUnavailable(f"服务器未安装 PDF 生成组件 wkhtmltopdf，请联系管理员安装：{INSTALL_HINT}")
    try:
        config = pdfkit.configuration(wkhtmltopdf=path)
        # an empty source: pdfkit must not read options from <meta name="pdfkit-..."> tags of the page
        command = pdfkit.PDFKit("", "string", options=options(), configuration=config).command()
    except OSError as exc:
        raise PdfUnavailable(f"PDF 生成组件不可用（{exc}），请联系管理员安装：{INSTALL_HINT}") from exc
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list built by pdfkit, no shell
            command, input=html.encode("utf-8"), capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PdfUnavailable(f"PDF 生成失败（{exc}），请联系管理员检查：{INSTALL_HINT}") from exc
    if not done.stdout.startswith(b"%PDF"):
        detail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        raise PdfUnavailable(f"PDF 生成失败（退出码 {done.returncode}）：{detail}")
    return _fix_to_unicode(done.stdout)


_CMAP_BLOCK = re.compile(rb"begin(bfrange|bfchar)(.*?)end\1", re.S)
_HEX = re.compile(rb"<([0-9A-Fa-f]{4})>")
_ARRAY_LINE = re.compile(rb"^(\s*<[0-9A-Fa-f]+>\s*<[0-9A-Fa-f]+>\s*)\[(.*)\]", re.S)


def _ideograph(code: bytes) -> bytes:
    """``2F6C`` → ``76EE``: a radical becomes the ideograph sharing its glyph in the font (else its
    single-ideograph NFKC form); anything else is unchanged."""
    point = int(code, 16)
    if not (0x2E80 <= point <= 0x2FDF):
        return code
    target = pdf_fonts.radical_map().get(point)
    if target is None:
        normal = unicodedata.normalize("NFKC", chr(point))
        target = ord(normal) if len(normal) == 1 and ord(normal) <= 0xFFFF else point
    return f"{target:04X}".encode()


def _fix_line(kind: bytes, line: bytes) -> bytes:
    tokens = _HEX.findall(line)
    if kind == b"bfchar" and len(tokens) == 2:
        start = line.rfind(b"<" + tokens[1] + b">")
        return line[: start + 1] + _ideograph(tokens[1]) + line[start + 5 :]
    array = _ARRAY_LINE.match(line)
    if array:  # <lo> <hi> [<u1> <u2> ...]: every destination can be fixed
        inner = _HEX.sub(lambda m: b"<" + _ideograph(m.group(1)) + b">", array.group(2))
        return array.group(1) + b"[" + inner + b"]" + line[array.end() :]
    if len(tokens) == 3 and tokens[0] == tokens[1]:  # <lo> <lo> <u>: a single glyph
        start = line.rfind(b"<" + tokens[2] + b">")
        return line[: start + 1] + _ideograph(tokens[2]) + line[start + 5 :]
    return line


def _fix_to_unicode(pdf: bytes) -> bytes:
    def block(match: re.Match[bytes]) -> bytes:
        kind = match.group(1)
        body = b"\n".join(_fix_line(kind, line) for line in match.group(2).split(b"\n"))
        return b"begin" + kind + body + b"end" + kind

    fixed = _CMAP_BLOCK.sub(block, pdf)
    return fixed if len(fixed) == len(pdf) else pdf
