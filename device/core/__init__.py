"""The pure core: data and functions computed from config and script, with no I/O, no
clock and no sound or pins. It imports only the standard library and itself, so a plan can
be computed and tested anywhere, in microseconds.
"""
