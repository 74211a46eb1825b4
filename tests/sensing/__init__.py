"""Tests of device/sensing/."""
