"""Ebbtide's sound: speech rendered to memory, cached on disk, mixed into one output stream.

Only this package imports pyttsx3 and sounddevice, and only inside functions, so importing it
works on a machine that lacks libespeak-ng1 or libportaudio2. From device/ it may import
only device.core (the voice's shared types, text helpers, the error root).
"""
