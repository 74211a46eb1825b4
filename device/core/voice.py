"""The voice types both sides of the speech process share: which engines there are, what
shapes the voice, and one line to be spoken.

They are plain data (no numpy, no engine), so the core's config and plan can name them, and
the speech process's parent (audio/voicemaker.py) and child (audio/voice_child.py) can pass
them across as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("auto", "piper", "espeak")


@dataclass(frozen=True)
class VoiceSettings:
    """What shapes the voice: [voice] engine, model, voice, rate, volume and recordings."""

    engine: str = "auto"  # "auto": Piper with a model if installed, else espeak-ng
    model: str = ""  # a Piper .onnx file; "" is the joe voice
    voice: str = ""  # an espeak-ng voice, for the espeak engine
    rate: int = 140  # words per minute, for either engine
    volume: float = 0.9
    recordings: str = ""  # a folder of ID.wav files
    language: str = "en"  # the script's language: the voice must speak it


@dataclass(frozen=True)
class Line:
    """One line to be spoken: its stable id, its words, and the longest a recording may be."""

    id: str
    text: str
    max_seconds: float | None = None
