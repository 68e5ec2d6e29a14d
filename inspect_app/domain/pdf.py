"""Shared PDF basics (ReportLab): an embedded CJK font, paragraph styles and scaled photos.

Chinese text only renders if a CJK TrueType font is embedded; ReportLab's built-in CID fonts
depend on the reader having the font, so we embed WenQuanYi Micro Hei (Debian's
fonts-wqy-microhei) instead. Used by the rectification notice and the weekly report.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image

FONT = "WenQuanYiMicroHei"
FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/local/share/fonts/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy-microhei/wqy-microhei.ttc",
)


class FontMissing(RuntimeError):
    pass


@lru_cache
def register_font() -> str:
    """Register the CJK font once (as regular and bold: the face has no bold) and return its name."""
    for path in FONT_PATHS:
        if Path(path).exists():
            pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
            pdfmetrics.registerFontFamily(
                FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT
            )
            return FONT
    raise FontMissing(
        "The CJK font WenQuanYi Micro Hei was not found (looked in: "
        + ", ".join(FONT_PATHS)
        + "). Install it: apt-get install fonts-wqy-microhei"
    )


@lru_cache
def styles() -> dict[str, ParagraphStyle]:
    """Paragraph styles in the CJK font: title, h2, body, small, cell (table cells)."""
    font = register_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=15, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=body, fontSize=18, leading=24, alignment=TA_CENTER, spaceAfter=8
        ),
        "h2": ParagraphStyle(
            "h2", parent=body, fontSize=13, leading=18, spaceBefore=8, spaceAfter=4
        ),
        "body": body,
        "small": ParagraphStyle(
            "small", parent=body, fontSize=8.5, leading=11, textColor=colors.grey
        ),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=12),
    }


def photo(path: str | Path, max_width: float, max_height: float) -> Image:
    """A photo as a flowable scaled to fit the box, keeping its aspect ratio."""
    width, height = ImageReader(str(path)).getSize()
    scale = min(max_width / width, max_height / height)
    return Image(str(path), width=width * scale, height=height * scale)
