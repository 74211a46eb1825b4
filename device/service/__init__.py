"""Where time passes: the clock, the runner that plays a plan on it, the controller that
turns button edges into start, next and stop, and the appliance that wires them to the
light, the sound, the motor and the history. The only room that imports audio/ and
hardware/ to run them.
"""
