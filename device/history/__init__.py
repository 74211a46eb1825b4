"""The private history of sessions: an SQLite file on the device (0600) (store.py), counted
by week (weeks.py), and read out as text (report.py).
May import the standard library and device.core.
"""
