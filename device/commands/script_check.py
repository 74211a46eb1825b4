"""`ebbtide script check [FILE]`: is an edited or translated script safe to use?

Errors (exit 2): the file will not load; a key of the built-in script is missing; a key is
unknown (a typo would be silently ignored); a breathing cue is too long for its phase at the
configured rate (it would be left out); a grounding prompt does not say its count; the
session would be too long. Warnings (exit 0): wording the tone rules avoid, with the reason.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from device.commands import exit_codes
from device.core import parts as registry
from device.core.config import Config, ConfigError
from device.core.script import OWN_PACE_ID, Script, ScriptError, parse_script, parse_toml
from device.core.text import did_you_mean, language_family
from device.files.config_file import load_config
from device.files.script_file import read_script

if TYPE_CHECKING:
    from device.core.plan import SessionPlan

# Words a count may be said with, by language (the digit always counts).
NUMBER_WORDS = {
    "en": {1: ("one", "a"), 2: ("two",), 3: ("three",), 4: ("four",), 5: ("five",),
           6: ("six",), 7: ("seven",), 8: ("eight",), 9: ("nine",)},
    "de": {1: ("eins", "ein", "eine", "einen", "einem", "einer"), 2: ("zwei",), 3: ("drei",),
           4: ("vier",), 5: ("fünf",), 6: ("sechs",), 7: ("sieben",), 8: ("acht",),
           9: ("neun",)},
}

# Wording the tone rules avoid: (pattern, why), by language; "*" applies to every language.
TONE = {
    "*": [(r"\bsex\w*|\borgasm\w*", "it mentions sex: the words never say what happened")],
    "en": [
        (r"\bcalm down\b|\brelax\b", "an order to feel calm; offer instead (\"you can let your "
                                     "breath slow\")"),
        (r"\byou (must|have to|need to)\b", "an order; offer a choice (\"you can\", \"if you "
                                            "like\")"),
        (r"\bshould(n't)?\b", "\"should\" judges or orders; say what is possible instead"),
        (r"\bsorry\b|\bapologies\b|\b(i|we) apologi[sz]e\b", "an apology: the voice never "
                                                             "apologises"),
        (r"\bdon't cry\b|\bstop crying\b", "it judges the tears; they are allowed"),
        # Claims the device cannot know: what happened, what caused it, how it will end.
        (r"\bnot alone\b", "a claim the device cannot know (no one may be there); say "
                          "\"I'm here with you\""),
        (r"\byou(?:'re| are) safe\b", "a claim the device cannot know; some people cry "
                                     "because something did go wrong"),
        (r"\bnothing (?:went|is|was) wrong\b", "a claim the device cannot know; some "
                                                "people cry because something did go wrong"),
        (r"\b(?:it|this|that) (?:will )?pass(?:es)?\b", "a promise of how it ends; say it "
                                                       "\"usually eases\""),
        (r"\bnothing needs\b", "close to \"nothing went wrong\"; the device cannot know"),
        (r"\byour body'?s? response\b|\bthis is your body\b", "it claims a cause; the device "
                                                              "cannot know why"),
        (r"\bletting go\b|\blets go\b", "it claims a cause (the body letting go); the device "
                                        "cannot know why"),
        (r"\bi'?m (?:okay|ok|fine)\b", "it hands the person words that may be untrue; offer "
                                     "words that ask for time"),
    ],
    "de": [
        (r"\bberuhig\w* dich\b|\bentspann dich\b", "eine Anweisung, ruhig zu sein; biete an "
                                                   "(\"du kannst\")"),
        (r"\bdu (musst|sollst)\b|\bmusst du\b", "eine Anweisung; biete eine Wahl an"),
        (r"\bsollte\w*\b", "\"sollte\" bewertet oder fordert"),
        (r"\bentschuldig(e|ung)\b|\btut mir leid\b", "eine Entschuldigung: die Stimme "
                                                      "entschuldigt sich nie"),
        (r"\bwein nicht\b|\bhör auf zu weinen\b", "bewertet die Tränen; sie sind erlaubt"),
        # Behauptungen, die das Gerät nicht wissen kann.
        (r"\bnicht allein\b", "eine Behauptung, die das Gerät nicht wissen kann (vielleicht "
                             "ist niemand da); sag \"Ich bin hier bei dir\""),
        (r"\bdu bist (?:jetzt )?(?:sicher|in sicherheit)\b", "eine Behauptung, die das Gerät "
                                                           "nicht wissen kann"),
        (r"\bnichts (?:ist|war) (?:falsch|schiefgegangen|schief)\b|\bnichts ist passiert\b",
         "eine Behauptung, die das Gerät nicht wissen kann"),
        (r"\bgeht (?:\w+ )?vorbei\b", "ein Versprechen, wie es endet; sag \"meist wird es "
                                     "leichter\""),
        (r"\bnichts muss\b|\bmuss nichts\b", "nah an \"nichts ist schiefgegangen\"; das Gerät "
                                            "kann es nicht wissen"),
        (r"\bso reagiert dein körper\b|\bdein körper reagiert\b", "behauptet eine Ursache, "
                                                                  "die das Gerät nicht kennt"),
        (r"\blässt (?:\w+ ){0,4}los\b|\bloslassen\b", "behauptet eine Ursache (der Körper lässt "
                                                  "los), die das Gerät nicht kennt"),
        (r"\bich bin (?:okay|ok|in ordnung)\b", "legt Worte in den Mund, die vielleicht nicht "
                                             "stimmen; biete Worte an, die um Zeit bitten"),
    ],
}


@dataclass
class ScriptReport:
    where: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_script(config: Config, name: str, seconds_of: Any = None) -> ScriptReport:
    """Check the script `name` (a path, or a built-in language; "" is English) against the
    built-in one. `seconds_of(script, config)` gives each line's spoken seconds (by text);
    without it, lines are estimated at the configured rate."""
    from device.core.plan import (
        cue_windows,
        estimate_spoken,
        plan_session,
        session_shape,
    )
    from device.core.text import minutes_text

    report = ScriptReport(name or "the built-in script")
    try:
        report.where, text = read_script(name)
        doc = parse_toml(report.where, text)
        _compare_keys(doc, report)
        script = parse_script(doc, report.where)
    except ScriptError as error:
        report.errors.append(str(error))
        return report
    every_part = _session_of(replace(config, session=replace(config.session,
                                                             parts=registry.names())), script)
    if seconds_of is None:
        guess = estimate_spoken(config.voice.rate)
        seconds = {t: guess(t) for t in script.texts()}
        report.notes.append(f"spoken lengths estimated at {config.voice.rate} words/min")
    else:
        seconds, note = seconds_of(script, every_part)
        report.notes.append(note)
    windows = cue_windows(config, script)
    _check_cues(script, windows, seconds, config.voice.rate, report)
    _check_counts(script, report)
    _check_tone(script, report)
    session = _session_of(config, script)
    try:
        plan = plan_session(session, script, seconds)
    except (ConfigError, ScriptError) as error:
        report.errors.extend(getattr(error, "problems", [str(error)]))
        return report
    report.notes.append(_counted(session, script))
    report.notes.append(f"session: {session_shape(plan)} (with "
                        f"{config.breathing.minutes:g} min of breathing)")
    _check_unspoken(script, session, plan, windows, report)
    left_out = [p for p in registry.names() if p not in session.session.parts
                and not registry.wordless([p], script)]
    if left_out:
        try:
            whole = plan_session(every_part, script, seconds)
            report.notes.append(f"with {' and '.join(left_out)} too: "
                                f"{minutes_text(whole.seconds)} in all")
        except (ConfigError, ScriptError) as error:
            report.warnings.append(f"with {' and '.join(left_out)} too: "
                                   + "; ".join(getattr(error, "problems", [str(error)])))
    return report


def _session_of(config: Config, script: Script) -> Config:
    """The session `ebbtide run` would have: [session] parts, less those the script has no
    words for (a script from before feel or partner existed)."""
    wordless = registry.wordless(config.session.parts, script)
    parts = tuple(p for p in config.session.parts if p not in wordless)
    return replace(config, session=replace(config.session, parts=parts))


def _counted(session: Config, script: Script) -> str:
    """How many lines the script has and how many this session speaks, and why not all."""
    from device.core.plan import voice_lines

    used = len(voice_lines(session, script))
    if used == len(script.lines):
        return f"{len(script.lines)} lines, all in this session"
    off = [p for p in registry.names() if p not in session.session.parts
           and any(i.split(".", 1)[0] == p for i, _ in script.lines)]
    whys = [f"{' and '.join(off)} {'is' if len(off) == 1 else 'are'} not in [session] parts"
            ] if off else []
    if script.own_pace and session.sensor.kind == "none" and "breathe" in session.session.parts:
        whys.append(f"{OWN_PACE_ID} is said only with a breath sensor, [sensor] kind")
    why = "; ".join(whys)
    return f"{len(script.lines)} lines, {used} in this session" + (f" ({why})" if why else "")


def _check_unspoken(script: Script, session: Config, plan: SessionPlan, windows: dict[str, float],
                    report: ScriptReport) -> None:
    """A line of this session's parts that the plan has no turn for is named (a breathing
    cue or reminder: the breathing ends before its turn); one already reported (a cue too
    long, a phase the pattern has not) is not named again, nor the line of their own pace
    (its turn comes only to someone on the breath sensor, out of step)."""
    spoken = {cue.text for cue in plan.cues}
    reported = " ".join(report.errors)
    phases = {"breathe.inhale": "inhale", "breathe.exhale": "exhale", "breathe.hold": "hold"}

    def has_turn(line_id: str) -> bool:  # a cue of a phase the pattern has not: noted
        phase = phases.get(line_id.rsplit(".", 1)[0])
        return phase is None or phase in windows

    unheard = [line_id for line_id, text in script.lines
               if line_id.split(".", 1)[0] in session.session.parts and text not in spoken
               and f"{line_id} " not in reported and has_turn(line_id)
               and line_id != OWN_PACE_ID]  # said only to someone out of step
    if unheard:
        report.notes.append(f"not spoken in this session: {', '.join(unheard)} (their turn "
                            "does not come: more minutes of breathing, or fewer lines, give "
                            "them one)")


def _flat(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every key of a TOML document as a dotted path; [[ground.senses]] by their ids."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield path, value
            yield from _flat(value, path + ".")
        elif key == "senses" and isinstance(value, list):
            yield path, value
            for i, entry in enumerate(value, start=1):
                if isinstance(entry, dict):
                    sense = f"{path}.{entry.get('id', i)}"
                    yield sense, entry
                    yield from _flat({k: v for k, v in entry.items() if k != "id"},
                                     sense + ".")
        else:
            yield path, value


def _line_groups(doc: dict[str, Any]) -> set[str]:
    """The dotted paths of tables that hold named lines (their names may differ)."""
    return {path for path, value in _flat(doc) if isinstance(value, dict) and value
            and all(isinstance(v, str) for v in value.values())}


def _compare_keys(doc: dict[str, Any], report: ScriptReport) -> None:
    """Every key of the built-in script is there, and nothing else but lines of one's own."""
    _, text = read_script("")
    template = parse_toml("the built-in script", text)
    known = dict(_flat(template))
    groups = _line_groups(template)
    mine = dict(_flat(doc))
    for path in known:
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if path in mine or (parent and parent not in mine):
            continue  # there; or inside something missing, which is reported itself
        if isinstance(mine.get(parent), list):
            continue  # lines as a plain list: named by position
        if not parent or isinstance(mine.get(parent), dict):
            report.errors.append(f"{report.where}: {path} is missing (the built-in script has "
                                 "it; keep every key, translated)")
    for group in groups:
        if isinstance(mine.get(group), list):
            report.warnings.append(f"{report.where}: {group} is a plain list: its lines are "
                                   "named by position, so a recording or a translation no "
                                   "longer matches once a line is added; name them as the "
                                   "built-in script does")
    for path in mine:
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if path in known or parent in groups or (parent and parent not in known):
            continue  # known; a line of one's own; or inside something already reported
        if parent.startswith("ground.senses.") or parent == "ground.senses":
            continue
        siblings = [k.rsplit(".", 1)[-1] for k in known
                    if (k.rsplit(".", 1)[0] if "." in k else "") == parent]
        hint = did_you_mean(path.rsplit(".", 1)[-1], siblings, f"{parent}." if parent else "")
        report.errors.append(f"{report.where}: unknown key {path}: it would be ignored.{hint}")


def _check_cues(script: Script, windows: dict[str, float], seconds: dict[str, float],
                rate: int, report: ScriptReport) -> None:
    """Each breathing cue must be spoken within its phase; a longer one is left out."""
    groups = {"inhale": script.inhale, "exhale": script.exhale, "hold": script.hold}
    ids = {text: line_id for line_id, text in script.lines}
    for phase, lines in groups.items():
        window = windows.get(phase)
        if window is None:
            report.notes.append(f"the breathing pattern has no {phase}: its cues are not "
                                "spoken")
            continue
        for text in lines:
            if seconds.get(text, 0.0) > window:
                report.errors.append(
                    f"{report.where}: {ids[text]} takes {seconds[text]:.1f} s at {rate} "
                    f"words/min; its {phase} lasts {window:.1f} s with the grace: shorten "
                    "it, or it is left out")


def _check_counts(script: Script, report: ScriptReport) -> None:
    """A grounding prompt says how many things to find, in its own words."""
    words = NUMBER_WORDS.get(language_family(script.language))
    if words is None:
        report.notes.append(f"grounding counts not checked: no number words for "
                            f"{script.language}")
        return
    ids = {text: line_id for line_id, text in script.lines}
    for sense in script.senses:
        said = {w.lower() for w in re.findall(r"\w+", sense.text)}
        if str(sense.count) not in said and not said & set(words.get(sense.count, ())):
            report.errors.append(f"{report.where}: {ids[sense.text]} has count = "
                                 f"{sense.count}, but does not say it "
                                 f"(\"{words[sense.count][0]}\")")


def _check_tone(script: Script, report: ScriptReport) -> None:
    rules = TONE["*"] + TONE.get(language_family(script.language), TONE["en"])
    for line_id, text in script.lines:
        for pattern, why in rules:
            found = re.search(pattern, text, re.IGNORECASE)
            if found:
                report.warnings.append(f"{report.where}: {line_id}: \"{found.group(0)}\": "
                                       f"{why}")


def rendered_seconds(script: Script, config: Config) -> tuple[dict[str, float], str]:
    """Each line's spoken seconds with the configured voice (made into the voice cache, as
    `ebbtide check` does); lines it could not make are estimated."""
    from audio.mixer import Mixer
    from device.core.plan import estimate_spoken, voice_lines
    from device.service.wiring import speaker_for

    speaker = speaker_for(config, Mixer(48000), language=script.language)
    made = speaker.prepare(voice_lines(config, script), log_problems=False)
    report = speaker.voice_report
    guess = estimate_spoken(config.voice.rate)
    seconds = {text: made.get(text) or guess(text) for text in script.texts()}
    engine = report.engine if report and report.engine else "no voice"
    missing = len(script.texts()) - len(made)
    note = f"spoken lengths made with {engine} at {config.voice.rate} words/min"
    return seconds, note + (f" ({missing} estimated)" if missing else "")


def cmd_script_check(args: argparse.Namespace) -> int:
    """Check the script and print the report; 2 on errors, else 0."""
    config = load_config(args.config)
    name = args.file if args.file is not None else config.voice.script
    report = check_script(config, name, None if args.estimate else rendered_seconds)
    print(f"script: {report.where}")
    for note in report.notes:
        print(f"  {note}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    verdict = (f"{len(report.errors)} error(s)" if report.errors else "usable") + (
        f", {len(report.warnings)} warning(s)" if report.warnings else "")
    print(f"script check: {verdict}")
    return exit_codes.CONFIG if report.errors else exit_codes.OK
