"""The README's wiring pictures, drawn with schemdraw as deterministic SVGs: the button and
the LED (wiring.svg), and the breath sensor on I2C (sensor_wiring.svg).

Regenerate them, with the other README pictures, with `python -m docs.pictures` (or alone
with `python -m docs.wiring docs/wiring.svg`, `--sensor` for the sensor's). The GPIO numbers
come from Ebbtide's defaults (`device.core.config.Config`), so the picture follows them; the
I2C pins are the header's own (bus 1: SDA GPIO2, SCL GPIO3).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import schemdraw
import schemdraw.elements as elm

from device.core.config import Config

# BCM GPIO number -> physical pin on the Raspberry Pi's 40-pin header.
BCM_TO_PHYSICAL: dict[int, int] = {
    0: 27, 1: 28, 2: 3, 3: 5, 4: 7, 5: 29, 6: 31, 7: 26, 8: 24, 9: 21, 10: 19, 11: 23,
    12: 32, 13: 33, 14: 8, 15: 10, 16: 36, 17: 11, 18: 12, 19: 35, 20: 38, 21: 40,
    22: 15, 23: 16, 24: 18, 25: 22, 26: 37, 27: 13,
}
GROUND_PINS = (6, 9, 14, 20, 25, 30, 34, 39)

TITLE = "Ebbtide wiring (Raspberry Pi header, physical pin numbers in brackets)"
RESISTOR = "220\N{EN DASH}330 Ω"
PULL_UP_NOTE = "internal pull-up: no resistor needed"
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
GREY = "#555555"


def physical_pin(gpio: int) -> int:
    """The header pin of BCM GPIO `gpio`."""
    try:
        return BCM_TO_PHYSICAL[gpio]
    except KeyError:
        raise ValueError(f"GPIO{gpio} is not on the 40-pin header (GPIO 0 to 27)") from None


def nearest_ground(pin: int) -> int:
    """The GND pin closest to header pin `pin` (the lower one on a tie)."""
    return min(GROUND_PINS, key=lambda ground: (abs(ground - pin), ground))


def gpio_label(gpio: int) -> str:
    """A terminal's label, such as "GPIO17 (pin 11)"."""
    return f"GPIO{gpio} (pin {physical_pin(gpio)})"


def labels(config: Config | None = None) -> dict[str, str]:
    """The terminal labels for `config` (default: Ebbtide's defaults)."""
    config = config or Config()
    button, light = physical_pin(config.button.pin), physical_pin(config.light.pin)
    return {
        "button": gpio_label(config.button.pin),
        "button_ground": f"GND (pin {nearest_ground(button)})",
        "light": gpio_label(config.light.pin),
        "light_ground": f"GND (pin {nearest_ground(light)})",
    }


def _text(d: schemdraw.Drawing, xy: tuple[float, float], text: str, *, size: float = 14,
          halign: str = "center", color: str = "black") -> None:
    """Free text at `xy`."""
    d.add(elm.Label().at(xy).label(text, halign=halign, fontsize=size, color=color))


def _terminal(d: schemdraw.Drawing, xy: tuple[float, float], text: str, side: str) -> None:
    """An open dot (a wire to the header) at `xy`, labelled on the `side` ("left"/"right")."""
    d.add(elm.Dot(open=True, radius=0.1).at(xy))
    dx = -0.3 if side == "left" else 0.3
    _text(d, (xy[0] + dx, xy[1]), text, size=15, halign="right" if side == "left" else "left")


def _drawing(config: Config | None = None) -> schemdraw.Drawing:
    """Build the drawing: the button's circuit above, the LED's below."""
    names = labels(config)
    d = schemdraw.Drawing(canvas="svg", show=False)
    d.config(font=FONT, fontsize=14, lw=2, bgcolor="white", margin=0)
    end = 8.5  # x of the GND terminals

    _text(d, (-3.6, 2.4), TITLE[: TITLE.index(" (")], size=18, halign="left")
    _text(d, (-3.6, 1.75), TITLE[TITLE.index(" (") + 1:], size=13, halign="left", color=GREY)

    # The button: GPIO -> push button -> GND.
    _terminal(d, (0, 0), names["button"], "left")
    d.add(elm.Line().at((0, 0)).right().length(2.75))
    button = d.add(elm.Button().right().label("push button", loc="top", ofst=0.15))
    d.add(elm.Line().right().tox(end))
    _terminal(d, (end, 0), names["button_ground"], "right")
    _text(d, (button.center[0], -0.7), PULL_UP_NOTE, size=13, color=GREY)

    # The light: GPIO -> resistor -> LED (anode, the long leg, first) -> GND.
    y = -2.8
    _terminal(d, (0, y), names["light"], "left")
    d.add(elm.Line().at((0, y)).right().length(0.5))
    d.add(elm.Resistor().right().label(RESISTOR, loc="top", ofst=0.15))
    d.add(elm.Line().right().length(0.75))
    led = d.add(elm.LED().right().length(3.75))
    d.add(elm.Line().right().tox(end))
    _terminal(d, (end, y), names["light_ground"], "right")
    body = led.center[0]
    _text(d, (body - 0.35, y + 0.45), "LED", size=14, halign="right")
    _text(d, (body - 0.35, y - 0.45), "+ long leg", size=13, halign="right", color=GREY)
    _text(d, (body + 0.35, y - 0.45), "\N{MINUS SIGN} short leg", size=13, halign="left",
          color=GREY)

    _white_card(d)
    return d


def _white_card(d: schemdraw.Drawing) -> None:
    """A white card behind everything, so the picture reads on a dark page too; the extra
    room at the sides is for fonts wider than schemdraw's estimate."""
    box = d.get_bbox()
    padx, pady = 0.6, 0.3
    d.add(elm.Rect((box.xmin - padx, box.ymax + pady), (box.xmax + padx, box.ymin - pady),
                   fill="white").at((0, 0)).theta(0).color("white").zorder(0))


SENSOR_TITLE = "Breath sensor wiring (I2C bus 1, physical pin numbers in brackets)"
SDA, SCL = 2, 3  # the header's I2C bus 1
THREE_V3_PIN = 1
SENSOR_PARTS = ("LSM6DS3TR-C or LSM6DSOX board", "or an MPU-6050 (GY-521) board")
SENSOR_NOTES = (
    "the Pi pulls SDA and SCL up to 3.3 V itself (1.8 k\N{OHM SIGN}): no resistors needed",
    "address pin (SDO/SA0, or AD0 on the MPU-6050) to GND: 0x6A (0x68); to 3V3: 0x6B (0x69)",
    "a thin four-core cable of up to about a metre; 3.3 V only, never 5 V",
)


def sensor_labels() -> list[tuple[str, str]]:
    """(the header's terminal, the board's pin), top to bottom."""
    ground = nearest_ground(physical_pin(SCL))
    return [(f"3V3 (pin {THREE_V3_PIN})", "VCC / VIN"),
            (f"GND (pin {ground})", "GND"),
            (f"GPIO{SDA} SDA (pin {physical_pin(SDA)})", "SDA"),
            (f"GPIO{SCL} SCL (pin {physical_pin(SCL)})", "SCL")]


def _sensor_drawing() -> schemdraw.Drawing:
    """Four wires from the header to the breath puck's board."""
    d = schemdraw.Drawing(canvas="svg", show=False)
    d.config(font=FONT, fontsize=14, lw=2, bgcolor="white", margin=0)
    board_x, board_right = 7.0, 11.0
    _text(d, (-3.6, 2.4), SENSOR_TITLE[: SENSOR_TITLE.index(" (")], size=18, halign="left")
    _text(d, (-3.6, 1.75), SENSOR_TITLE[SENSOR_TITLE.index(" (") + 1:], size=13, halign="left",
          color=GREY)
    rows = sensor_labels()
    top, step = 0.0, -1.0
    for i, (header, pin) in enumerate(rows):
        y = top + i * step
        _terminal(d, (0, y), header, "left")
        d.add(elm.Line().at((0, y)).right().tox(board_x))
        d.add(elm.Dot(radius=0.08).at((board_x, y)))
        _text(d, (board_x + 0.25, y), pin, size=14, halign="left")
    bottom = top + (len(rows) - 1) * step
    d.add(elm.Rect((board_x, top + 0.7), (board_right, bottom - 0.7)).at((0, 0)).theta(0))
    _text(d, ((board_x + board_right) / 2, top + 1.05), "breath puck", size=14)
    for i, line in enumerate(SENSOR_PARTS):
        _text(d, (board_right + 0.3, top - 0.3 - 0.6 * i), line, size=13, halign="left",
              color=GREY)
    for i, note in enumerate(SENSOR_NOTES):
        _text(d, (-3.6, bottom - 1.3 - 0.6 * i), note, size=13, halign="left", color=GREY)
    _white_card(d)
    return d


def _svg(drawing: schemdraw.Drawing) -> bytes:
    text_mode = schemdraw.svgconfig.text
    schemdraw.svgconfig.text = "text"  # real <text>: searchable, and no font files needed
    try:
        image: bytes = drawing.get_imagedata("svg")
    finally:
        schemdraw.svgconfig.text = text_mode
    return image


def draw_wiring(path: Path, config: Config | None = None) -> None:
    """Write the wiring picture for `config` (default: Ebbtide's defaults) to `path` as SVG."""
    Path(path).write_bytes(_svg(_drawing(config)))


def draw_sensor_wiring(path: Path) -> None:
    """Write the breath sensor's wiring picture to `path` as SVG."""
    Path(path).write_bytes(_svg(_sensor_drawing()))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m docs.wiring [--sensor] OUT.svg`: write the wiring picture (the breath
    sensor's, with --sensor)."""
    parser = argparse.ArgumentParser(prog="python -m docs.wiring", description=__doc__)
    parser.add_argument("out", type=Path, help="the SVG file to write")
    parser.add_argument("--sensor", action="store_true",
                        help="the breath sensor on I2C instead of the button and the LED")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() != ".svg":
        print(f"docs.wiring: {args.out} is not an .svg file name", file=sys.stderr)
        return 2
    if args.sensor:
        draw_sensor_wiring(args.out)
    else:
        draw_wiring(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
