"""The button reports raw edges from the pin, wired to GND with the pull-up."""

from __future__ import annotations

from hardware.button import ButtonEdges


def test_edges_follow_the_pin(pins):
    edges = []
    button = ButtonEdges(17, edges.append, pin_factory=pins)
    pin = pins.pin(17)
    pin.drive_low()
    pin.drive_high()
    pin.drive_low()
    pin.drive_high()
    assert edges == [True, False, True, False]
    button.close()
