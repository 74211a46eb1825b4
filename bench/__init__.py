"""Benchmarks: Ebbtide's timing, smoothness and cost, side by side with what people use instead.

`python -m bench` for the full run (a real 10-minute session), `python -m bench --quick` for
a run of about a minute that measures 60 s of session and scales it. `--json FILE` writes
every figure. Nothing here is a pass/fail test: it prints figures and says which targets
were met.
"""
