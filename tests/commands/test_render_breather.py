"""`ebbtide render --breather`: a simulated person on the breath sensor, heard through the
same reading as a real one, and the session paces them as the device would: it starts at
their own rate, slows to the target with someone who follows, holds with someone who does
not, and with nobody on it is the fixed session, unchanged."""

from __future__ import annotations

import csv
import itertools
import statistics

import numpy as np
import pytest

from device.cli import main
from device.commands.render import render_session
from device.core.config_schema import parse
from device.core.pacer import FIRST_HEARD_S, FOLLOWED_MINUTES
from device.core.plan import plan_session
from device.files.script_file import load_script
from device.service.breath_listening import laid_breaths
from device.service.breather import SimulatedBreather
from device.service.clock import SimulatedClock

SCRIPT = load_script()
QUIET = {"voice": {"enabled": False}, "audio": {"tide": False}}


def config(minutes: float):
    return parse({"breathing": {"minutes": minutes},
                  "session": {"parts": ["arrive", "breathe", "close"]}, **QUIET})


def test_a_follower_is_met_at_their_rate_and_led_to_the_target(tmp_path):
    """Four minutes of breathing (the default): from 16 to 6 at a breath a minute each minute
    takes ten, so the breathing goes on while they follow, until the target."""
    rendered = render_session(config(4), SCRIPT, tmp_path, breather="follow")
    breaths = laid_breaths(rendered.plan)
    assert all(abs(b.rate - 16.0) <= 2.0 for b in breaths[:3])
    assert breaths[-1].rate == pytest.approx(6.0)
    breathing = rendered.plan.part_named("breathe")
    assert 8 * 60 < breathing.seconds <= FOLLOWED_MINUTES * 60
    for a, b in itertools.pairwise(breaths):  # never faster than a breath a minute, a minute
        assert a.rate - b.rate <= (b.at - a.at) / 60 + 1e-9
    sensing = rendered.sensing
    assert sensing is not None and sensing.in_step_share is not None
    assert sensing.in_step_share >= 0.8
    assert sensing.start_bpm == pytest.approx(16.0, abs=2.0)
    assert sensing.end_bpm == pytest.approx(6.0, abs=1.0)
    assert len(sensing.breaths) == len(breaths) and sensing.trace
    # events.csv is the plan as it grew: its first inhale of the breathing is the pacer's
    with open(tmp_path / "events.csv") as f:
        rows = list(csv.DictReader(f))
    [part] = [r for r in rows if r["kind"] == "part" and r["detail"] == "breathe"]
    assert float(part["t_s"]) == pytest.approx(breaths[0].at, abs=0.01)
    # ...and its length as played, not as it stood when the part began
    assert float(part["duration_s"]) == pytest.approx(breathing.seconds, abs=0.01)
    assert SCRIPT.own_pace not in [c.text for c in rendered.plan.cues]


def test_someone_who_ignores_the_light_is_not_pulled_away(tmp_path):
    rendered = render_session(config(4), SCRIPT, tmp_path, breather="ignore")
    breaths = laid_breaths(rendered.plan)
    assert breaths[0].rate == pytest.approx(16.0, abs=2.0)
    assert min(b.rate for b in breaths) >= breaths[0].rate - 2.0
    sensing = rendered.sensing
    assert sensing is not None and sensing.in_step_share is not None
    # in step only by chance (a quarter of all moments): their rhythm and the pacer's drift
    # past each other
    assert sensing.in_step_share < 0.3
    breathing = rendered.plan.part_named("breathe")
    assert breathing.seconds == pytest.approx(4 * 60, abs=5)  # it does not go on
    [own_pace] = [c.at for c in rendered.plan.cues if c.text == SCRIPT.own_pace]
    assert breathing.start + 60 < own_pace < breathing.stop  # said once, after a minute


def test_the_same_person_gives_the_same_session(tmp_path):
    one = render_session(config(1), SCRIPT, tmp_path / "one", breather="follow")
    two = render_session(config(1), SCRIPT, tmp_path / "two", breather="follow")
    assert one.plan == two.plan and one.sensing == two.sensing
    for name in ("events.csv", "light.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_without_a_breather_the_session_is_the_fixed_one(tmp_path):
    rendered = render_session(config(1), SCRIPT, tmp_path)
    assert rendered.sensing is None
    assert laid_breaths(rendered.plan)[0].rate == pytest.approx(8.0)


def test_a_recording_that_stops_leaves_the_pacer_holding_and_the_session_going(tmp_path,
                                                                               capsys):
    """A recording of a minute: the sensor falls silent in the breathing part (as a sensor
    that stops answering does); the pacer holds, the session ends, the light is off."""
    clock = SimulatedClock()
    person = SimulatedBreather("ignore", clock, list, seed=5)
    clock.run_pending(60.0)
    t, a = person.latest()
    recording = tmp_path / "breath.csv"
    with open(recording, "w") as f:
        f.write("t_s,ax,ay,az\n")
        for ti, (x, y, z) in zip(t, a, strict=True):
            f.write(f"{ti:.3f},{x:.6f},{y:.6f},{z:.6f}\n")
    rendered = render_session(config(3), SCRIPT, tmp_path / "out",
                              breather=(t, a))
    breaths = laid_breaths(rendered.plan)
    assert breaths[0].rate == pytest.approx(16.0, abs=2.0)
    assert breaths[-1].rate == pytest.approx(breaths[0].rate, abs=1.0)  # held
    with open(tmp_path / "out" / "light.csv") as f:
        assert list(csv.DictReader(f))[-1]["lightness"] == "0.00000"
    # and the command plays the same file, saying how much was in step
    cfg = tmp_path / "ebbtide.toml"
    cfg.write_text('[breathing]\nminutes = 1\n[voice]\nenabled = false\n')
    capsys.readouterr()
    assert main(["render", "--config", str(cfg), "--out", str(tmp_path / "cli"),
                 "--breather", str(recording)]) == 0
    assert "in step: " in capsys.readouterr().out


@pytest.mark.parametrize(("kind", "low", "high"), [("follow", 80, 100), ("ignore", 0, 29)])
def test_the_command_says_how_much_was_in_step(tmp_path, capsys, monkeypatch, kind, low, high):
    """The default session (four minutes of breathing) as `render --breather` shows it, with
    espeak-ng's voice (its lines set the arrive's length, and so where the pacer begins)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = tmp_path / "ebbtide.toml"
    cfg.write_text('[voice]\nengine = "espeak"\n[audio]\ntide = false\n')
    assert main(["render", "--config", str(cfg), "--out", str(tmp_path / "out"),
                 "--breather", kind]) == 0
    said = capsys.readouterr().out
    share = int(said.split("in step: ")[1].split("%")[0])
    assert low <= share <= high


def test_people_at_their_own_pace_are_in_step_by_chance(tmp_path):
    """Someone at their own rate lands in the in-step window (a quarter of a period wide) by
    chance: a quarter of the time on the whole, more or less for a while as their rhythm and
    the pacer's drift past each other (a follower: tests above). Seeded people, the default
    session, no voice."""
    quiet = parse(QUIET)

    def share(kind: str, seed: int) -> float:
        out = tmp_path / f"{kind}-{seed}"
        sensing = render_session(quiet, SCRIPT, out, breather=kind, seed=seed).sensing
        assert sensing is not None and sensing.in_step_share is not None
        return sensing.in_step_share

    ignoring = [share("ignore", seed) for seed in range(1, 6)]
    assert statistics.median(ignoring) < 0.3 and max(ignoring) < 0.6


def test_a_breather_file_that_cannot_be_read_is_one_line(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path / "out"), "--breather",
                 str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv: no such file" in err and len(err.strip().splitlines()) == 1


def test_a_simulated_person_breathes_at_their_own_rate():
    clock = SimulatedClock()
    person = SimulatedBreather("ignore", clock, list, seed=1)
    clock.run_pending(120.0)
    t, _ = person.latest()
    assert t[-1] == pytest.approx(120.0, abs=0.05) and np.all(np.diff(t) > 0)
    inhales = [x for x in person.inhales if x < 120]
    assert 60 * (len(inhales) - 1) / (inhales[-1] - inhales[0]) == pytest.approx(16.0, abs=1.0)


def test_a_breather_that_is_neither_a_kind_nor_a_file_names_what_is_allowed(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path / "out"), "--breather", "walk"]) == 2
    assert capsys.readouterr().err == (
        "ebbtide: --breather walk: no such file (give follow or ignore, or a recording's "
        "t_s,ax,ay,az CSV file)\n")
    assert not (tmp_path / "out").exists()


def test_an_arrive_shorter_than_the_first_reading_waits_for_it(tmp_path):
    """A quick voice ends the arrive before the sensor's first breath can be heard: the
    session must begin with the plan that waits for it (it began with the fixed one, and
    the breathing started at 8 a minute, deaf to the person: espeak-ng's arrive, 15 s)."""
    quick = parse({"voice": {"enabled": False, "rate": 220}, "audio": {"tide": False},
                   "session": {"parts": ["arrive", "breathe", "close"]}})
    assert plan_session(quick, SCRIPT, {}).part_named("arrive").seconds < FIRST_HEARD_S
    rendered = render_session(quick, SCRIPT, tmp_path, breather="ignore")
    assert rendered.plan.part_named("arrive").seconds >= FIRST_HEARD_S
    assert rendered.sensing is not None and rendered.sensing.start_bpm is not None
    assert laid_breaths(rendered.plan)[0].rate == pytest.approx(16.0, abs=2.0)
    with open(tmp_path / "events.csv") as f:
        rows = list(csv.DictReader(f))
    began = next(float(r["t_s"]) for r in rows if r["kind"] == "part" and r["detail"] == "breathe")
    assert began == pytest.approx(rendered.plan.part_named("breathe").start, abs=0.01)


def test_a_session_without_breathing_says_so_rather_than_that_nothing_was_sensed(tmp_path,
                                                                                capsys):
    cfg = tmp_path / "ebbtide.toml"
    cfg.write_text('[session]\nparts = ["arrive", "close"]\n[voice]\nenabled = false\n')
    assert main(["render", "--config", str(cfg), "--out", str(tmp_path / "out"),
                 "--breather", "follow"]) == 0
    said = capsys.readouterr().out
    assert "the session has no breathing part ([session] parts): nothing was paced" in said
    assert "no breath was sensed" not in said
