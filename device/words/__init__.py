"""The words: the script Ebbtide speaks (English and German TOML files) and what the
bedside card prints (helplines.toml and the card's content). Package data, read with
importlib.resources. May import the standard library and device.core.
"""
