"""The private history of sessions: an SQLite file on the device (0600), and its reports."""
