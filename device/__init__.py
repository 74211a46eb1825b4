"""Ebbtide's application: what a session is, how it runs, and the commands around it.

Rooms, from the inside out (each may import only the rooms above it, and audio/ and
hardware/ only where it says so; checked by the import contract in pyproject.toml):

- core/: pure data and functions: the config model and its safety bounds, breathing
  patterns, the script, the session plan, the tide's score, events. No I/O, no clock, no
  audio/ or hardware/.
- words/: the words Ebbtide speaks (script.toml, script-de.toml) and prints (the card's
  helplines).
- files/: reading and writing Ebbtide's own files safely.
- history/: the private history of sessions (SQLite) and its reports.
- service/: where time passes: the clock, the runner that plays a plan, the controller that
  turns button edges into start/next/stop, and the appliance that wires them to the light,
  the sound and the history.
- pictures/: everything drawn with matplotlib (the session, the history, the card).
- commands/: one module per `ebbtide` command; cli.py is the parser that dispatches to them.
"""
