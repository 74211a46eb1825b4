"""Ebbtide's pins: the pin factory, the light (CIE L* curve, PWM backends), the button and
the motor. The only package that imports gpiozero. From device/ it may import only
device.core.
"""
