"""Tests of device/core/: the pure core, no PulseAudio, in seconds."""
