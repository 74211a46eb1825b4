"""`ebbtide check`: what this machine offers the device. Missing hardware is a warning; a
configured breath sensor is read for a few seconds, with the rate if someone breathes on it."""

from __future__ import annotations

import argparse
import sys

from audio.stream import AudioUnavailable, describe_output
from device.commands import exit_codes
from device.commands.breath_record import sensor_report
from device.commands.progress import ProgressBar
from device.core.config import Config
from device.core.plan import plan_session, session_shape, voice_lines
from device.core.script import Script
from device.files.config_file import find
from device.service.wiring import speaker_for
from hardware.pins import NoPins, choose_factory, describe_factory


def report(config: Config, script: Script) -> int:
    """Print one line per component; return 0, or 2 if the voice model asked for will not
    load (the config is already known to be valid)."""
    pattern = config.pattern()
    length = (f"{pattern.max_cycles} cycles" if pattern.max_cycles
              else f"{config.breathing.minutes:g} min")
    print(f"pattern: {pattern.name}, {length} of breathing; "
          f"script: {script.where} ({len(script.texts())} lines)")
    # This fills the voice cache the service will read.
    speaker = speaker_for(config, language=script.language)
    lines = voice_lines(config, script)
    bar = ProgressBar.on_terminal(sys.stderr)
    seconds = speaker.prepare(lines, bar, log_problems=False)
    if bar:
        bar.done()
    voice = speaker.voice_report
    assert voice is not None
    if not config.voice.enabled:
        print("voice: off ([voice] enabled = false): sessions are silent, but for the chime "
              "and the tide if [audio] has them")
    if voice.engine:
        model = f", model {voice.model}" if voice.model else ""
        print(f"voice: {voice.engine}{model}, {config.voice.rate} words/min")
    if voice.natural_failure:
        print(f"voice: warning: {voice.natural_failure}; espeak-ng speaks every line")
    if voice.remade:
        shown = ", ".join(f"{line_id} ({how})" for line_id, how in voice.remade.items())
        print(f"voice: warning: the speech process died making {len(voice.remade)} "
              f"line{'s' if len(voice.remade) > 1 else ''}, made again: {shown}")
    status = exit_codes.OK
    if voice.model_failure:  # the README promises exit 2 for a voice model that will not do
        print(f"voice: error: {voice.model_failure}; espeak-ng speaks instead. Set [voice] "
              "model to a Piper voice that works (its .onnx and .onnx.json), or remove it")
        status = exit_codes.CONFIG
    if voice.failure:
        print(f"voice: warning: {voice.failure}; "
              + (f"{len(seconds)} of {len({ln.text for ln in lines})} lines are ready"
                 if seconds else "sessions run with the light only"))
    if seconds:
        made = (f"{voice.rendered} made now in {voice.seconds:.1f} s" if voice.rendered
                else f"all were made before; checked in {voice.seconds:.1f} s")
        print(f"voice cache: {speaker.cache_directory}: {len(seconds)} lines ready "
              f"({made}; {voice.recorded} from recordings)")
    plan = plan_session(config, script, seconds)
    print(f"session: {session_shape(plan)}")
    if config.voice.recordings:
        print(f"recordings: {config.voice.recordings}: {voice.recorded} of "
              f"{len(script.texts())} lines")
        for problem in voice.problems:
            print(f"recordings: warning: {problem}")
    try:
        print(f"audio: {describe_output(config.audio.output)}")
    except AudioUnavailable as error:
        print(f"audio: warning: {error}; sessions run with the light only")
    try:
        factory = choose_factory()
        light = "an RGB light on " if config.light.kind == "rgb" else "light on "
        print(f"pins: {describe_factory(factory)}: {light}{config.light.describe_pins()}, "
              f"button on GPIO{config.button.pin}")
        factory.close()
    except NoPins as error:
        print(f"pins: warning: {error}")
    print(sensor_report(config, announce=_on_terminal))
    return status


def _on_terminal(line: str) -> None:
    """What is about to take a while, said where a person is watching (not into a pipe)."""
    if sys.stderr.isatty():
        print(line, file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """The config found (and valid), then `report`; the exit code."""
    from device.commands.config_and_script import load

    path = find(args.config)
    config, script = load(args)
    print(f"config: {path or 'none found, using the built-in defaults'}: valid")
    return report(config, script)
