"""The README's wiring picture (docs/wiring.py): a well-formed SVG showing the default pins."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from device.core.config import Config
from docs.wiring import (
    BCM_TO_PHYSICAL,
    GROUND_PINS,
    draw_sensor_wiring,
    draw_wiring,
    main,
    sensor_labels,
)

ROOT = Path(__file__).resolve().parents[2]


def texts(path: Path) -> list[str]:
    """Every text in the SVG at `path`, one string per <text> element."""
    root = ET.parse(path).getroot()
    return ["".join(e.itertext()) for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "text"]


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wiring") / "wiring.svg"
    draw_wiring(path)
    return path


def test_the_picture_is_a_well_formed_svg_with_a_size(picture):
    root = ET.parse(picture).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") and len(root.get("viewBox").split()) == 4
    assert root.get("width") and root.get("height")


def test_the_picture_has_a_white_background(picture):
    root = ET.parse(picture).getroot()
    assert "background-color:white" in root.get("style", "")
    first = next(iter(root))  # drawn first, so behind everything
    assert "fill:white" in first.get("style", "")


def test_the_picture_shows_every_label_of_the_readme(picture):
    shown = texts(picture)
    for label in ("GPIO17 (pin 11)", "GND (pin 9)", "GPIO18 (pin 12)", "220\N{EN DASH}330 Ω",
                  "GND (pin 14)", "internal pull-up: no resistor needed", "+ long leg",
                  "push button", "LED"):
        assert label in shown, f"{label!r} is not in the picture: {shown}"
    assert any(t.startswith("Ebbtide wiring") for t in shown)
    assert any("physical pin numbers" in t for t in shown)


def test_the_pins_are_ebbtides_defaults(picture):
    config = Config()
    shown = texts(picture)
    assert f"GPIO{config.button.pin} (pin {BCM_TO_PHYSICAL[config.button.pin]})" in shown
    assert f"GPIO{config.light.pin} (pin {BCM_TO_PHYSICAL[config.light.pin]})" in shown


def test_the_picture_follows_the_configured_pins(tmp_path):
    default = Config()
    config = replace(default, button=replace(default.button, pin=27),
                     light=replace(default.light, pin=13))
    path = tmp_path / "other.svg"
    draw_wiring(path, config)
    shown = texts(path)
    assert "GPIO27 (pin 13)" in shown and "GND (pin 14)" in shown
    assert "GPIO13 (pin 33)" in shown and "GND (pin 34)" in shown
    assert "GPIO17 (pin 11)" not in shown


def test_the_header_map_is_the_40_pin_header():
    assert sorted(BCM_TO_PHYSICAL) == list(range(28))
    pins = set(BCM_TO_PHYSICAL.values())
    assert len(pins) == 28
    power = {1, 2, 4, 17}
    assert pins | power | set(GROUND_PINS) == set(range(1, 41))
    assert not pins & set(GROUND_PINS)


def test_two_runs_give_identical_bytes(tmp_path):
    first, second = tmp_path / "first.svg", tmp_path / "second.svg"
    draw_wiring(first)
    draw_wiring(second)
    assert first.read_bytes() == second.read_bytes()


def test_the_cli_writes_the_picture(tmp_path, picture):
    out = tmp_path / "cli.svg"
    result = subprocess.run([sys.executable, "-m", "docs.wiring", str(out)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == picture.read_bytes()


def test_the_cli_refuses_a_name_that_is_not_svg(tmp_path, capsys):
    out = tmp_path / "wiring.png"
    assert main([str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wiring.png" in err and ".svg" in err
    assert not out.exists()


@pytest.fixture(scope="module")
def sensor_picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sensor") / "sensor_wiring.svg"
    draw_sensor_wiring(path)
    return path


def test_the_sensor_picture_wires_the_header_s_i2c_pins_to_the_board(sensor_picture):
    shown = texts(sensor_picture)
    for label in ("3V3 (pin 1)", "GND (pin 6)", "GPIO2 SDA (pin 3)", "GPIO3 SCL (pin 5)",
                  "VCC / VIN", "GND", "SDA", "SCL", "breath puck",
                  "LSM6DS3TR-C or LSM6DSOX board", "or an MPU-6050 (GY-521) board"):
        assert label in shown, f"{label!r} is not in the picture: {shown}"
    assert any(t.startswith("Breath sensor wiring") for t in shown)
    assert any("no resistors needed" in t for t in shown)
    assert any("0x6A (0x68)" in t and "0x6B (0x69)" in t for t in shown)


def test_the_sensor_picture_s_pins_are_i2c_bus_1_on_the_header():
    assert (BCM_TO_PHYSICAL[2], BCM_TO_PHYSICAL[3]) == (3, 5)
    assert [header for header, _ in sensor_labels()] == [
        "3V3 (pin 1)", "GND (pin 6)", "GPIO2 SDA (pin 3)", "GPIO3 SCL (pin 5)"]


def test_the_sensor_picture_is_drawn_the_same_every_time_and_by_the_cli(tmp_path,
                                                                         sensor_picture):
    out = tmp_path / "cli.svg"
    assert main(["--sensor", str(out)]) == 0
    assert out.read_bytes() == sensor_picture.read_bytes()
    root = ET.parse(out).getroot()
    assert "background-color:white" in root.get("style", "")
