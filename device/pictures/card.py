"""The bedside card drawn on one A6 page (PDF, PNG or SVG), large enough to read by a lamp.

Text is laid out by measuring each word in the font it is drawn in, so nothing runs off the
page; every size starts large and steps down together until the card's words fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.pictures import picture
from device.words.card import Card

A6_MM = (105.0, 148.0)
MARGIN_MM = 8.0
TITLE_PT, HEADING_PT, BODY_PT = 13.0, 8.5, 7.5
SMALLEST_BODY_PT = 5.5
LEADING = 1.28  # line height, as a share of the font size
INK = "#222222"
ACCENT = "#1f4e79"  # the tide's colour in the session picture
_PT_PER_MM = 72 / 25.4


def write_card(card: Card, path: Path) -> None:
    """Draw the card and save it as PDF, PNG or SVG (by the file name)."""
    picture.check_path(path, picture.PRINT_FORMATS)
    picture.save(draw_card(card), path, formats=picture.PRINT_FORMATS, dpi=picture.PRINT_DPI)


def draw_card(card: Card, size_mm: tuple[float, float] = A6_MM) -> Any:
    fig = picture.page(*size_mm)
    width, height = (mm * _PT_PER_MM for mm in size_mm)
    scale = 1.4
    while True:
        placed = _layout(card, width - 2 * MARGIN_MM * _PT_PER_MM, scale)
        if placed[-1][1] <= height - 2 * MARGIN_MM * _PT_PER_MM or \
                BODY_PT * scale <= SMALLEST_BODY_PT:
            break
        scale *= 0.95
    left, top = MARGIN_MM * _PT_PER_MM, MARGIN_MM * _PT_PER_MM
    for text, y, size, style in placed:
        fig.text(left / width, 1 - (top + y) / height, text, fontsize=size, va="top",
                 ha="left", color=ACCENT if style == "title" else INK,
                 fontweight="bold" if style in ("title", "heading") else "normal")
    return fig


def _layout(card: Card, width: float, scale: float) -> list[tuple[str, float, float, str]]:
    """(text, top in points from the top margin, size, style) of every line, in order; the
    last is the page's lowest line, with its bottom."""
    placed: list[tuple[str, float, float, str]] = []
    y = 0.0

    def add(text: str, size: float, style: str, indent: str = "") -> None:
        nonlocal y
        for n, line in enumerate(_wrap(text, size, width, style != "body")):
            placed.append(((indent if n else "") + line, y, size, style))
            y += size * LEADING

    add(card.title, TITLE_PT * scale, "title")
    y += BODY_PT * scale * 0.5
    for section in card.sections:
        y += BODY_PT * scale * 0.45
        add(section.heading, HEADING_PT * scale, "heading")
        for line in section.lines:
            add(line, BODY_PT * scale, "body", indent="   ")
    y += BODY_PT * scale * 0.6
    add(card.footer, BODY_PT * scale * 0.9, "body")
    placed.append(("", y, 0.0, "end"))
    return placed


def _wrap(text: str, size: float, width: float, bold: bool) -> list[str]:
    """The words of `text` in lines no wider than `width` points, measured in the font."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and _width(trial, size, bold) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines


def _width(text: str, size: float, bold: bool) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    font = FontProperties(weight="bold" if bold else "normal")
    return float(TextPath((0, 0), text, size=size, prop=font).get_extents().width)
