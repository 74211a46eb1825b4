"""The config and the script a command works with, read strictly: a bad file stops the
command with its problems (cli.py's error table says them). `ebbtide run` is lenient
instead (run.py's `load_or_defaults`): a bedside appliance still works with a bad file."""

from __future__ import annotations

import argparse

from device.core.config import Config
from device.core.script import Script
from device.files.config_file import load_config
from device.files.script_file import load_script


def load(args: argparse.Namespace) -> tuple[Config, Script]:
    """The config named by --config (or found), and the script it names."""
    config = load_config(args.config)
    script = load_script(config.voice.script)
    return config, script
