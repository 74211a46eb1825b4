"""One module per `ebbtide` command (run, demo, render, check, script check, record,
history, card, off), and the few small pieces they share (exit_codes, keyboard, progress,
config_and_script); device/cli.py parses the command line and dispatches here.
May import every room of device/, audio/ and hardware/.
"""
