"""Where time passes: the clock, the runner that plays a plan on it, the controller that
turns button edges into start, next and stop, and the appliance that wires them to the
light, the sound, the motor and the history.
May import the rooms below it (core, files, history, words, pictures) and audio/ and
hardware/, which it runs; never device.commands or device.cli.
"""
