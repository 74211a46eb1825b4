"""python -m bench.intelligibility [--engine NAME ...] [--config FILE] [--tide] [--json FILE]:
how well an offline recogniser understands the voice, as a word error rate (WER).

With --tide, each engine's whole session (breathing as configured) is heard twice with the
same voice: alone, and over the tide it must stay clear of (the chime off in both); the two
WERs are reported side by side.

Each engine renders a whole voice-only session through the public `ebbtide render`
command (so this keeps working while the engine code changes); every spoken line is cut
out of session.wav by its events.csv row, resampled to 16 kHz and transcribed by
pocketsphinx with its bundled US English model. A machine listener is a stand-in for a
frightened person at night: the figure compares engines, it is not a pass/fail gate.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from bench.distribution import Distribution

MARGIN_S = 0.2  # around each line, so a soft first or last phoneme is not cut off
RECOGNISER_RATE = 16000  # what the bundled acoustic model was trained on
WORST = 5

# The voice alone: no chime or tide in the mix, and a short breathing part.
VOICE_ONLY = {"audio": {"chime": False, "tide": False}}
# The voice over the tide (the chime stays off, as in VOICE_ONLY: only the tide differs).
SESSION_SOUNDS = {"audio": {"chime": False, "tide": True}}
DEFAULT_MINUTES = 1

# Contractions are expanded on both sides, so "you're" and "you are" are the same words.
_WHOLE = {"let's": "let us", "won't": "will not", "can't": "can not", "cannot": "can not",
          "shan't": "shall not", "ain't": "is not"}
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'m", " am"), ("'ll", " will"),
             ("'ve", " have"), ("'d", " would"), ("'s", " is"))


@dataclass(frozen=True)
class Errors:
    """Word edits between a reference and what was heard."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    words: int = 0  # in the reference

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / max(self.words, 1)

    def __add__(self, other: Errors) -> Errors:
        return Errors(self.substitutions + other.substitutions,
                      self.deletions + other.deletions,
                      self.insertions + other.insertions, self.words + other.words)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, contractions expanded; the recogniser's
    fillers (<sil>, [NOISE]) and pronunciation variants (word(2)) are dropped."""
    text = re.sub(r"\[[^\]]*\]|<[^>]*>|\(\d+\)", " ", text.lower().replace("\u2019", "'"))
    out: list[str] = []
    for token in re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text):
        token = _WHOLE.get(token, token)
        for suffix, full in _SUFFIXES:
            if token.endswith(suffix):
                token = token[: -len(suffix)] + full
                break
        out.extend(token.split())
    return out


def word_errors(reference: Sequence[str], heard: Sequence[str]) -> Errors:
    """Word-level Levenshtein alignment, counting each kind of edit."""
    # row[j] = (cost, substitutions, deletions, insertions) for reference[:i] vs heard[:j]
    row = [(j, 0, 0, j) for j in range(len(heard) + 1)]
    for i, said in enumerate(reference, 1):
        new = [(i, 0, i, 0)]
        for j, got in enumerate(heard, 1):
            c, s, d, n = row[j - 1]
            miss = said != got
            diagonal = (c + miss, s + miss, d, n)
            c, s, d, n = row[j]
            deleted = (c + 1, s, d + 1, n)
            c, s, d, n = new[j - 1]
            inserted = (c + 1, s, d, n + 1)
            new.append(min(diagonal, deleted, inserted))
        row = new
    _, s, d, n = row[-1]
    return Errors(s, d, n, len(reference))


def voice_only_config(source: Path | None, engine: str | None, sounds: bool = False,
                      minutes: float | None = DEFAULT_MINUTES) -> str:
    """The TOML for a render: the user's config (if any) with the chime and tide off (or,
    with `sounds`, the tide on), `[voice] engine` set, and a
    relative script path made absolute. `minutes` None keeps the configured breathing."""
    document: dict[str, Any] = tomllib.loads(source.read_text()) if source else {}
    for section, values in (SESSION_SOUNDS if sounds else VOICE_ONLY).items():
        document.setdefault(section, {}).update(values)
    if minutes is not None:
        document.setdefault("breathing", {}).setdefault("minutes", minutes)
    if engine:
        document.setdefault("voice", {})["engine"] = engine
    voice = document.get("voice", {})
    script = voice.get("script")
    if source and isinstance(script, str) and script:
        path = Path(script).expanduser()
        voice["script"] = str(path if path.is_absolute() else source.resolve().parent / path)
    return "\n".join(_toml(document)) + "\n"


def _toml(table: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    lines = [f"[{'.'.join(json.dumps(p) for p in path)}]"] if path else []
    lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()
              if not isinstance(v, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += _toml(value, (*path, key))
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)  # a TOML date or time reads back as itself


class RenderFailed(Exception):
    pass


def _ebbtide() -> str:
    beside = Path(sys.executable).parent / "ebbtide"
    found = str(beside) if beside.exists() else shutil.which("ebbtide")
    if not found:
        raise RenderFailed("no `ebbtide` command next to this Python or on PATH")
    return found


def render(config_text: str, scratch: Path, name: str = "out") -> Path:
    """Run `ebbtide render` with a home and voice cache of its own under `scratch`
    (a fresh cache, so one engine never hears another's clips; renders in the same scratch
    share it, so they hear the same clips); return the output dir, scratch/name."""
    config, out = scratch / f"{name}.toml", scratch / name
    config.write_text(config_text)
    # The sound library's client keeps its runtime files under XDG_RUNTIME_DIR, and without
    # one makes a /tmp/pulse-* directory for each fresh home; the render plays nothing.
    runtime, pulse = scratch / "runtime", scratch / "pulse-client.conf"
    runtime.mkdir(mode=0o700, exist_ok=True)
    pulse.write_text("autospawn = no\n")
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "CACHE_DIRECTORY")}
    env.update(HOME=str(scratch / "home"), XDG_CACHE_HOME=str(scratch / "cache"),
               XDG_STATE_HOME=str(scratch / "state"), XDG_RUNTIME_DIR=str(runtime),
               PULSE_CLIENTCONFIG=str(pulse))
    try:
        done = subprocess.run([_ebbtide(), "render", "--out", str(out), "--config", str(config)],
                              env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as error:
        raise RenderFailed(f"ebbtide render took over {error.timeout:.0f} s") from error
    if done.returncode != 0:
        raise RenderFailed((done.stderr or done.stdout).strip()
                           or f"ebbtide render exited with {done.returncode}")
    return out


@dataclass(frozen=True)
class Line:
    start_s: float
    duration_s: float
    text: str

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def spoken_lines(events: Path) -> list[Line]:
    with events.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "say"]
    return sorted((Line(float(r["t_s"]), float(r["duration_s"]), r["detail"]) for r in rows),
                  key=lambda line: line.start_s)


def clips(session: Path, lines: Sequence[Line], margin_s: float = MARGIN_S
          ) -> Iterator[np.ndarray]:
    """Each line's audio as 16 kHz int16, with a margin that stops halfway to a neighbour."""
    with wave.open(str(session)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if width != 2:
            raise ValueError(f"{session}: {8 * width}-bit samples, expected 16-bit")
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    audio = audio.reshape(-1, channels).mean(axis=1)
    total_s = len(audio) / rate
    for k, line in enumerate(lines):
        lo, hi = line.start_s - margin_s, line.end_s + margin_s
        if k > 0:
            lo = max(lo, (lines[k - 1].end_s + line.start_s) / 2)
        if k + 1 < len(lines):
            hi = min(hi, (line.end_s + lines[k + 1].start_s) / 2)
        piece = audio[round(max(lo, 0.0) * rate):round(min(hi, total_s) * rate)]
        yield _resample(piece, rate)


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """To 16 kHz int16: a windowed-sinc low-pass below the new Nyquist, then decimation
    (or linear interpolation when the rates are not a whole multiple)."""
    if rate != RECOGNISER_RATE and len(samples):
        cutoff = 0.45 * RECOGNISER_RATE / rate  # cycles per input sample
        n = np.arange(-60, 61)
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(len(n))
        samples = np.convolve(samples, taps / taps.sum(), mode="same")
        if rate % RECOGNISER_RATE == 0:
            samples = samples[:: rate // RECOGNISER_RATE]
        else:
            times = np.arange(0, len(samples) / rate, 1 / RECOGNISER_RATE)
            samples = np.interp(times, np.arange(len(samples)) / rate, samples)
    return np.clip(np.round(samples), -32768, 32767).astype("<i2")


class Recogniser:
    """pocketsphinx's Decoder with its bundled en-US model, one utterance per line."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=RECOGNISER_RATE, loglevel="FATAL")

    def transcribe(self, pcm: np.ndarray) -> str:
        if len(pcm) == 0:
            return ""
        # The feature front end carries state from one utterance into the next, even with
        # full_utt; reset it, so a line is heard the same whatever came before it (as by a
        # fresh Decoder, without reloading the model).
        self.decoder.reinit_feat()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def heard(out: Path, recogniser: Recogniser) -> dict:
    """Every spoken line of a render transcribed, and the word errors in all."""
    lines = spoken_lines(out / "events.csv")
    per_line: list[dict[str, Any]] = []  # one row of the report per line
    total = Errors()
    for line, pcm in zip(lines, clips(out / "session.wav", lines), strict=True):
        said = recogniser.transcribe(pcm)
        errors = word_errors(words(line.text), words(said))
        per_line.append({"t_s": line.start_s, "said": line.text, "heard": said,
                         "wer": round(errors.wer, 4), "words": errors.words,
                         "errors": errors.errors})
        total += errors
    worst = sorted(per_line, key=lambda r: (-r["wer"], -r["errors"], r["t_s"]))[:WORST]
    return {
        "wer": round(total.wer, 4), "lines": len(per_line),
        "words": total.words, "substitutions": total.substitutions,
        "deletions": total.deletions, "insertions": total.insertions,
        "line_wer": Distribution.of([r["wer"] for r in per_line]).as_dict(),
        "worst": worst, "per_line": per_line,
    }


def measure(engine: str | None, config: Path | None, recogniser: Recogniser,
            workdir: Path | None = None, tide: bool = False) -> dict:
    """Render with `engine` (None: the default) and transcribe every spoken line; with
    `tide`, the whole configured session alone and over the tide, one voice for both."""
    scratch = Path(tempfile.mkdtemp(prefix="ebbtide-intelligibility-", dir=workdir))
    minutes = None if tide else DEFAULT_MINUTES
    try:
        started = time.monotonic()
        out = render(voice_only_config(config, engine, minutes=minutes), scratch, "alone")
        over = render(voice_only_config(config, engine, True, minutes), scratch, "tide") \
            if tide else None
        rendered = time.monotonic()
        result = {"engine": engine or "default", **heard(out, recogniser)}
        if over is not None:
            result["with_tide"] = heard(over, recogniser)
            result["tide_wer_change"] = round(result["with_tide"]["wer"] - result["wer"], 4)
        recognised = time.monotonic()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.update(render_s=round(rendered - started, 2),
                  recognise_s=round(recognised - rendered, 2))
    return result


def table(result: dict) -> str:
    rows = [("engine", "WER", "lines", "words", "sub/del/ins", "line WER median / max",
             "render s", "recognise s")]
    for e in result["engines"]:
        if "error" in e:
            rows.append((e["engine"], "-", "-", "-", "-", "-", "-", "-"))
            continue
        rows.append((e["engine"], f"{e['wer']:.1%}", str(e["lines"]), str(e["words"]),
                     f"{e['substitutions']}/{e['deletions']}/{e['insertions']}",
                     f"{e['line_wer']['median']:.1%} / {e['line_wer']['max']:.1%}"
                     if e["lines"] else "-",
                     f"{e['render_s']:.1f}", f"{e['recognise_s']:.1f}"))
    for e in result["engines"]:
        if "with_tide" in e:
            t = e["with_tide"]
            rows.append((f"{e['engine']} + tide", f"{t['wer']:.1%}", str(t["lines"]),
                         str(t["words"]),
                         f"{t['substitutions']}/{t['deletions']}/{t['insertions']}",
                         f"{t['line_wer']['median']:.1%} / {t['line_wer']['max']:.1%}",
                         "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [f"Ebbtide intelligibility, {result['date']}, {result['recogniser']}, "
           f"lines cut with a {result['margin_s']} s margin",
           *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows)]
    for e in result["engines"]:
        if "error" in e:
            out.append(f"\n{e['engine']}: render failed: {e['error']}")
            continue
        if "with_tide" in e:
            out.append(f"\n{e['engine']}: with the tide the WER changes by "
                       f"{e['tide_wer_change']:+.1%} (aim: within 5 points)")
        for name, figures in ((e["engine"], e), (f"{e['engine']} + tide", e.get("with_tide"))):
            if figures is None:
                continue
            out.append(f"\nworst lines, {name}:")
            for r in figures["worst"]:
                out.append(f"  {r['wer']:6.1%} {r['t_s']:6.1f} s  said:  {r['said']}")
                out.append(f"  {'':16}heard: {r['heard'] or '(nothing)'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intelligibility",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", action="extend", nargs="+", metavar="NAME",
                        help="write [voice] engine = NAME (several: one run each); "
                             "default: the config's own engine")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="start from this config (chime and tide are turned off)")
    parser.add_argument("--tide", action="store_true",
                        help="also hear the whole session over the tide, with the same voice, "
                             "and report both")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = parser.parse_args(argv)
    try:
        voice_only_config(args.config, None)
    except (OSError, tomllib.TOMLDecodeError) as error:
        parser.error(f"--config {args.config}: {error}")
    started = time.monotonic()
    recogniser = Recogniser()
    engines: list[dict] = []
    for engine in args.engine or [None]:
        try:
            engines.append(measure(engine, args.config, recogniser, tide=args.tide))
        except RenderFailed as error:
            engines.append({"engine": engine or "default", "error": str(error)})
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "recogniser": f"pocketsphinx {version('pocketsphinx')} (bundled en-US model)",
        "margin_s": MARGIN_S, "engines": engines,
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if any("error" in e for e in engines) else 0


if __name__ == "__main__":
    sys.exit(main())
