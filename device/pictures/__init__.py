"""Everything drawn: the session picture, the history picture and the bedside card.
matplotlib is loaded behind one door (picture.py), only when a picture is drawn.
May import device.core, device.files, device.history and device.words; never audio/ or
hardware/.
"""
