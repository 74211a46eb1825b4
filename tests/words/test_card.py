"""`ebbtide card`: a printed card for the bedside with the gestures, what the session holds,
when to look for help and the country's lines, each dated; read back from the PDF as text."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys

import pytest

from device.core.config_schema import parse
from device.words.card import card_language, countries, country_from_locale, make_card

pytest.importorskip("matplotlib")
EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args, env=None):
    environment = {**os.environ, **(env or {})}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, timeout=120,
                          env=environment)


def pdf_text(path) -> str:
    """The words on the page, as a person reading the PDF sees them (poppler's pdftotext)."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("EBBTIDE_REQUIRE_AUDIO"):  # set by ./setup.sh test, which installs it
            pytest.fail("pdftotext (poppler-utils) is not installed")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True)
    return " ".join(done.stdout.split())


@pytest.mark.parametrize(("country", "numbers"), [
    ("us", ["988", "1-800-799-7233", "911"]),
    ("uk", ["116 123", "0808 2000 247", "0800 027 1234", "0808 80 10 800", "0808 802 1414",
            "999"]),
    ("ie", ["116 123", "1800 341 900"]),
    ("de", ["0800 111 0 111", "0800 111 0 222", "116 016", "112"]),
    ("at", ["142", "0800 222 555"]),
    ("ch", ["143", "142"]),
])
@pytest.mark.process
def test_the_card_holds_the_gestures_and_the_countrys_lines_with_their_date(tmp_path, country,
                                                                            numbers):
    out = tmp_path / "card.pdf"
    done = ebbtide("card", "--country", country, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and f"drew {out}" in done.stdout
    assert out.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(out)
    for gesture in ("Press: a session starts", "Press during one: the next part",
                    "Hold for 2 seconds"):
        assert gesture in text, gesture
    assert "Eyes open or shut" in text
    for number in numbers:
        assert number in text, number
    checked = min(line.checked for line in countries()[country].lines)
    assert f"Checked on {checked.isoformat()}" in text and "still current" in text
    assert "regret, shame" in text and "every time" in text


@pytest.mark.process
def test_a_german_script_makes_a_german_card_with_the_sex_therapists_body(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[voice]\nscript = "de"\n[button]\nhold_seconds = 3\n')
    out = tmp_path / "karte.pdf"
    done = ebbtide("card", "--country", "de", "--out", str(out), "--config", str(config))
    assert done.returncode == 0, done.stderr
    text = pdf_text(out)
    assert "3 Sekunden halten" in text and "Drücken: eine Sitzung beginnt" in text
    assert "116 016" in text and "Deutschen Gesellschaft für Sexualforschung" in text
    assert "Geprüft am" in text


@pytest.mark.process
def test_png_and_svg_by_suffix_and_a_wrong_suffix_or_country_is_one_line(tmp_path):
    from matplotlib.image import imread

    png, svg = tmp_path / "card.png", tmp_path / "card.svg"
    assert ebbtide("card", "--country", "ie", "--out", str(png)).returncode == 0
    height, width = imread(png).shape[:2]
    assert (width, height) == (1240, 1748)  # A6 at 300 dpi
    assert ebbtide("card", "--country", "us", "--out", str(svg)).returncode == 0
    assert "National Domestic Violence Hotline" in svg.read_text()
    wrong = ebbtide("card", "--country", "us", "--out", str(tmp_path / "card.jpg"))
    assert wrong.returncode == 2 and "must end in .pdf, .png or .svg" in wrong.stderr
    unknown = ebbtide("card", "--country", "fr", "--out", str(tmp_path / "c.pdf"))
    assert unknown.returncode == 2 and "--country fr" in unknown.stderr
    assert "us, uk, ie, de, at, ch" in unknown.stderr
    assert not (tmp_path / "c.pdf").exists() and not (tmp_path / "card.jpg").exists()
    for result in (wrong, unknown):
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_country_comes_from_the_locale_where_it_can():
    assert country_from_locale({"LANG": "en_GB.UTF-8"}) == "uk"
    assert country_from_locale({"LC_ALL": "de_AT.UTF-8", "LANG": "en_US.UTF-8"}) == "at"
    assert country_from_locale({"LANG": "fr_FR.UTF-8"}) is None
    assert country_from_locale({"LANG": "C.UTF-8"}) is None
    assert country_from_locale({}) is None


def test_every_country_has_dated_crisis_and_violence_lines_and_a_therapist():
    table = countries()
    assert {"us", "uk", "ie", "de", "at", "ch"} <= set(table)
    for country in table.values():
        kinds = {line.kind for line in country.lines}
        assert kinds == {"crisis", "domestic-violence"}, country.code
        assert all(isinstance(line.checked, datetime.date) for line in country.lines)
        assert country.emergency and country.therapist and country.sex_therapist


def test_the_card_lists_the_sessions_own_parts_and_no_tide_when_it_is_off():
    us = countries()["us"]
    config = parse({"session": {"parts": ["arrive", "breathe", "close"]},
                    "audio": {"tide": False}})
    card = make_card(config, us, card_language("en-GB"), 5.2)
    session = next(s for s in card.sections if s.heading.startswith("A session"))
    assert session.heading == "A session, about 5 minutes"
    assert session.lines == ("arriving; slow breathing; goodbye.",)
    following = next(s for s in card.sections if s.heading == "Following it")
    assert "tide" not in following.lines[0]
    assert card_language("fr") == "en" and card_language("de_CH") == "de"
