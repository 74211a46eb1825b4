"""Ebbtide's hardware: the pin factory, the light (CIE L* curve, PWM backends), the button,
the motor, and the breath sensor on I2C (the bus, its chips, the thread that reads them).
The only package that imports gpiozero or smbus2. From device/ it may import only
device.core.
"""
