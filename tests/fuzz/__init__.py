"""The fuzzers: the config and the script read from random input, through the file readers
and the CLI (minutes, not seconds)."""
