"""`ebbtide off`: the light (and the motor) off, from a process of its own.

systemd runs this after the service ends, however it ended (ExecStopPost=), so a killed or
crashed service never leaves the light lit.
"""

from __future__ import annotations

import argparse
import logging

from device.commands import exit_codes
from device.core.config import Config, ConfigError
from device.files.config_file import load_config

log = logging.getLogger("ebbtide")


def cmd_off(args: argparse.Namespace) -> int:
    """Every pin of the light driven dark and let go; the exit code."""
    from hardware.light import switch_off
    from hardware.motor import switch_off as stop_motor
    from hardware.pins import NoPins, choose_factory

    try:
        config = load_config(args.config)
    except ConfigError as error:  # `run` used the same pin: the usable part, or the defaults
        config = error.usable or Config()
    except Exception as error:  # whatever the file holds, the light still goes off
        log.warning("cannot read the config (%s): switching off the default pins", error)
        config = Config()
    light = config.light
    pins = ", ".join(f"GPIO{pin}" for pin in light.gpio_pins)
    # An RGB light's three pins are driven as GPIOs, as `run` drives them; a common-anode
    # die is dark when its pins are high.
    rgb = light.kind == "rgb"
    backend = "gpiozero" if rgb else light.backend
    lit_when_high = light.common == "cathode" if rgb else True
    try:
        factory = choose_factory()
        for pin in light.gpio_pins:
            how = switch_off(pin, factory, backend, lit_when_high=lit_when_high)
        if config.haptic.pin is not None:
            stop_motor(config.haptic.pin, factory)
        factory.close()
    except NoPins as error:
        log.error("%s", error)
        return exit_codes.FAILED
    except Exception as error:  # e.g. the pin is held by another program
        log.error("cannot switch the light (%s) off: %s", pins, error)
        return exit_codes.FAILED
    log.info("the light (%s) is off%s%s", pins,
             f" ({how})" if how.startswith("hardware") else "",
             f"; the motor (GPIO{config.haptic.pin}) is still" if config.haptic.pin is not None
             else "")
    return exit_codes.OK
