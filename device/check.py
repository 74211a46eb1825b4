"""`ebbtide check`: what this machine offers the device. Missing hardware is a warning."""

from __future__ import annotations

from audio.stream import AudioUnavailable, describe_output
from audio.tts import EspeakTTS, TTSUnavailable
from device.appliance import speaker_for
from device.config import Config
from device.script import Script
from hardware.pins import NoPins, choose_factory, describe_factory


def report(config: Config, script: Script) -> int:
    """Print one line per component; return 0 (the config is already known to be valid)."""
    pattern = config.pattern()
    length = (f"{pattern.max_cycles} cycles" if pattern.max_cycles
              else f"{config.breathing.minutes:g} min")
    print(f"pattern: {pattern.name}, {length} of breathing; "
          f"script: {config.voice.script or 'built in'} ({len(script.texts())} lines)")
    try:
        tts = EspeakTTS(voice=config.voice.voice, rate=config.voice.rate,
                        volume=config.voice.volume)
        clip = tts.render(script.arrive[0])
        print(f"voice: {tts.engine_name}, voice {tts.voice_in_use}, "
              f"{tts.rate} words/min: ok ({clip.seconds:.1f} s for the first line)")
    except TTSUnavailable as error:
        print(f"voice: warning: {error}; sessions run with the light only")
    else:
        speaker = speaker_for(config)  # fills the voice cache, as the service will use it
        if speaker.prepare(script.texts()):
            where = speaker.cache_directory or "memory only (the cache is not writable)"
            print(f"voice cache: {where}: all {len(script.texts())} lines ready")
    try:
        print(f"audio: {describe_output(config.audio.output)}")
    except AudioUnavailable as error:
        print(f"audio: warning: {error}; sessions run with the light only")
    try:
        factory = choose_factory()
        print(f"pins: {describe_factory(factory)}: light on GPIO{config.light.pin}, "
              f"button on GPIO{config.button.pin}")
        factory.close()
    except NoPins as error:
        print(f"pins: warning: {error}")
    return 0
