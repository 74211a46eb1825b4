"""The parts of a device as [light], [haptic], [voice], [audio] and [sensor] configure them:
for the appliance, and for the commands that use them without it (render, check, script
check, breath record)."""

from __future__ import annotations

from pathlib import Path

from audio.mixer import Mixer
from audio.speaker import Speaker
from audio.voicemaker import VoiceSettings
from device.core.config import Config, SessionSettings
from hardware.i2c_bus import BusOpener, open_i2c_bus
from hardware.light import Light, RGBLight
from hardware.motion_chips import MotionChip, open_motion_chip
from hardware.motor import Motor
from hardware.pins import PinFactory


def speaker_for(config: Config, mixer: Mixer | None = None,
                cache_dir: Path | None = None, language: str = "en") -> Speaker:
    """The sound configured in [voice] and [audio], speaking `language` (the script's); with
    a mixer, an offline one."""
    v = config.voice
    return Speaker(voice=VoiceSettings(v.engine, v.model, v.voice, v.rate, v.volume,
                                       v.recordings, language),
                   device=config.audio.output, mixer=mixer, cache_dir=cache_dir,
                   chime=config.audio.chime, tide=config.audio.tide,
                   speaks=v.enabled)


def light_for(config: Config, pin_factory: PinFactory) -> Light | RGBLight:
    """The light configured in [light]: one LED, or an RGB one in its day colour."""
    c = config.light
    if c.kind == "rgb":
        return RGBLight(c.pins, color=c.color, common=c.common,
                        max_brightness=c.max_brightness, pin_factory=pin_factory)
    return Light(c.pin, max_brightness=c.max_brightness, pin_factory=pin_factory,
                 backend=c.backend)


def dress(light: Light | RGBLight, settings: SessionSettings) -> str | None:
    """Give the light a session's brightness (and colour); the colour, for the event (None
    for a single-colour light)."""
    light.max_brightness = settings.max_brightness
    if isinstance(light, RGBLight):
        light.color = settings.color
        return light.color
    return None


def motor_for(config: Config, pin_factory: PinFactory) -> Motor | None:
    """The vibration motor of [haptic], if it has a pin."""
    h = config.haptic
    if h.pin is None:
        return None
    return Motor(h.pin, strength=h.strength, start_duty=h.start_duty, pin_factory=pin_factory)


def sensor_for(config: Config, open_bus: BusOpener = open_i2c_bus) -> MotionChip | None:
    """The breath sensor of [sensor], identified and configured; None if there is none. A
    hardware.i2c_bus.SensorError (one line: the bus off, the i2c group, no chip, another chip)
    if it cannot be read."""
    s = config.sensor
    if s.kind == "none":
        return None
    return open_motion_chip(s.kind, s.bus, s.address, rate_hz=s.rate_hz, open_bus=open_bus)
