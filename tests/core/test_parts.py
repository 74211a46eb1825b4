"""The registry of session parts: a new part is one entry and its words.

A made-up part, "stretch", is registered in a copy of the registry (the shipped one is put
back after each test) and its words are added to a script: config accepts it in [session]
parts, the plan lays it out with its lines, `ebbtide script check` counts them, the session
picture draws its band in its colour, `ebbtide --help` names it and the printed card
describes it, with no other module edited.
"""

from __future__ import annotations

import pytest

from device.cli import parts_help
from device.commands.script_check import check_script
from device.core import parts
from device.core.config import ConfigError
from device.core.config_schema import parse
from device.core.part_plans import lines_with_pause
from device.core.parts import SessionPart
from device.core.plan import build_plan, estimate_spoken, voice_lines
from device.core.script import ScriptError, parse_script, parse_toml
from device.files.script_file import load_script, read_script
from device.words.card import countries, make_card

STRETCH = SessionPart("stretch", "stretch", lines_with_pause(6.0), "#a1b2c3",
                      "a slow stretch of the arms and the back", default=False)
STRETCH_WORDS = """
[stretch.lines]
reach = "If you like, reach your arms up slowly."
fold = "And let them come down again, as slowly as they went up."
"""
STRETCH_LINES = ("If you like, reach your arms up slowly.",
                 "And let them come down again, as slowly as they went up.")
SHIPPED_LINES = len(load_script().lines)  # read before any test registers stretch
WITH_STRETCH = ["arrive", "breathe", "ground", "stretch", "close"]


@pytest.fixture
def registered(monkeypatch):
    """The registry with stretch before close, for this test only."""
    monkeypatch.setattr(parts, "PARTS", (*parts.PARTS[:-1], STRETCH, parts.PARTS[-1]))


@pytest.fixture
def script_file(tmp_path):
    """The built-in script with stretch's words added."""
    _, text = read_script("")
    path = tmp_path / "script.toml"
    path.write_text(text + STRETCH_WORDS, encoding="utf-8")
    return path


def stretch_script(script_file):
    return parse_script(parse_toml(str(script_file), script_file.read_text()), str(script_file))


def test_the_shipped_registry_is_every_part_in_order_with_close_last():
    assert parts.names() == ("arrive", "breathe", "feel", "ground", "body", "aftercare",
                             "partner", "close")
    assert parts.default_names() == ("arrive", "breathe", "feel", "ground", "body",
                                     "aftercare", "close")
    assert len({p.colour for p in parts.PARTS}) == len(parts.PARTS)
    assert parts.wordless(["feel", "partner", "ground"], load_script()) == []


def test_a_part_is_unknown_to_config_until_it_is_registered():
    with pytest.raises(ConfigError, match='"stretch" is not one of them'):
        parse({"session": {"parts": WITH_STRETCH}})


def test_config_accepts_a_registered_part(registered):
    assert parse({"session": {"parts": WITH_STRETCH}}).session.parts == tuple(WITH_STRETCH)


def test_the_script_reads_its_words_and_the_plan_lays_them_out(registered, script_file):
    script = stretch_script(script_file)
    assert script.lines_of("stretch") == STRETCH_LINES
    assert ("stretch.reach", STRETCH_LINES[0]) in script.lines
    config = parse({"session": {"parts": WITH_STRETCH}})
    plan = build_plan(config, script, estimate_spoken(config.voice.rate))
    assert [p.name for p in plan.parts] == WITH_STRETCH
    stretch = plan.part_named("stretch")
    assert tuple(c.text for c in stretch.cues) == STRETCH_LINES
    assert stretch.cues[1].at - (stretch.cues[0].at + stretch.cues[0].seconds) == 6.0
    assert {line.id for line in voice_lines(config, script)} >= {"stretch.reach", "stretch.fold"}


def test_a_script_without_the_words_of_a_part_cannot_plan_it(registered, monkeypatch):
    config = parse({"session": {"parts": WITH_STRETCH}})
    _, text = read_script("")
    with pytest.raises(ScriptError, match=r"missing stretch\.lines"):
        parse_script(parse_toml("old.toml", text), "old.toml")
    optional = SessionPart("stretch", "stretch", lines_with_pause(6.0), "#a1b2c3", "a stretch",
                           optional_words=True)
    monkeypatch.setattr(parts, "PARTS", (*parts.PARTS[:-2], optional, parts.PARTS[-1]))
    script = parse_script(parse_toml("old.toml", text), "old.toml")
    assert parts.wordless(config.session.parts, script) == ["stretch"]
    with pytest.raises(ScriptError, match=r"has no \[stretch\.lines\]"):
        build_plan(config, script, estimate_spoken(config.voice.rate))


def test_script_check_counts_its_lines(registered, script_file):
    config = parse({"session": {"parts": WITH_STRETCH}})
    report = check_script(config, str(script_file))
    total = SHIPPED_LINES + len(STRETCH_LINES)
    assert any(note.startswith(f"{total} lines, ") for note in report.notes), report.notes
    assert any("stretch" in note and "session: " in note for note in report.notes)
    # Its words belong in the built-in script too (the second file a new part needs): until
    # they are there, script check names the table as one the built-in script does not have.
    [error] = report.errors
    assert error.startswith(f"{script_file}: unknown key stretch: it would be ignored.")


def test_the_session_picture_draws_its_band_in_its_colour(registered, script_file):
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex

    from device.pictures.session import SessionTimeline, draw_session, part_colour

    config = parse({"session": {"parts": WITH_STRETCH}})
    plan = build_plan(config, stretch_script(script_file), estimate_spoken(config.voice.rate))
    events = [(p.start, "part", p.name, p.seconds) for p in plan.parts]
    timeline = SessionTimeline("stretch", plan.seconds, events, [0.0], [0.0], [0.0], [-60.0])
    figure = draw_session(timeline)
    [axes] = [ax for ax in figure.axes if ax.get_label() == "parts"]
    stretch = plan.part_named("stretch")
    bands = [patch for patch in axes.patches
             if patch.get_x() == pytest.approx(stretch.start)]
    assert part_colour("stretch") == STRETCH.colour
    assert [to_hex(band.get_facecolor()) for band in bands] == [STRETCH.colour]


def test_the_help_text_names_it(registered):
    assert "stretch (a slow stretch of the arms and the back, not in the default session)" \
        in parts_help()


def test_the_card_describes_it_by_its_entry_until_the_card_has_words_for_it(registered):
    config = parse({"session": {"parts": WITH_STRETCH}})
    card = make_card(config, countries()["us"], "en", 9.0)
    said = " ".join(line for section in card.sections for line in section.lines)
    assert "grounding: 5 things you see" in said  # the card's own words, where it has them
    assert "a slow stretch of the arms and the back" in said
