"""One module per `ebbtide` command (run, demo, render, check, script check, record,
history, card, off); device/cli.py parses the command line and dispatches here.
"""
