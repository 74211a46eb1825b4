"""Sensing: what the motion sensor's samples say about the person (pure numpy, no I/O)."""
