"""The config file: where it is looked for, how it is read (bounded, never blocking on a
pipe), and the checks of the files its [voice] section names. The checking of values is the
core's (device/core/config_schema.py).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from device.core.config import Config, ConfigError, VoiceConfig
from device.core.config_schema import Complaint, VoicePaths, parse
from device.files.script_file import built_in_languages, is_built_in


def user_config_path() -> Path:
    """The user's own config file: $XDG_CONFIG_HOME/ebbtide/config.toml."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / (
        "ebbtide/config.toml"
    )


SYSTEM_CONFIG_PATH = Path("/etc/ebbtide/config.toml")


def _path(bad: Complaint, key: str, value: str, folder: Path | None, kind: str,
          exists: Callable[[Path], bool]) -> Path | None:
    """A path key made absolute (from the config file's folder) and checked; None if bad."""
    try:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = ((folder or Path.cwd()) / path).absolute()
        found = exists(path)
    except (OSError, RuntimeError) as error:  # a name too long, or "~nobody/..."
        bad(key, value, f"the path of {kind} ({error})")
        return None
    if not found:
        what = "a file" if exists is Path.is_file else "a folder"
        bad(key, value, f"the path of {kind}; {path} is not {what} (a relative path "
                        "starts from the config file's folder)")
        return None
    return path


def voice_paths(folder: Path | None) -> VoicePaths:
    """The check of [voice] script, model and recordings for a config file in `folder`
    (where relative paths start): each made absolute and checked against the disk."""

    def check(voice: VoiceConfig, bad: Complaint, model_bad: Complaint) -> VoiceConfig:
        script, model, recordings = voice.script, voice.model, voice.recordings
        if script and not is_built_in(script):
            languages = ", ".join(f'"{name}"' for name in built_in_languages())
            path = _path(bad, "voice.script", script, folder,
                         f"a script file, or the language of a built-in script ({languages})",
                         Path.is_file)
            script = str(path) if path else script
        if recordings:
            path = _path(bad, "voice.recordings", recordings, folder,
                         "a folder of recordings (ID.wav)",
                         lambda p: p.is_dir() or not p.exists())  # `ebbtide record` makes it
            recordings = str(path) if path else recordings
        if model:
            from audio.piper import model_problem  # stats the file; loads no onnxruntime

            path = _path(model_bad, "voice.model", model, folder,
                         "a Piper voice file (.onnx, with its .onnx.json beside it)",
                         Path.is_file)
            problem = model_problem(path) if path else None
            if problem:
                model_bad("voice.model", model, f"a Piper voice file that works: {problem}")
            model = str(path) if path else model
        return replace(voice, script=script, model=model, recordings=recordings)

    return check


MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few kilobytes; /dev/zero would never end


def _read_config_file(path: Path) -> bytes:
    """The file's bytes, read without blocking on a pipe and never more than
    MAX_CONFIG_BYTES, or ConfigError in one plain line."""
    where = str(path)
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer (fstat then refuses it).
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError([f"{where}: no such config file."]) from None
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the config file: {error.strerror}."]) from None
    try:
        kind = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(kind):
            raise ConfigError([f"{where}: is a directory, not a config file."])
        if stat.S_ISFIFO(kind) or stat.S_ISSOCK(kind):
            raise ConfigError([f"{where}: is a pipe, not a config file: give the path of a "
                               "TOML text file."])
        os.set_blocking(descriptor, True)
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(descriptor, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the config file: {error.strerror}."]) from None
    finally:
        os.close(descriptor)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError([f"{where}: is not a config file: it holds more than "
                           f"{MAX_CONFIG_BYTES // (1024 * 1024)} MB (a config file is a few "
                           "kilobytes of TOML text)."])
    return b"".join(chunks)


def load(path: Path) -> Config:
    """Read and check one TOML file."""
    where = str(path)
    data = _read_config_file(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: is not UTF-8 text; a config file is TOML text."]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{where}: is not valid TOML: {error}."]) from None
    except RecursionError:
        raise ConfigError([f"{where}: is nested too deeply to read; a config file is a few "
                           "flat [sections]."]) from None
    return _with_source(parse(document, where, voice_paths(path.parent)), path)


def _with_source(config: Config, path: Path) -> Config:
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values["source"] = path
    return Config(**values)


def find(explicit: Path | None = None) -> Path | None:
    """The config file to use: --config, $EBBTIDE_CONFIG, the user's, the system's, or none.

    A file named explicitly must exist; the usual places are simply skipped when absent.
    """
    if explicit is not None:
        return explicit
    env = os.environ.get("EBBTIDE_CONFIG")
    if env:
        return Path(env)
    for candidate in (user_config_path(), SYSTEM_CONFIG_PATH):
        if candidate.exists():
            return candidate
    return None


def load_config(explicit: Path | None = None) -> Config:
    """Find and load the config, or return the defaults when there is none."""
    path = find(explicit)
    return Config() if path is None else load(path)
