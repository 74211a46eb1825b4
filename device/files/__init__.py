"""Ebbtide's own files, read and written without surprises (whole or not at all, never
through a symbolic link, never blocking on a pipe): the config file (config_file.py), the
script (script_file.py) and atomic writes (atomic_file.py). The core checks what they read.
May import the standard library and device.core (and audio.piper, lazily, to check a voice
model named in the config).
"""
