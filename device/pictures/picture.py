"""Pictures: matplotlib behind one door, headless and offline, with plain errors.

matplotlib is the optional `plots` extra, imported only when a picture is asked for, so
the appliance never loads it. Figures are drawn with the Agg canvas (no display, no
network) and saved without a timestamp, so the same input makes the same file.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from device.core.errors import EbbtideError
from device.files.atomic_file import WriteFailed, atomic_file

FORMATS = (".png", ".svg")
PRINT_FORMATS = (".pdf", ".png", ".svg")  # for a page to print (`ebbtide card`)
DPI = 100
PRINT_DPI = 300  # a printed page's PNG


class PictureError(EbbtideError):
    """A picture cannot be made; the message is one plain line for the user."""


def install_hint() -> str:
    """The exact command that installs matplotlib into the environment Ebbtide runs in."""
    return f"{sys.executable} -m pip install 'matplotlib>=3.6'"


def check_path(path: Path, formats: tuple[str, ...] = FORMATS) -> None:
    """Refuse a file name that is not a picture before any work is done."""
    if path.suffix.lower() not in formats:
        raise PictureError(f"cannot draw {path}: the file name must end in "
                           f"{', '.join(formats[:-1])} or {formats[-1]}")


def figure(width_px: int, height_px: int) -> Any:
    """A new matplotlib Figure on the Agg canvas, `width_px` x `height_px` when saved.

    The Figure is made directly (not through pyplot), so nothing is kept in a global
    figure registry and no GUI backend is ever looked for.
    """
    plots = require()
    from matplotlib.figure import Figure

    with plots.rc_context({"svg.hashsalt": "ebbtide"}):
        return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)


def page(width_mm: float, height_mm: float) -> Any:
    """A new Figure the size of a printed page (`ebbtide card`)."""
    plots = require()
    from matplotlib.figure import Figure

    with plots.rc_context({"svg.hashsalt": "ebbtide"}):
        return Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=PRINT_DPI)


_METADATA: dict[str, dict[str, None]] = {
    ".png": {"Software": None}, ".svg": {"Date": None, "Creator": None},
    ".pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}


def save(fig: Any, path: Path, private: bool = False, formats: tuple[str, ...] = FORMATS,
         dpi: int = DPI) -> None:
    """Write `fig` to `path` as PNG or SVG (or another of `formats`, by the suffix),
    creating the folder; a `private` picture (one drawn from the history) is readable by
    its owner only (0600), as the history itself is. The picture replaces the file that was
    there only once it is whole, and never through a symbolic link (device.files.atomic_file)."""
    check_path(path, formats)
    plots = require()
    suffix = path.suffix.lower()
    metadata = _METADATA[suffix]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PictureError(f"cannot make the folder {path.parent}: "
                           f"{error.strerror or error}") from None
    try:
        with atomic_file(path, private=private) as file, \
                plots.rc_context({"svg.hashsalt": "ebbtide", "svg.fonttype": "none",
                                  "pdf.fonttype": 42}):
            fig.savefig(file, dpi=dpi, format=suffix[1:], metadata=metadata)
    except WriteFailed as error:
        raise PictureError(str(error)) from None


def require() -> Any:
    """matplotlib, set to draw without a display; PictureError with the install command
    when it is not installed."""
    # matplotlib's info lines ("generated new fontManager") are not for the user, nor is
    # its warning when it cannot write its font cache (the service's user has no home) and
    # uses a temporary folder: the picture is right either way.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # a PDF's font subsetting
    try:
        import matplotlib
    except ImportError:
        raise PictureError("pictures need matplotlib, which is not installed here; install "
                           f"it with: {install_hint()}") from None
    return matplotlib
