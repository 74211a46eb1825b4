"""`ebbtide card`: the printed card to keep by the bed: the gestures, the session, when to
look for help, and the crisis lines of the person's country."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from device.commands import exit_codes

log = logging.getLogger("ebbtide")


def cmd_card(args: argparse.Namespace) -> int:
    """Draw the card to --out; the exit code."""
    from device.commands.config_and_script import load
    from device.core.plan import plan_session
    from device.pictures.card import write_card
    from device.pictures.picture import PRINT_FORMATS, PictureError, check_path
    from device.words.card import card_language, countries, country_from_locale, make_card

    out = Path(args.out)
    known = countries()
    code = (args.country or country_from_locale() or "").lower()
    if code not in known:
        what = f"--country {args.country}: Ebbtide has no lines for it" if args.country else \
            "which country's lines should the card show? Your locale does not say"
        log.error("%s; give one of %s, for example --country %s", what, ", ".join(known),
                  next(iter(known)))
        return exit_codes.USAGE
    try:
        check_path(out, PRINT_FORMATS)
    except PictureError as error:
        log.error("%s", error)
        return exit_codes.USAGE
    config, script = load(args)
    minutes = plan_session(config, script, {}).seconds / 60
    card = make_card(config, known[code], card_language(script.language), minutes)
    try:
        write_card(card, out)
    except PictureError as error:
        log.error("%s", error)
        return exit_codes.FAILED
    country = known[code]
    print(f"drew {out}: the card for {country.name} ({card.language}), numbers checked on "
          f"{country.checked}; print it at A6 (or fold an A4 sheet in four) and keep it by "
          "the bed")
    return exit_codes.OK
